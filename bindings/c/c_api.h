// Internals of the C ABI shared by its source files: the handle structs
// behind foldback.h's opaque types, error mapping and the helpers every
// section uses. Not installed; nothing here is part of the ABI.
#ifndef FOLDBACK_BINDINGS_C_C_API_H_
#define FOLDBACK_BINDINGS_C_C_API_H_

#include "foldback.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/program.h"
#include "foldback/redact.h"
#include "foldback/version.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/ingest_path.h"
#include "host/traces.h"
#include "llm/endpoint.h"
#include "llm/llm_client.h"

namespace foldback::capi {

// The last failure of a handle's calls.
struct ErrorSlot {
  mutable std::mutex mu;
  mutable std::string message;
};

// What an fb_index handle, its ask sessions and feedback logs share: the
// index lives as long as any of them.
struct IndexState {
  std::unique_ptr<foldback::Index> index;
  std::atomic<int> sessions{0};
  std::atomic<uint64_t> generation{0};  // bumped by every change

  std::string Dir() const {
    std::lock_guard<std::mutex> lock(dir_mu);
    return dir;
  }
  void SetDir(const std::string& d) {
    std::lock_guard<std::mutex> lock(dir_mu);
    dir = d;
  }

  // Feedback folded back, per (walls, index generation, log file version).
  foldback::FoldBackCache fb_cache;

 private:
  mutable std::mutex dir_mu;
  std::string dir;
};

}  // namespace foldback::capi

struct fb_index {
  foldback::capi::ErrorSlot err;
  std::shared_ptr<foldback::capi::IndexState> state;
};

struct fb_results {
  std::vector<foldback::SearchHit> hits;
  std::vector<fb_hit> view;
};

struct fb_needs {
  std::vector<foldback::Need> needs;
  std::vector<std::vector<fb_chat_message>> messages;
  std::vector<std::vector<const char*>> texts;
  std::vector<fb_need> view;
};

struct fb_events {
  std::vector<foldback::TraceEvent> events;
  std::vector<std::vector<fb_trace_hit>> hits;
  std::vector<fb_event> view;
};

struct fb_ask {
  foldback::capi::ErrorSlot err;
  // Declared before the session, destroyed after it: it refers to them.
  std::shared_ptr<foldback::capi::IndexState> state;
  std::shared_ptr<const foldback::FoldBack> foldback;
  std::unique_ptr<foldback::LoadedProgram> program;
  std::unique_ptr<foldback::AskSession> session;
  std::string trace_id;
  // Needs handed to the host and not answered yet.
  std::map<uint64_t, foldback::Need> pending;
  // Needs the host reports attempt by attempt (fb_ask_http_attempt).
  struct HttpAttempts {
    uint32_t attempts = 0;
    double deadline_ms = 0;
    double budget_ms = 0;
    uint64_t seed = 0;  // of the retry jitter (wire::Jitter)
  };
  std::map<uint64_t, HttpAttempts> http_attempts;
  // Result views, built once done.
  bool views = false;
  std::vector<fb_hit> passages;
  std::vector<fb_citation> citations;
  std::vector<fb_hop> hops;
  std::string trace_json;

  ~fb_ask() {
    session.reset();
    if (state) --state->sessions;
  }
};

struct fb_feedback_log {
  foldback::capi::ErrorSlot err;
  std::string dir;
  std::string key;  // in OpenLogs()
  std::shared_ptr<foldback::capi::IndexState> state;
  std::unique_ptr<foldback::host::FeedbackLogFile> file;
  ~fb_feedback_log();
};

namespace foldback::capi {

using foldback::Status;

// The FB_* code of a Status, and the Status a host's code stands for (false
// for a code not in foldback.h's table).
int CodeOf(const Status& s);
bool StatusOf(int code, const std::string& msg, Status* out);

// Records `msg` as the handle's last error; returns `code`.
int Fail(const ErrorSlot* e, int code, const std::string& msg);
int Report(const ErrorSlot* e, const Status& s);
const char* LastError(const ErrorSlot* e);

// Runs `fn`, turning any escaping C++ exception into a return code.
template <typename Fn>
int Guard(const ErrorSlot* e, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Fail(e, FB_ENOMEM, "out of memory");
  } catch (const std::exception& ex) {
    return Fail(e, FB_EINTERNAL, std::string("internal error: ") + ex.what());
  } catch (...) {
    return Fail(e, FB_EINTERNAL, "internal error: unknown exception");
  }
}

inline const char* Str(const char* s) { return s ? s : ""; }

// The int a C enum field holds. A C host may store any int there; loading it
// as the C++ enum type would be undefined for values outside the enum.
template <typename E>
int IntOf(const E& e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are ints");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// A malloc'ed copy the caller frees with fb_string_free; NULL when out of memory.
char* Dup(const std::string& s);

// Copies a C array of strings; false (and a message) when it holds a NULL.
bool Strings(const char* const* items, size_t count, const char* what,
             std::vector<std::string>* out, std::string* error);

// The index may not change while sessions read it; a change invalidates
// what was folded back.
int BeginChange(fb_index* h);

// Search options from the C fields shared by fb_search_params and fb_ask_params
// (`syntax`: an fb_query_syntax).
Status SearchOptionsOf(int mode, const char* const* filters, size_t filter_count,
                       int restrict_matters, const char* const* matters, size_t matter_count,
                       int syntax, foldback::SearchOptions* o);

// What the index folder's feedback log teaches a user behind `walls`
// (host::FoldBackOfDir over the state's cache); null when it holds no live
// record.
foldback::Result<std::shared_ptr<const foldback::FoldBack>> FoldBackFor(
    IndexState& st, const std::optional<std::set<std::string>>& walls);

// The state an index, its sessions and its feedback logs share; a handle on it.
std::shared_ptr<IndexState> NewState(std::unique_ptr<foldback::Index> index,
                                     const std::string& dir);
fb_index* NewHandle(std::unique_ptr<foldback::Index> index, const std::string& dir);

// Feedback log folders open in this process: a second FeedbackLogFile on
// the same folder would wait for the first one's lock forever.
std::mutex& OpenLogsMutex();
std::set<std::string>& OpenLogs();

std::string CanonicalDir(const std::string& dir);

}  // namespace foldback::capi

#endif  // FOLDBACK_BINDINGS_C_C_API_H_
