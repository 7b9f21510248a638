// The C ABI over foldback's C++ API and native host. Type conversion, error
// mapping and lifetimes only; no exception leaves any function here.
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

using foldback::Status;

namespace {

// The last failure of a handle's calls.
struct ErrorSlot {
  mutable std::mutex mu;
  mutable std::string message;
};

// Feedback folded back, cached per (walls, index generation, log file).
struct FoldBackEntry {
  std::string walls;
  uint64_t generation = 0;
  std::string log_stamp;
  std::shared_ptr<const foldback::FoldBack> foldback;
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

  std::mutex fb_mu;
  std::vector<FoldBackEntry> fb_cache;

 private:
  mutable std::mutex dir_mu;
  std::string dir;
};

}  // namespace

struct fb_index {
  ErrorSlot err;
  std::shared_ptr<IndexState> state;
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
  ErrorSlot err;
  // Declared before the session, destroyed after it: it refers to them.
  std::shared_ptr<IndexState> state;
  std::shared_ptr<const foldback::FoldBack> foldback;
  std::unique_ptr<foldback::LoadedProgram> program;
  std::unique_ptr<foldback::AskSession> session;
  std::string trace_id;
  // Needs handed to the host and not answered yet.
  std::map<uint64_t, foldback::Need> pending;
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
  ErrorSlot err;
  std::string dir;
  std::string key;  // in OpenLogs()
  std::shared_ptr<IndexState> state;
  std::unique_ptr<foldback::host::FeedbackLogFile> file;
  ~fb_feedback_log();
};

namespace {

using foldback::AskOptions;
using foldback::AskSession;
using foldback::Need;
using foldback::NeedResult;
using foldback::TraceEvent;

int CodeOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return FB_OK;
    case Status::Code::kInvalidArgument: return FB_EINVALID;
    case Status::Code::kNotFound: return FB_ENOTFOUND;
    case Status::Code::kCorruption: return FB_ECORRUPT;
    case Status::Code::kNotSupported: return FB_EUNSUPPORTED;
    case Status::Code::kIOError: return FB_EIO;
    case Status::Code::kOutOfRange: return FB_ERANGE;
    case Status::Code::kDeadlineExceeded: return FB_EDEADLINE;
    case Status::Code::kUnavailable: return FB_EUNAVAILABLE;
    case Status::Code::kPermissionDenied: return FB_EDENIED;
    case Status::Code::kFailedPrecondition: return FB_ESTATE;
    case Status::Code::kInternal: return FB_EINTERNAL;
  }
  return FB_EINTERNAL;
}

// The Status a host's code stands for; false for a code not in the table.
bool StatusOf(int code, const std::string& msg, Status* out) {
  switch (code) {
    case FB_OK: *out = Status::OK(); return true;
    case FB_EINVALID: *out = Status::InvalidArgument(msg); return true;
    case FB_ENOTFOUND: *out = Status::NotFound(msg); return true;
    case FB_ECORRUPT: *out = Status::Corruption(msg); return true;
    case FB_EUNSUPPORTED: *out = Status::NotSupported(msg); return true;
    case FB_EIO: *out = Status::IOError(msg); return true;
    case FB_ERANGE: *out = Status::OutOfRange(msg); return true;
    case FB_EDEADLINE: *out = Status::DeadlineExceeded(msg); return true;
    case FB_EUNAVAILABLE: *out = Status::Unavailable(msg); return true;
    case FB_EDENIED: *out = Status::PermissionDenied(msg); return true;
    case FB_ESTATE: *out = Status::FailedPrecondition(msg); return true;
    case FB_EINTERNAL: *out = Status::Internal(msg); return true;
    case FB_ENOMEM: *out = Status::Internal("host out of memory: " + msg); return true;
  }
  return false;
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

const char* Str(const char* s) { return s ? s : ""; }

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
      *error = std::string(what) + " [" + std::to_string(i) + "] is NULL";
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
                std::to_string(live) +
                    " ask session(s) are using this index: free them (fb_ask_free) before "
                    "changing it");
  }
  ++h->state->generation;
  return FB_OK;
}

