#include "serve/write_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "host/files.h"

namespace foldback::serve {
namespace {

using json = nlohmann::json;

std::string LogPath(const std::string& dir) { return dir + "/serve-writes.log"; }
std::string SavedPath(const std::string& dir) { return dir + "/serve-writes.saved"; }

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

json DocJson(const Document& d) {
  return {{"id", d.id},   {"title", d.title},   {"text", d.text},          {"kind", static_cast<int>(d.kind)},
          {"metadata", d.metadata}, {"matter", d.matter}, {"parent_id", d.parent_id}};
}

Document DocFromJson(const json& j) {
  Document d;
  d.id = j.at("id").get<std::string>();
  d.title = j.at("title").get<std::string>();
  d.text = j.at("text").get<std::string>();
  d.kind = static_cast<DocKind>(j.at("kind").get<int>());
  d.metadata = j.at("metadata").get<Metadata>();
  d.matter = j.at("matter").get<std::string>();
  d.parent_id = j.at("parent_id").get<std::string>();
  return d;
}

std::string OpLine(const WriteOp& op) {
  json add = json::array();
  for (const Document& d : op.add) add.push_back(DocJson(d));
  json j = {{"seq", op.seq}, {"remove", op.remove}, {"add", add}};
  // Invalid UTF-8 was already replaced by the index's rules on Add; the log
  // keeps the bytes it can (replace) so a line always parses back.
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

WriteOp OpFromJson(const json& j) {
  WriteOp op;
  op.seq = j.at("seq").get<uint64_t>();
  op.remove = j.at("remove").get<std::vector<std::string>>();
  for (const json& d : j.at("add")) op.add.push_back(DocFromJson(d));
  return op;
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

void ApplyWriteOp(Index* index, const WriteOp& op, std::vector<std::string>* added,
                  std::vector<std::string>* problems) {
  for (const std::string& id : op.remove) {
    Status s = index->Remove(id);
    if (!s.ok() && !s.IsNotFound() && problems) problems->push_back("cannot remove " + id + ": " + s.ToString());
  }
  for (const Document& d : op.add) {
    auto r = index->Add(d);
    if (!r.ok()) {
      if (problems) problems->push_back("(" + d.id + "): " + r.status().ToString());
      continue;
    }
    if (added) added->push_back(d.id);
  }
}

WriteLog::~WriteLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<WriteLog>> WriteLog::Open(const std::string& dir) {
  std::unique_ptr<WriteLog> log(new WriteLog());
  log->dir_ = dir;
  log->path_ = LogPath(dir);
  if (host::PathExists(SavedPath(dir))) {
    auto saved = host::ReadFile(SavedPath(dir));
    if (!saved.ok()) return saved.status();
    try {
      log->saved_seq_ = std::stoull(*saved);
    } catch (const std::exception&) {
      return Status::Corruption(SavedPath(dir) + " does not hold a sequence number");
    }
  }
  log->last_seq_ = log->saved_seq_;
  std::string bytes;
  if (host::PathExists(log->path_)) {
    auto read = host::ReadFile(log->path_);
    if (!read.ok()) return read.status();
    bytes = std::move(*read);
  }
  size_t pos = 0, good_end = 0;
  size_t line_no = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    ++line_no;
    bool last = nl == std::string::npos || nl + 1 == bytes.size();
    std::string_view line(bytes.data() + pos, (nl == std::string::npos ? bytes.size() : nl) - pos);
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    WriteOp op;
    bool ok = !j.is_discarded() && j.is_object() && nl != std::string::npos;
    if (ok) {
      try {
        op = OpFromJson(j);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      // A torn last line is a write that was never acknowledged (the fsync
      // comes before the answer): dropped. Anything else is damage.
      if (last) break;
      return Status::Corruption(fmt::format(FMT_STRING("{}: line {} is not a write record"), log->path_, line_no));
    }
    if (op.seq > log->saved_seq_) log->pending_.push_back(std::move(op));
    log->last_seq_ = std::max(log->last_seq_, j.at("seq").get<uint64_t>());
    pos = nl + 1;
    good_end = pos;
  }
  log->fd_ = ::open(log->path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log->fd_ < 0) return Errno("cannot open", log->path_);
  // Cut a torn tail so the next record starts on a line of its own.
  if (::ftruncate(log->fd_, static_cast<off_t>(good_end)) != 0) return Errno("cannot truncate", log->path_);
  return log;
}

Status WriteLog::Append(WriteOp* op) {
  op->seq = last_seq_ + 1;
  std::string line = OpLine(*op);
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Errno("cannot stat", path_);
  Status s = WriteAll(fd_, line, path_);
  if (s.ok() && ::fdatasync(fd_) != 0) s = Errno("cannot fsync", path_);
  if (!s.ok()) {
    // Not acknowledged: leave no partial record behind.
    if (::ftruncate(fd_, st.st_size) != 0) return s.WithContext("and the partial record stays");
    return s;
  }
  last_seq_ = op->seq;
  return Status::OK();
}

Status WriteLog::Saved(uint64_t seq) {
  FB_RETURN_IF_ERROR(host::WriteFileAtomic(SavedPath(dir_), fmt::to_string(seq) + "\n"));
  saved_seq_ = seq;
  // Keep the records the snapshot does not hold (writes since it was taken).
  auto bytes = host::ReadFile(path_);
  if (!bytes.ok()) return bytes.status();
  std::string keep;
  size_t pos = 0;
  while (pos < bytes->size()) {
    size_t nl = bytes->find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(bytes->data() + pos, nl - pos);
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("seq", uint64_t{0}) > seq) {
      keep.append(line);
      keep.push_back('\n');
    }
    pos = nl + 1;
  }
  FB_RETURN_IF_ERROR(host::WriteFileAtomic(path_, keep));
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path_);
  ::close(fd_);
  fd_ = fd;
  return Status::OK();
}

}  // namespace foldback::serve
