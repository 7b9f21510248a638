// The C ABI: error mapping, shared helpers, fb_version and fb_strerror.
#include "c_api.h"

#include <fmt/format.h>

namespace foldback::capi {

using foldback::AskOptions;
using foldback::AskSession;
using foldback::Need;
using foldback::NeedResult;
using foldback::TraceEvent;

int CodeOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return FB_OK;
    case Status::Code::kInvalidArgument:
      return FB_EINVALID;
    case Status::Code::kNotFound:
      return FB_ENOTFOUND;
    case Status::Code::kCorruption:
      return FB_ECORRUPT;
    case Status::Code::kNotSupported:
      return FB_EUNSUPPORTED;
    case Status::Code::kIOError:
      return FB_EIO;
    case Status::Code::kOutOfRange:
      return FB_ERANGE;
    case Status::Code::kDeadlineExceeded:
      return FB_EDEADLINE;
    case Status::Code::kUnavailable:
      return FB_EUNAVAILABLE;
    case Status::Code::kPermissionDenied:
      return FB_EDENIED;
    case Status::Code::kFailedPrecondition:
      return FB_ESTATE;
    case Status::Code::kInternal:
      return FB_EINTERNAL;
  }
  return FB_EINTERNAL;
}

// The Status a host's code stands for; false for a code not in the table.
bool StatusOf(int code, const std::string& msg, Status* out) {
  if (code == FB_ENOMEM) {
    *out = Status::Internal("host out of memory: " + msg);
    return true;
  }
  // FB_E* is -Status::Code (foldback.h), FB_OK is kOk.
  if (code > 0 || -code > static_cast<int>(Status::kLastCode)) return false;
  *out = Status::FromCode(static_cast<Status::Code>(-code), msg);
  return true;
}

int Fail(const ErrorSlot* e, int code, const std::string& msg) {
  if (e) {
    std::lock_guard<std::mutex> lock(e->mu);
    e->message = msg;
  }
  return code;
}

int Report(const ErrorSlot* e, const Status& s) {
  return s.ok() ? FB_OK : Fail(e, CodeOf(s), s.ToString());
}

const char* LastError(const ErrorSlot* e) {
  if (!e) return "";
  std::lock_guard<std::mutex> lock(e->mu);
  return e->message.c_str();
}

// A malloc'ed copy the caller frees with fb_string_free; NULL when out of memory.
char* Dup(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

// Copies a C array of strings; false (and a message) when it holds a NULL.
bool Strings(const char* const* items, size_t count, const char* what,
             std::vector<std::string>* out, std::string* error) {
  for (size_t i = 0; i < count; ++i) {
    if (!items || !items[i]) {
      *error = fmt::format(FMT_STRING("{} [{}] is NULL"), std::string(what), i);
      return false;
    }
    out->push_back(items[i]);
  }
  return true;
}

// The index may not change while sessions read it; a change invalidates
// what was folded back.
int BeginChange(fb_index* h) {
  int live = h->state->sessions.load();
  if (live > 0) {
    return Fail(&h->err, FB_ESTATE,
                fmt::format(FMT_STRING("{} ask session(s) are using this index: free them "
                                       "(fb_ask_free) before changing it"),
                            live));
  }
  ++h->state->generation;
  return FB_OK;
}

// Search options from the C fields shared by fb_search_params and fb_ask_params.
Status SearchOptionsOf(int mode, const char* const* filters, size_t filter_count,
                       int restrict_matters, const char* const* matters, size_t matter_count,
                       int syntax, foldback::SearchOptions* o) {
  if (mode < FB_MODE_BM25 || mode > FB_MODE_HYBRID) {
    return Status::InvalidArgument(fmt::format(FMT_STRING("unknown search mode {}"), mode));
  }
  o->mode = static_cast<foldback::SearchMode>(mode);
  if (syntax < FB_SYNTAX_AUTO || syntax > FB_SYNTAX_CONNECTORS) {
    return Status::InvalidArgument(fmt::format(FMT_STRING("unknown query syntax {}"), syntax));
  }
  o->syntax = static_cast<foldback::QuerySyntax>(syntax);
  for (size_t i = 0; i < filter_count; ++i) {
    if (!filters || !filters[i]) return Status::InvalidArgument("filter is NULL");
    auto f = foldback::Filter::Parse(filters[i]);
    if (!f.ok()) return f.status();
    o->filters.push_back(*f);
  }
  if (restrict_matters) {
    o->allowed_matters.emplace();
    for (size_t i = 0; i < matter_count; ++i) {
      if (!matters || !matters[i]) return Status::InvalidArgument("matter is NULL");
      o->allowed_matters->insert(matters[i]);
    }
  }
  return Status::OK();
}

// What the index folder's feedback log teaches a user behind `walls`.
foldback::Result<std::shared_ptr<const foldback::FoldBack>> FoldBackFor(
    IndexState& st, const std::optional<std::set<std::string>>& walls) {
  std::string dir = st.Dir();
  if (dir.empty()) {
    return Status::FailedPrecondition(
        "use_feedback: the index has no folder (open it with fb_index_open or save it with "
        "fb_index_save first)");
  }
  return foldback::host::FoldBackOfDir(&st.fb_cache, *st.index, st.generation.load(), dir, walls);
}

std::shared_ptr<IndexState> NewState(std::unique_ptr<foldback::Index> index,
                                     const std::string& dir) {
  auto state = std::make_shared<IndexState>();
  state->index = std::move(index);
  state->SetDir(dir);
  return state;
}

fb_index* NewHandle(std::unique_ptr<foldback::Index> index, const std::string& dir) {
  auto* h = new fb_index;
  h->state = NewState(std::move(index), dir);
  return h;
}

// Feedback log folders open in this process: a second FeedbackLogFile on
// the same folder would wait for the first one's lock forever.
std::mutex& OpenLogsMutex() {
  static std::mutex mu;
  return mu;
}
std::set<std::string>& OpenLogs() {
  static std::set<std::string>* logs = new std::set<std::string>();
  return *logs;
}

std::string CanonicalDir(const std::string& dir) {
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(dir, ec), ec);
  return ec ? dir : p.string();
}

}  // namespace foldback::capi

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

extern "C" {

const char* fb_version(void) { return foldback::Version(); }

const char* fb_strerror(int code) {
  switch (code) {
    case FB_OK:
      return "success";
    case FB_EINVALID:
      return "invalid argument";
    case FB_ENOTFOUND:
      return "not found";
    case FB_ECORRUPT:
      return "corrupt data";
    case FB_EUNSUPPORTED:
      return "not supported";
    case FB_EIO:
      return "I/O error";
    case FB_ERANGE:
      return "limit exceeded";
    case FB_EDEADLINE:
      return "deadline exceeded";
    case FB_EUNAVAILABLE:
      return "unavailable";
    case FB_EDENIED:
      return "permission denied";
    case FB_ESTATE:
      return "wrong state";
    case FB_EINTERNAL:
      return "internal error";
    case FB_ENOMEM:
      return "out of memory";
  }
  return "unknown error code";
}

void fb_string_free(char* s) { std::free(s); }

}  // extern "C"