// Search options from the C fields shared by fb_search_params and fb_ask_params.
Status SearchOptionsOf(int mode, const char* const* filters, size_t filter_count,
                       int restrict_matters, const char* const* matters, size_t matter_count,
                       foldback::SearchOptions* o) {
  if (mode < FB_MODE_BM25 || mode > FB_MODE_HYBRID) {
    return Status::InvalidArgument("unknown search mode " + std::to_string(mode));
  }
  o->mode = static_cast<foldback::SearchMode>(mode);
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

// Identifies one version of a feedback log file ("" when there is none).
std::string LogStamp(const std::string& dir) {
  struct stat st;
  if (::stat(foldback::host::FeedbackLogPath(dir).c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
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
  std::string key = "-";
  if (walls) {
    key = "+";
    for (const auto& m : *walls) key += m + '\x1f';
  }
  std::lock_guard<std::mutex> lock(st.fb_mu);
  std::string stamp = LogStamp(dir);
  uint64_t generation = st.generation.load();
  for (const FoldBackEntry& e : st.fb_cache) {
    if (e.walls == key && e.generation == generation && e.log_stamp == stamp) return e.foldback;
  }
  auto contents = foldback::host::ReadFeedbackLogFile(dir);
  if (!contents.ok()) return contents.status();
  foldback::FoldBackOptions fo;
  fo.allowed_matters = walls;
  auto built = foldback::FoldBack::Build(*st.index, foldback::ApplyFeedbackLog(*contents).records, fo);
  if (!built.ok()) return built.status();
  std::shared_ptr<const foldback::FoldBack> fb(std::move(built.value()));
  for (auto it = st.fb_cache.begin(); it != st.fb_cache.end();) {
    it = it->walls == key || it->generation != generation ? st.fb_cache.erase(it) : it + 1;
  }
  if (st.fb_cache.size() >= 8) st.fb_cache.erase(st.fb_cache.begin());
  st.fb_cache.push_back({key, generation, stamp, fb});
  return fb;
}

std::shared_ptr<IndexState> NewState(std::unique_ptr<foldback::Index> index, const std::string& dir) {
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

std::vector<fb_trace_hit> TraceHits(const std::vector<foldback::TraceHit>& hits) {
  std::vector<fb_trace_hit> out;
  out.reserve(hits.size());
  for (const auto& h : hits) out.push_back({h.chunk_id.c_str(), h.doc_id.c_str(), h.score});
  return out;
}

fb_event EventView(const TraceEvent& e, const std::vector<fb_trace_hit>& hits) {
  fb_event v;
  v.kind = static_cast<fb_event_kind>(e.kind);
  v.hop = e.hop;
  v.message = e.message.c_str();
  v.hits = hits.empty() ? nullptr : hits.data();
  v.hit_count = hits.size();
  return v;
}

// An endpoint from the C params: the chat one, or the embeddings one.
foldback::Result<foldback::llm::EndpointConfig> EndpointOf(const fb_llm_endpoint_params& p,
                                                           bool embed, bool with_key = true) {
  namespace llm = foldback::llm;
  llm::EndpointConfig c;
  c.url = Str(embed ? p.embed_url : p.url);
  std::string provider = p.provider && *p.provider ? p.provider : "openai";
  if (!llm::ParseProvider(provider, &c.provider)) {
    return Status::InvalidArgument("provider must be openai, azure, ollama, vllm or tei, not \"" +
                                   provider + "\"");
  }
  c.model = Str(embed ? p.embed_model : p.model);
  c.api_version = Str(p.api_version);
  c.structured_output = p.structured_output != 0;
  if (c.provider == llm::Provider::kTei) c.embed_batch = 32;
  if (with_key && p.api_key && *p.api_key) {
    c.key = llm::ApiKey::FromValue(p.api_key, "the host (fb_llm_endpoint_params.api_key)");
  }
  return c;
}

// The steady clock fb_monotonic_ms reads, for RunAsk.
class MonotonicClock final : public foldback::llm::Clock {
 public:
  double NowMs() override { return fb_monotonic_ms(); }
};

void BuildViews(fb_ask* a) {
  if (a->views || !a->session->done()) return;
  const foldback::AskResult& r = a->session->result();
  for (const auto& h : r.passages) {
    a->passages.push_back({h.chunk_id.c_str(), h.doc_id.c_str(), h.text.c_str(), h.title.c_str(),
                           h.section.c_str(), h.matter.c_str(), h.score});
  }
  for (const auto& c : r.citations) {
    a->citations.push_back({c.marker, c.chunk_id.c_str(), c.doc_id.c_str()});
  }
  for (const auto& h : r.trace.hops) {
    a->hops.push_back({h.hop, h.query.c_str(), h.source.c_str(), h.note.c_str(), h.results.size(),
                       h.new_chunks.size()});
  }
  // The trace, with the answer a feedback record keeps.
  using json = nlohmann::ordered_json;
  std::string raw = foldback::TraceToJson(r.trace);
  json j = json::parse(raw, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (!r.answer.empty()) j["answer"] = r.answer;
    a->trace_json = j.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    a->trace_json = raw;
  }
  a->views = true;
}

// The session's result views, built on first use once done (a session is
// used by one thread at a time).
fb_ask* Views(const fb_ask* a) {
  if (!a || !a->session) return nullptr;
  auto* m = const_cast<fb_ask*>(a);
  try {
    BuildViews(m);
  } catch (...) {
    return nullptr;
  }
  return m->views ? m : nullptr;
}

}  // namespace

fb_feedback_log::~fb_feedback_log() {
  file.reset();
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(OpenLogsMutex());
    OpenLogs().erase(key);
  }
}

extern "C" {

const char* fb_version(void) { return foldback::Version(); }

const char* fb_strerror(int code) {
  switch (code) {
    case FB_OK: return "success";
    case FB_EINVALID: return "invalid argument";
    case FB_ENOTFOUND: return "not found";
    case FB_ECORRUPT: return "corrupt data";
    case FB_EUNSUPPORTED: return "not supported";
    case FB_EIO: return "I/O error";
    case FB_ERANGE: return "limit exceeded";
    case FB_EDEADLINE: return "deadline exceeded";
    case FB_EUNAVAILABLE: return "unavailable";
    case FB_EDENIED: return "permission denied";
    case FB_ESTATE: return "wrong state";
    case FB_EINTERNAL: return "internal error";
    case FB_ENOMEM: return "out of memory";
  }
  return "unknown error code";
}

void fb_string_free(char* s) { std::free(s); }

/* ---------------------------------------------------------------- index */

fb_index_params fb_index_default_params(void) {
  foldback::IndexOptions o;
  fb_index_params p;
  p.chunk_target_tokens = o.chunker.target_tokens;
  p.chunk_max_tokens = o.chunker.max_tokens;
  p.bm25_k1 = o.bm25.k1;
  p.bm25_b = o.bm25.b;
  p.embedder = static_cast<fb_embedder_kind>(o.dense.embedder);
  p.dimension = o.dense.dimension;
  return p;
}

fb_index* fb_index_init(const fb_index_params* params, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    foldback::IndexOptions o;
    if (params) {
      o.chunker.target_tokens = params->chunk_target_tokens;
      o.chunker.max_tokens = params->chunk_max_tokens;
      o.bm25.k1 = params->bm25_k1;
      o.bm25.b = params->bm25_b;
      int embedder = IntOf(params->embedder);
      if (embedder < FB_EMBEDDER_NONE || embedder > FB_EMBEDDER_EXTERNAL) code = FB_EINVALID;
      o.dense.embedder = static_cast<foldback::EmbedderKind>(embedder);
      o.dense.dimension = params->dimension;
    }
    if (code == FB_OK) {
      auto created = foldback::Index::Create(o);
      if (!created.ok()) {
        code = CodeOf(created.status());
      } else {
        out = NewHandle(std::move(created.value()), "");
      }
    }
  } catch (const std::bad_alloc&) {
    code = FB_ENOMEM;
  } catch (...) {
    code = FB_EINTERNAL;
  }
  if (error_out) *error_out = code;
  return out;
}

fb_index* fb_index_load(const void* bytes, size_t size, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    if (!bytes && size) {
      code = FB_EINVALID;
    } else {
      auto loaded = foldback::Index::FromSnapshot(
          std::string_view(static_cast<const char*>(bytes), size));
      if (!loaded.ok()) {
        code = CodeOf(loaded.status());
      } else {
        out = NewHandle(std::move(loaded.value()), "");
      }
    }
  } catch (const std::bad_alloc&) {
    code = FB_ENOMEM;
  } catch (...) {
    code = FB_EINTERNAL;
  }
  if (error_out) *error_out = code;
  return out;
}

fb_index* fb_index_open(const char* dir, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    if (!dir || !*dir) {
      code = FB_EINVALID;
    } else {
      auto opened = foldback::host::OpenIndex(dir, /*create=*/false);
      if (!opened.ok()) {
        code = CodeOf(opened.status());
      } else {
        out = NewHandle(std::move(opened.value()), dir);
      }
    }
  } catch (const std::bad_alloc&) {
    code = FB_ENOMEM;
  } catch (...) {
    code = FB_EINTERNAL;
  }
  if (error_out) *error_out = code;
  return out;
}

