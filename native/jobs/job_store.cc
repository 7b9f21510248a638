// Opening a store by URL, and what every store checks the same way.
#include "jobs/job_store.h"

#include <set>

namespace foldback::jobs {

Status ValidateNewJob(const NewJob& job) {
  Status v = ValidateLeasePolicy(job.lease);
  if (!v.ok()) return v;
  if (job.kind.empty()) return Status::InvalidArgument("a job needs a kind");
  std::set<std::string> seen;
  for (const NewItem& it : job.items) {
    if (it.item_id.empty()) return Status::InvalidArgument("an item has an empty id");
    if (!seen.insert(it.item_id).second) {
      return Status::InvalidArgument("item id '" + it.item_id + "' appears twice");
    }
  }
  return Status::OK();
}

std::string RedactStoreUrl(const std::string& url) {
  std::string out = url;
  // userinfo: scheme://user:password@host
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // ?password=... or &password=...
  for (size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    bool param = pos > 0 && (out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ');
    pos += 9;
    if (!param) continue;
    size_t end = out.find_first_of("& ", pos);
    if (end == std::string::npos) end = out.size();
    out.replace(pos, end - pos, "***");
  }
  return out;
}

Result<std::unique_ptr<JobStore>> OpenJobStore(const std::string& url) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    return OpenPostgresStore(url);
  }
  std::string path = url;
  if (url.rfind("sqlite:", 0) == 0) {
    path = url.substr(7);
  } else if (url.find("://") != std::string::npos) {
    return Status::InvalidArgument("--store: '" + url.substr(0, url.find("://")) +
                                   "' stores are not supported (use sqlite:PATH or "
                                   "postgresql://USER@HOST/DB)");
  }
  bool full = true;
  size_t q = path.rfind("?synchronous=");
  if (q != std::string::npos) {
    std::string mode = path.substr(q + 13);
    path = path.substr(0, q);
    if (mode == "normal") {
      full = false;
    } else if (mode != "full") {
      return Status::InvalidArgument("--store: synchronous must be full or normal, not '" + mode +
                                     "'");
    }
  }
  if (path.empty()) return Status::InvalidArgument("--store: empty path (use sqlite:PATH)");
  return OpenSqliteStore(path, full);
}

std::string DefaultStoreUrl(const std::string& index_dir) {
  return "sqlite:" + index_dir + "/jobs.sqlite";
}

}  // namespace foldback::jobs