int fb_index_save(fb_index* h, const char* dir) {
  if (!h) return FB_EINVALID;
  if (!dir || !*dir) return Fail(&h->err, FB_EINVALID, "dir is NULL or empty");
  return Guard(&h->err, [&]() -> int {
    Status s = foldback::host::SaveIndex(dir, *h->state->index);
    if (!s.ok()) return Report(&h->err, s);
    h->state->SetDir(dir);
    return FB_OK;
  });
}

void fb_index_free(fb_index* index) { delete index; }

const char* fb_index_last_error(const fb_index* index) {
  return index ? LastError(&index->err) : "";
}

int fb_index_add(fb_index* h, const fb_document* doc, uint32_t* chunks_out) {
  if (!h) return FB_EINVALID;
  if (!doc || !doc->id) return Fail(&h->err, FB_EINVALID, "document or document id is NULL");
  return Guard(&h->err, [&]() -> int {
    foldback::Document d;
    d.id = doc->id;
    d.title = Str(doc->title);
    if (doc->text) d.text.assign(doc->text, doc->text_len ? doc->text_len : std::strlen(doc->text));
    int kind = IntOf(doc->kind);
    if (kind < FB_KIND_DOCUMENT || kind > FB_KIND_WEB) {
      return Fail(&h->err, FB_EINVALID, "unknown document kind " + std::to_string(kind));
    }
    d.kind = static_cast<foldback::DocKind>(kind);
    d.matter = Str(doc->matter);
    d.parent_id = Str(doc->parent_id);
    for (size_t i = 0; i < doc->meta_count; ++i) {
      if (!doc->meta_keys || !doc->meta_values || !doc->meta_keys[i] || !doc->meta_values[i]) {
        return Fail(&h->err, FB_EINVALID, "metadata key or value is NULL");
      }
      d.metadata[doc->meta_keys[i]].push_back(doc->meta_values[i]);
    }
    if (int c = BeginChange(h)) return c;
    auto r = h->state->index->Add(d);
    if (!r.ok()) return Report(&h->err, r.status());
    if (chunks_out) *chunks_out = r->chunks;
    return FB_OK;
  });
}

int fb_index_remove(fb_index* h, const char* doc_id) {
  if (!h) return FB_EINVALID;
  if (!doc_id) return Fail(&h->err, FB_EINVALID, "doc_id is NULL");
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->Remove(doc_id));
  });
}

int fb_index_build_dense(fb_index* h) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->BuildDense());
  });
}

int fb_index_ingest_path(fb_index* h, const char* path, const char* matter, fb_ingest_cb progress,
                         void* user_data, fb_ingest_report* report_out) {
  if (!h) return FB_EINVALID;
  if (!path || !*path) return Fail(&h->err, FB_EINVALID, "path is NULL or empty");
  if (report_out) std::memset(report_out, 0, sizeof *report_out);
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    foldback::host::IngestPathOptions o;
    o.matter = Str(matter);
    auto on_file = [&](const foldback::host::IngestFileOutcome& f) {
      if (!progress) return;
      std::vector<const char*> warnings;
      for (const auto& w : f.warnings) warnings.push_back(w.c_str());
      std::string message = f.status.ok() ? std::string() : f.status.ToString();
      fb_ingest_file v;
      v.path = f.path.c_str();
      v.doc_id = f.doc_id.c_str();
      v.format = f.format.c_str();
      v.outcome = static_cast<fb_file_outcome>(f.kind);
      v.status = CodeOf(f.status);
      v.message = message.c_str();
      v.warnings = warnings.empty() ? nullptr : warnings.data();
      v.warning_count = warnings.size();
      v.documents = f.documents;
      v.chunks = f.chunks;
      v.bytes = f.bytes;
      v.files_done = f.files_done;
      v.files_total = f.files_total;
      v.bytes_done = f.bytes_done;
      v.bytes_total = f.bytes_total;
      progress(&v, user_data);
    };
    foldback::host::IngestPathReport rep;
    Status s = foldback::host::IngestPath(h->state->index.get(), path, o, on_file, &rep);
    if (!s.ok()) return Report(&h->err, s);
    if (report_out) {
      report_out->files = rep.files;
      report_out->indexed = rep.indexed;
      report_out->failed = rep.failed;
      report_out->unsupported = rep.unsupported;
      report_out->documents = rep.documents;
      report_out->chunks = rep.chunks;
      report_out->bytes = rep.bytes;
      report_out->warnings = rep.warnings;
      report_out->replaced = rep.replaced;
    }
    return FB_OK;
  });
}

fb_search_params fb_search_default_params(void) {
  foldback::SearchOptions o;
  fb_search_params p;
  p.mode = static_cast<fb_search_mode>(o.mode);
  p.top_k = static_cast<uint32_t>(o.top_k);
  p.filters = nullptr;
  p.filter_count = 0;
  p.restrict_matters = 0;
  p.allowed_matters = nullptr;
  p.allowed_matter_count = 0;
  p.use_feedback = 0;
  return p;
}

int fb_index_search(const fb_index* h, const char* query, const fb_search_params* params,
                    fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!query || !results_out) return Fail(&h->err, FB_EINVALID, "query or results_out is NULL");
  *results_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    foldback::SearchOptions o;
    fb_search_params p = params ? *params : fb_search_default_params();
    Status s = SearchOptionsOf(IntOf(p.mode), p.filters, p.filter_count, p.restrict_matters,
                               p.allowed_matters, p.allowed_matter_count, &o);
    if (!s.ok()) return Report(&h->err, s);
    o.top_k = p.top_k;
    foldback::Result<std::vector<foldback::SearchHit>> r = std::vector<foldback::SearchHit>();
    if (p.use_feedback) {
      auto fb = FoldBackFor(*h->state, o.allowed_matters);
      if (!fb.ok()) return Report(&h->err, fb.status());
      r = (*fb)->Search(*h->state->index, query, o);
    } else {
      r = h->state->index->Search(query, o);
    }
    if (!r.ok()) return Report(&h->err, r.status());
    auto results = std::make_unique<fb_results>();
    results->hits = std::move(r.value());
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(),
                               hit.score});
    }
    *results_out = results.release();
    return FB_OK;
  });
}

size_t fb_results_count(const fb_results* r) { return r ? r->view.size() : 0; }

const fb_hit* fb_results_get(const fb_results* r, size_t i) {
  return r && i < r->view.size() ? &r->view[i] : nullptr;
}

void fb_results_free(fb_results* r) { delete r; }

int fb_index_snapshot(const fb_index* h, char** bytes_out, size_t* size_out) {
  if (!h) return FB_EINVALID;
  if (!bytes_out || !size_out) return Fail(&h->err, FB_EINVALID, "bytes_out or size_out is NULL");
  return Guard(&h->err, [&]() -> int {
    auto r = h->state->index->Snapshot();
    if (!r.ok()) return Report(&h->err, r.status());
    char* buf = static_cast<char*>(std::malloc(r->size() ? r->size() : 1));
    if (!buf) return Fail(&h->err, FB_ENOMEM, "out of memory");
    std::memcpy(buf, r->data(), r->size());
    *bytes_out = buf;
    *size_out = r->size();
    return FB_OK;
  });
}

uint64_t fb_index_document_count(const fb_index* h) {
  return h ? h->state->index->Stats().documents : 0;
}
uint64_t fb_index_chunk_count(const fb_index* h) { return h ? h->state->index->Stats().chunks : 0; }

int fb_index_chunks_missing_vectors(const fb_index* h, size_t limit, fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!results_out) return Fail(&h->err, FB_EINVALID, "results_out is NULL");
  *results_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    const foldback::Index& index = *h->state->index;
    auto results = std::make_unique<fb_results>();
    for (const std::string& id : index.ChunksMissingVectors(limit)) {
      const foldback::Chunk* c = index.FindChunk(id);
      if (!c) continue;
      foldback::SearchHit hit;
      hit.chunk_id = c->id;
      hit.doc_id = c->doc_id;
      hit.text = c->text;
      hit.section = c->section;
      if (const foldback::Document* d = index.FindDocument(c->doc_id)) {
        hit.title = d->title;
        hit.matter = d->matter;
      }
      results->hits.push_back(std::move(hit));
    }
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(), 0});
    }
    *results_out = results.release();
    return FB_OK;
  });
}

int fb_index_set_chunk_vector(fb_index* h, const char* chunk_id, const float* vector,
                              size_t dimension) {
  if (!h) return FB_EINVALID;
  if (!chunk_id || !vector) return Fail(&h->err, FB_EINVALID, "chunk_id or vector is NULL");
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->SetChunkVector(
                               chunk_id, std::vector<float>(vector, vector + dimension)));
  });
}

/* ---------------------------------------------------------------- ask */

fb_ask_params fb_ask_default_params(void) {
  AskOptions o;
  fb_ask_params p;
  p.hops = o.hops;
  p.depth = o.depth;
  p.top_k = o.top_k;
  p.answer = o.answer ? 1 : 0;
  p.rewrite = static_cast<fb_rewrite_mode>(o.rewrite);
  p.variants = o.variants;
  p.context_token_budget = o.context_token_budget;
  p.deadline_ms = o.deadline_ms;
  p.retry_budget = o.retry_budget;
  p.mode = static_cast<fb_search_mode>(o.search.mode);
  p.filters = nullptr;
  p.filter_count = 0;
  p.restrict_matters = 0;
  p.allowed_matters = nullptr;
  p.allowed_matter_count = 0;
  p.use_feedback = 0;
  p.trace_id = nullptr;
  p.program_json = nullptr;
  p.redact_patterns = nullptr;
  p.redact_pattern_count = 0;
  return p;
}

int fb_ask_start(const fb_index* h, const char* question, const fb_ask_params* params,
                 double now_ms, fb_ask** session_out) {
  if (!h) return FB_EINVALID;
  if (!question || !session_out) {
    return Fail(&h->err, FB_EINVALID, "question or session_out is NULL");
  }
  *session_out = nullptr;
  if (!std::isfinite(now_ms)) return Fail(&h->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&h->err, [&]() -> int {
    fb_ask_params p = params ? *params : fb_ask_default_params();
    AskOptions o;
    o.hops = p.hops;
    o.depth = p.depth;
    o.top_k = p.top_k;
    o.answer = p.answer != 0;
    int rewrite = IntOf(p.rewrite);
    if (rewrite < FB_REWRITE_LLM || rewrite > FB_REWRITE_NONE) {
      return Fail(&h->err, FB_EINVALID, "unknown rewrite mode " + std::to_string(rewrite));
    }
    o.rewrite = static_cast<foldback::RewriteMode>(rewrite);
    o.variants = p.variants;
    o.context_token_budget = p.context_token_budget;
    o.deadline_ms = p.deadline_ms;
    o.retry_budget = p.retry_budget;
    Status s = SearchOptionsOf(IntOf(p.mode), p.filters, p.filter_count, p.restrict_matters,
                               p.allowed_matters, p.allowed_matter_count, &o.search);
    if (!s.ok()) return Report(&h->err, s);
    if (p.trace_id) {
      s = foldback::host::ValidateTraceId(p.trace_id);
      if (!s.ok()) return Report(&h->err, s.WithContext("trace_id"));
      o.trace_id = p.trace_id;
    } else {
      o.trace_id = foldback::host::NewUuidV7();
    }
    if (p.redact_pattern_count > 0) {
      if (!p.redact_patterns) return Fail(&h->err, FB_EINVALID, "redact_patterns is NULL");
      std::vector<std::string> patterns;
      for (size_t i = 0; i < p.redact_pattern_count; ++i) {
        if (!p.redact_patterns[i]) return Fail(&h->err, FB_EINVALID, "a redact pattern is NULL");
        patterns.emplace_back(p.redact_patterns[i]);
      }
      auto redactor = foldback::llm::internal::CompileRedactions(patterns);
      if (!redactor.ok()) return Report(&h->err, redactor.status());
      o.redactor = std::move(redactor.value());
    }
    auto a = std::make_unique<fb_ask>();
    if (p.program_json) {
      auto loaded = foldback::LoadDspyProgram(p.program_json);
      if (!loaded.ok()) return Report(&h->err, loaded.status().WithContext("program_json"));
      a->program = std::make_unique<foldback::LoadedProgram>(std::move(*loaded));
    }
    if (p.use_feedback) {
      auto fb = FoldBackFor(*h->state, o.search.allowed_matters);
      if (!fb.ok()) return Report(&h->err, fb.status());
      a->foldback = *fb;
    }
    auto session = AskSession::Start(*h->state->index, question, o, now_ms,
                                     a->program ? &a->program->program : nullptr,
                                     a->foldback.get());
    if (!session.ok()) return Report(&h->err, session.status());
    a->session = std::move(session.value());
    a->trace_id = o.trace_id;
    a->state = h->state;
    ++a->state->sessions;
    *session_out = a.release();
    return FB_OK;
  });
}

void fb_ask_free(fb_ask* session) { delete session; }

const char* fb_ask_last_error(const fb_ask* session) {
  return session ? LastError(&session->err) : "";
}

int fb_ask_take_needs(fb_ask* a, fb_needs** needs_out) {
  if (!a) return FB_EINVALID;
  if (!needs_out) return Fail(&a->err, FB_EINVALID, "needs_out is NULL");
  *needs_out = nullptr;
  return Guard(&a->err, [&]() -> int {
    auto list = std::make_unique<fb_needs>();
    list->needs = a->session->TakeNeeds();
    for (const Need& n : list->needs) a->pending[n.id] = n;
    list->messages.resize(list->needs.size());
    list->texts.resize(list->needs.size());
    for (size_t i = 0; i < list->needs.size(); ++i) {
      const Need& n = list->needs[i];
      for (const auto& m : n.llm.messages) {
        list->messages[i].push_back({m.role.c_str(), m.content.c_str()});
      }
      for (const auto& t : n.embed.texts) list->texts[i].push_back(t.c_str());
      fb_need v;
      v.id = n.id;
      v.kind = static_cast<fb_need_kind>(n.kind);
      v.hop = n.hop;
      v.purpose = n.purpose.c_str();
      v.messages = list->messages[i].empty() ? nullptr : list->messages[i].data();
      v.message_count = list->messages[i].size();
      v.temperature = n.llm.temperature;
      v.max_tokens = n.llm.max_tokens;
      v.json_schema = n.llm.json_schema.c_str();
      v.json_schema_name = n.llm.json_schema_name.c_str();
      v.texts = list->texts[i].empty() ? nullptr : list->texts[i].data();
      v.text_count = list->texts[i].size();
      v.timeout_ms = n.timeout_ms;
      list->view.push_back(v);
    }
    *needs_out = list.release();
    return FB_OK;
  });
}

size_t fb_needs_count(const fb_needs* needs) { return needs ? needs->view.size() : 0; }

const fb_need* fb_needs_get(const fb_needs* needs, size_t i) {
  return needs && i < needs->view.size() ? &needs->view[i] : nullptr;
}

void fb_needs_free(fb_needs* needs) { delete needs; }

fb_need_result fb_need_default_result(void) {
  fb_need_result r;
  std::memset(&r, 0, sizeof r);
  r.status = FB_OK;
  r.attempts = 1;
  return r;
}

namespace {

// Hands a converted result to the session; the need stops being pending
// once the session took it.
int ProvideResult(fb_ask* a, uint64_t need_id, NeedResult result, double now_ms) {
  Status s = a->session->Provide(need_id, std::move(result), now_ms);
  if (!s.ok()) return Report(&a->err, s);
  a->pending.erase(need_id);
  return FB_OK;
}

}  // namespace

int fb_ask_provide(fb_ask* a, uint64_t need_id, const fb_need_result* result, double now_ms) {
  if (!a) return FB_EINVALID;
  if (!result) return Fail(&a->err, FB_EINVALID, "result is NULL");
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) {
      return Fail(&a->err, FB_EINVALID,
                  "need " + std::to_string(need_id) + " is unknown or already answered");
    }
    NeedResult r;
    if (!StatusOf(result->status, Str(result->message), &r.status)) {
      return Fail(&a->err, FB_EINVALID,
                  "result status " + std::to_string(result->status) + " is not an FB_* code");
    }
    if (r.status.ok()) {
      if (it->second.kind == Need::Kind::kLlm) {
        if (result->text) {
          r.text.assign(result->text, result->text_len ? result->text_len : std::strlen(result->text));
        }
      } else if (result->vector_count) {
        if (!result->vectors || !result->dimension) {
          return Fail(&a->err, FB_EINVALID, "vectors is NULL or dimension is 0 with vector_count > 0");
        }
        for (size_t v = 0; v < result->vector_count; ++v) {
          const float* row = result->vectors + v * result->dimension;
          for (size_t k = 0; k < result->dimension; ++k) {
            if (!std::isfinite(row[k])) {
              r.status = Status::IOError("the host's embedding " + std::to_string(v) +
                                         " holds a value that is not a finite number");
              break;
            }
          }
          if (!r.status.ok()) break;
          r.vectors.emplace_back(row, row + result->dimension);
        }
        if (!r.status.ok()) r.vectors.clear();
      }
    }
    r.model = Str(result->model);
    r.elapsed_ms = std::isfinite(result->elapsed_ms) && result->elapsed_ms > 0 ? result->elapsed_ms : 0;
    r.attempts = result->attempts;
    return ProvideResult(a, need_id, std::move(r), now_ms);
  });
}

int fb_ask_tick(fb_ask* a, double now_ms) {
  if (!a) return FB_EINVALID;
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    a->session->Tick(now_ms);
    return FB_OK;
  });
}

int fb_ask_done(const fb_ask* a) { return a && a->session && a->session->done() ? 1 : 0; }

fb_llm_endpoint_params fb_llm_endpoint_default_params(void) {
  foldback::llm::LlmClientOptions o;
  fb_llm_endpoint_params p;
  std::memset(&p, 0, sizeof p);
  p.provider = "openai";
  p.structured_output = 1;
  p.timeout_ms = o.default_timeout_ms;
  p.max_retries = o.retry.max_retries;
  return p;
}

int fb_ask_need_http_request(fb_ask* a, uint64_t need_id, const fb_llm_endpoint_params* endpoint,
                             char** url_out, char** body_out) {
  namespace llm = foldback::llm;
  if (!a) return FB_EINVALID;
  if (!endpoint || !url_out || !body_out) {
    return Fail(&a->err, FB_EINVALID, "endpoint, url_out or body_out is NULL");
  }
  *url_out = nullptr;
  *body_out = nullptr;
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) {
      return Fail(&a->err, FB_EINVALID,
                  "need " + std::to_string(need_id) + " is unknown or already answered");
    }
    const Need& n = it->second;
    bool embed = n.kind == Need::Kind::kEmbed;
    auto config = EndpointOf(*endpoint, embed, /*with_key=*/false);
    if (!config.ok()) return Report(&a->err, config.status());
    auto url = llm::ResolveUrl(*config, embed ? llm::Route::kEmbeddings : llm::Route::kChat);
    if (!url.ok()) return Report(&a->err, url.status());
    std::string body;
    if (embed) {
      body = llm::BuildEmbeddingsBody(*config, n.embed.texts);
    } else {
      auto chat = llm::BuildChatBody(*config, n.llm);
      if (!chat.ok()) return Report(&a->err, chat.status());
      body = std::move(*chat);
    }
    char* u = Dup(*url);
    char* b = Dup(body);
    if (!u || !b) {
      std::free(u);
      std::free(b);
      return Fail(&a->err, FB_ENOMEM, "out of memory");
    }
    *url_out = u;
    *body_out = b;
    return FB_OK;
  });
}

int fb_ask_provide_http_response(fb_ask* a, uint64_t need_id, long http_status, const char* body,
                                 size_t body_len, double elapsed_ms, double now_ms) {
  namespace llm = foldback::llm;
  if (!a) return FB_EINVALID;
  if (!body && body_len) return Fail(&a->err, FB_EINVALID, "body is NULL with body_len > 0");
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) {
      return Fail(&a->err, FB_EINVALID,
                  "need " + std::to_string(need_id) + " is unknown or already answered");
    }
    std::string_view text(body ? body : "", body ? body_len : 0);
    NeedResult r;
    r.elapsed_ms = std::isfinite(elapsed_ms) && elapsed_ms > 0 ? elapsed_ms : 0;
    if (http_status < 200 || http_status > 299) {
      std::string msg = "HTTP " + llm::HttpStatusText(http_status) + ": " + llm::ServerErrorMessage(text);
      if (http_status == 408 || http_status == 429 || http_status >= 500) {
        r.status = Status::Unavailable(msg);
      } else if (http_status == 401 || http_status == 403) {
        r.status = Status::PermissionDenied(msg);
      } else {
        r.status = Status::IOError(msg);
      }
    } else if (it->second.kind == Need::Kind::kEmbed) {
      auto parsed = llm::ParseEmbeddings(text, it->second.embed.texts.size());
      if (parsed.ok()) {
        r.vectors = std::move(parsed->vectors);
        r.model = parsed->model;
      } else {
        r.status = parsed.status();
      }
    } else {
      auto parsed = llm::ParseChatCompletion(text);
      if (parsed.ok()) {
        r.text = std::move(parsed->content);
        r.model = parsed->model;
      } else {
        r.status = parsed.status();
      }
    }
    return ProvideResult(a, need_id, std::move(r), now_ms);
  });
}

int fb_ask_take_events(fb_ask* a, fb_events** events_out) {
  if (!a) return FB_EINVALID;
  if (!events_out) return Fail(&a->err, FB_EINVALID, "events_out is NULL");
  *events_out = nullptr;
  return Guard(&a->err, [&]() -> int {
    auto list = std::make_unique<fb_events>();
    list->events = a->session->TakeEvents();
    for (const TraceEvent& e : list->events) list->hits.push_back(TraceHits(e.hits));
    for (size_t i = 0; i < list->events.size(); ++i) {
      list->view.push_back(EventView(list->events[i], list->hits[i]));
    }
    *events_out = list.release();
    return FB_OK;
  });
}

size_t fb_events_count(const fb_events* events) { return events ? events->view.size() : 0; }

const fb_event* fb_events_get(const fb_events* events, size_t i) {
  return events && i < events->view.size() ? &events->view[i] : nullptr;
}

void fb_events_free(fb_events* events) { delete events; }

double fb_monotonic_ms(void) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int fb_ask_run_http(fb_ask* a, const fb_llm_endpoint_params* endpoint, fb_event_cb on_event,
                    void* user_data) {
  namespace llm = foldback::llm;
  if (!a) return FB_EINVALID;
  if (!endpoint) return Fail(&a->err, FB_EINVALID, "endpoint is NULL");
  return Guard(&a->err, [&]() -> int {
    if (!a->pending.empty()) {
      return Fail(&a->err, FB_ESTATE,
                  std::to_string(a->pending.size()) +
                      " need(s) taken with fb_ask_take_needs are still unanswered: answer them "
                      "first or run the whole session with fb_ask_run_http");
    }
    llm::LlmClientOptions co;
    if (endpoint->url && *endpoint->url) {
      auto c = EndpointOf(*endpoint, false);
      if (!c.ok()) return Report(&a->err, c.status());
      co.chat = std::move(*c);
    }
    if (endpoint->embed_url && *endpoint->embed_url) {
      auto c = EndpointOf(*endpoint, true);
      if (!c.ok()) return Report(&a->err, c.status());
      co.embed = std::move(*c);
    }
    if (!(endpoint->timeout_ms > 0) || !std::isfinite(endpoint->timeout_ms)) {
      return Fail(&a->err, FB_EINVALID, "timeout_ms must be a positive number");
    }
    co.default_timeout_ms = endpoint->timeout_ms;
    co.retry.max_retries = endpoint->max_retries;
    co.ca_bundle = Str(endpoint->ca_bundle);
    auto client = llm::LlmClient::Create(std::move(co));
    if (!client.ok()) return Report(&a->err, client.status());
    MonotonicClock clock;
    auto forward = [&](const TraceEvent& e) {
      if (!on_event) return;
      std::vector<fb_trace_hit> hits = TraceHits(e.hits);
      fb_event v = EventView(e, hits);
      on_event(&v, user_data);
    };
    return Report(&a->err, llm::RunAsk(*a->session, **client, clock, forward));
  });
}

size_t fb_ask_passage_count(const fb_ask* a) {
  fb_ask* v = Views(a);
  return v ? v->passages.size() : 0;
}

const fb_hit* fb_ask_passage(const fb_ask* a, size_t i) {
  fb_ask* v = Views(a);
  return v && i < v->passages.size() ? &v->passages[i] : nullptr;
}

const char* fb_ask_answer(const fb_ask* a) {
  fb_ask* v = Views(a);
  return v ? v->session->result().answer.c_str() : nullptr;
}

size_t fb_ask_citation_count(const fb_ask* a) {
  fb_ask* v = Views(a);
  return v ? v->citations.size() : 0;
}

const fb_citation* fb_ask_citation(const fb_ask* a, size_t i) {
  fb_ask* v = Views(a);
  return v && i < v->citations.size() ? &v->citations[i] : nullptr;
}

size_t fb_ask_hop_count(const fb_ask* a) {
  fb_ask* v = Views(a);
  return v ? v->hops.size() : 0;
}

const fb_hop* fb_ask_hop(const fb_ask* a, size_t i) {
  fb_ask* v = Views(a);
  return v && i < v->hops.size() ? &v->hops[i] : nullptr;
}

const char* fb_ask_trace_id(const fb_ask* a) { return a ? a->trace_id.c_str() : nullptr; }

const char* fb_ask_trace_json(const fb_ask* a) {
  fb_ask* v = Views(a);
  return v ? v->trace_json.c_str() : nullptr;
}

int fb_ask_save_trace(fb_ask* a, const char* dir) {
  if (!a) return FB_EINVALID;
  return Guard(&a->err, [&]() -> int {
    if (!Views(a)) return Fail(&a->err, FB_ESTATE, "the session is not done yet (fb_ask_done)");
    std::string d = dir ? dir : a->state->Dir();
    if (d.empty()) {
      return Fail(&a->err, FB_ESTATE,
                  "the index has no folder: pass one, or open the index with fb_index_open");
    }
    return Report(&a->err, foldback::host::SaveTrace(d, a->trace_json, a->trace_id));
  });
}

/* ---------------------------------------------------------------- feedback */

int fb_feedback_log_open(const char* index_dir, const fb_index* index, fb_feedback_log** log_out) {
  if (!index_dir || !*index_dir || !log_out) return FB_EINVALID;
  *log_out = nullptr;
  try {
    auto log = std::make_unique<fb_feedback_log>();
    log->dir = index_dir;
    if (index) {
      log->state = index->state;
    } else {
      auto opened = foldback::host::OpenIndex(index_dir, /*create=*/false);
      if (!opened.ok()) return CodeOf(opened.status());
      log->state = NewState(std::move(opened.value()), index_dir);
    }
    std::string key = CanonicalDir(index_dir);
    {
      std::lock_guard<std::mutex> lock(OpenLogsMutex());
      if (!OpenLogs().insert(key).second) return FB_ESTATE;
    }
    log->key = key;
    auto file = foldback::host::FeedbackLogFile::Open(index_dir);
    if (!file.ok()) return CodeOf(file.status());  // ~fb_feedback_log releases the key
    log->file = std::move(file.value());
    *log_out = log.release();
    return FB_OK;
  } catch (const std::bad_alloc&) {
    return FB_ENOMEM;
  } catch (...) {
    return FB_EINTERNAL;
  }
}

void fb_feedback_log_free(fb_feedback_log* log) { delete log; }

const char* fb_feedback_log_last_error(const fb_feedback_log* log) {
  return log ? LastError(&log->err) : "";
}

fb_feedback_record fb_feedback_default_record(void) {
  fb_feedback_record r;
  std::memset(&r, 0, sizeof r);
  return r;
}

int fb_feedback_log_append(fb_feedback_log* log, const fb_feedback_record* record,
                           char** record_id_out) {
  if (!log) return FB_EINVALID;
  if (record_id_out) *record_id_out = nullptr;
  if (!record) return Fail(&log->err, FB_EINVALID, "record is NULL");
  if (!record->trace_id) return Fail(&log->err, FB_EINVALID, "record.trace_id is NULL");
  return Guard(&log->err, [&]() -> int {
    foldback::host::FeedbackInput in;
    in.record_id = Str(record->record_id);
    in.trace_id = record->trace_id;
    in.rating = Str(record->rating);
    std::string bad;
    if (!Strings(record->relevant, record->relevant_count, "relevant", &in.relevant, &bad) ||
        !Strings(record->partly, record->partly_count, "partly", &in.partly, &bad) ||
        !Strings(record->not_relevant, record->not_relevant_count, "not_relevant",
                 &in.not_relevant, &bad) ||
        !Strings(record->tags, record->tag_count, "tags", &in.tags, &bad)) {
      return Fail(&log->err, FB_EINVALID, "record." + bad);
    }
    in.critique = Str(record->critique);
    in.corrected_answer = Str(record->corrected_answer);
    in.preferred_rewrite = Str(record->preferred_rewrite);
    in.user = Str(record->user);
    in.matter = Str(record->matter);
    in.consent_to_train = record->consent_to_train != 0;
    in.privileged = record->privileged != 0;
    if (record->time_ms < 0) return Fail(&log->err, FB_EINVALID, "record.time_ms is negative");
    in.time_ms = record->time_ms;
    auto r = foldback::host::BuildFeedbackRecord(*log->state->index, log->dir, in);
    if (!r.ok()) return Report(&log->err, r.status());
    Status s = log->file->Append(*r);
    if (!s.ok()) return Report(&log->err, s);
    if (record_id_out) {
      *record_id_out = Dup(r->record_id);
      if (!*record_id_out) return Fail(&log->err, FB_ENOMEM, "out of memory (the record is stored)");
    }
    return FB_OK;
  });
}

int fb_feedback_forget_record(fb_feedback_log* log, const char* record_id, const char* user) {
  if (!log) return FB_EINVALID;
  if (!record_id) return Fail(&log->err, FB_EINVALID, "record_id is NULL");
  return Guard(&log->err, [&]() -> int {
    return Report(&log->err, foldback::host::ForgetFeedbackRecord(log->file.get(), log->dir,
                                                                  record_id, Str(user)));
  });
}

int fb_feedback_forget_matter(fb_feedback_log* log, const char* matter, const char* user,
                              uint64_t* affected_out) {
  if (!log) return FB_EINVALID;
  if (!matter) return Fail(&log->err, FB_EINVALID, "matter is NULL");
  return Guard(&log->err, [&]() -> int {
    auto n = foldback::host::ForgetFeedbackMatter(log->file.get(), log->dir, matter, Str(user));
    if (!n.ok()) return Report(&log->err, n.status());
    if (affected_out) *affected_out = *n;
    return FB_OK;
  });
}

int fb_feedback_export(const char* index_dir, fb_export_format format, const char* out_path,
                       fb_export_report* report_out, char** error_out) {
  if (error_out) *error_out = nullptr;
  ErrorSlot err;
  int code = [&]() -> int {
    if (!index_dir || !*index_dir) return Fail(&err, FB_EINVALID, "index_dir is NULL or empty");
    if (!out_path || !*out_path) return Fail(&err, FB_EINVALID, "out_path is NULL or empty");
    int f = IntOf(format);
    if (f < FB_EXPORT_TRIPLETS || f > FB_EXPORT_DEMOS) {
      return Fail(&err, FB_EINVALID, "unknown export format " + std::to_string(f));
    }
    return Guard(&err, [&]() -> int {
      auto index = foldback::host::OpenIndex(index_dir, /*create=*/false);
      if (!index.ok()) return Report(&err, index.status());
      foldback::ExportReport rep;
      Status s = foldback::host::ExportFeedbackFile(**index, index_dir,
                                                    static_cast<foldback::ExportFormat>(IntOf(format)),
                                                    foldback::ExportOptions(), out_path, &rep);
      if (!s.ok()) return Report(&err, s);
      if (report_out) {
        report_out->records = rep.records;
        report_out->exported = rep.exported;
        report_out->rows = rep.rows;
        report_out->no_consent = rep.no_consent;
        report_out->privileged = rep.privileged;
        report_out->unusable = rep.unusable;
        report_out->stale_passages = rep.stale_passages;
      }
      return FB_OK;
    });
  }();
  if (code != FB_OK && error_out) *error_out = Dup(err.message);
  return code;
}

}  // extern "C"
