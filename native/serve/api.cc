#include "serve/api.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "foldback/ask.h"
#include "foldback/eval.h"
#include "foldback/feedback.h"
#include "foldback/llm_rerank.h"
#include "foldback/rerank.h"
#include "foldback/search.h"
#include "foldback/train.h"
#include "host/ask_run.h"
#include "host/feedback_record.h"
#include "host/files.h"
#include "host/folder_watch.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/ingest_path.h"
#include "host/log.h"
#include "host/otlp_exporter.h"
#include "ingest/extract.h"
#include "llm/llm_reranker.h"
#include "serve/feedback_models.h"

namespace foldback::serve {

extern const char kOpenApiJson[];  // openapi.json, embedded by CMake

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------ errors

// A status from the core or the host as an HTTP error.
HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
      return Api::Error(400, "invalid_argument", s.message());
    case Status::Code::kOutOfRange:
      return Api::Error(400, "out_of_range", s.message());
    case Status::Code::kNotFound:
      return Api::Error(404, "not_found", s.message());
    case Status::Code::kPermissionDenied:
      return Api::Error(403, "forbidden", s.message());
    case Status::Code::kFailedPrecondition:
      return Api::Error(409, "failed_precondition", s.message());
    case Status::Code::kNotSupported:
      return Api::Error(415, "not_supported", s.message());
    case Status::Code::kDeadlineExceeded:
      return Api::Error(504, "deadline_exceeded", s.message());
    case Status::Code::kUnavailable:
      return Api::Error(503, "unavailable", s.message());
    default:
      return Api::Error(500, "internal", s.message());
  }
}

// --------------------------------------------------------------- targets

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' as a space in queries). False on a broken escape
// or a decoded NUL.
bool Decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return false;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out->push_back(c);
  }
  return true;
}

struct Target {
  std::vector<std::string> segments;  // decoded path segments
  std::multimap<std::string, std::string> query;
  std::string Get(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
  bool Has(const std::string& key) const { return query.count(key) > 0; }
};

// The request target split and decoded. InvalidArgument for anything but
// an origin-form path of plain segments: no "." or ".." (raw or encoded), no
// empty segment, no encoded '/' outside the last segment of a document id.
Result<Target> ParseTarget(const std::string& raw) {
  if (raw.empty() || raw[0] != '/') return Status::InvalidArgument("the target must be a path");
  size_t q = raw.find('?');
  std::string_view path(raw.data(), q == std::string::npos ? raw.size() : q);
  Target t;
  if (path.size() > 1) {
    std::string_view rest = path.substr(1);
    while (true) {
      size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      if (seg.empty()) return Status::InvalidArgument("empty path segment");
      std::string decoded;
      if (!Decode(seg, false, &decoded))
        return Status::InvalidArgument("bad percent-escape in the path");
      // Neither raw nor encoded ("%2e%2e", "..%2f..") dot segments.
      for (size_t b = 0; b <= decoded.size();) {
        size_t e = decoded.find('/', b);
        if (e == std::string::npos) e = decoded.size();
        std::string_view part(decoded.data() + b, e - b);
        if (part == "." || part == "..")
          return Status::InvalidArgument("'.' and '..' are not allowed in paths");
        b = e + 1;
      }
      t.segments.push_back(std::move(decoded));
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
  }
  if (q != std::string::npos) {
    std::string_view qs(raw.data() + q + 1, raw.size() - q - 1);
    size_t p = 0;
    while (p <= qs.size() && !qs.empty()) {
      size_t amp = qs.find('&', p);
      if (amp == std::string_view::npos) amp = qs.size();
      std::string_view kv = qs.substr(p, amp - p);
      if (!kv.empty()) {
        size_t eq = kv.find('=');
        std::string k, v;
        if (!Decode(kv.substr(0, eq), true, &k) ||
            (eq != std::string_view::npos && !Decode(kv.substr(eq + 1), true, &v))) {
          return Status::InvalidArgument("bad percent-escape in the query");
        }
        t.query.emplace(std::move(k), std::move(v));
      }
      if (amp == qs.size()) break;
      p = amp + 1;
    }
  }
  return t;
}

// ------------------------------------------------------------- JSON input

Result<json> ParseObject(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("the body is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  return j;
}

Status GetString(const json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_string())
    return Status::InvalidArgument(std::string("'") + key + "' must be a string");
  *out = it->get<std::string>();
  return Status::OK();
}

Status GetBool(const json& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_boolean())
    return Status::InvalidArgument(std::string("'") + key + "' must be true or false");
  *out = it->get<bool>();
  return Status::OK();
}

Status GetUint(const json& j, const char* key, uint32_t lo, uint32_t hi, uint32_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("'{}' must be an integer in {}..{}"), key, lo, hi));
  }
  *out = static_cast<uint32_t>(it->get<int64_t>());
  return Status::OK();
}

Status GetStrings(const json& j, const char* key, std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_array())
    return Status::InvalidArgument(std::string("'") + key + "' must be an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string())
      return Status::InvalidArgument(std::string("'") + key + "' must be an array of strings");
    out->push_back(v.get<std::string>());
  }
  return Status::OK();
}

// A query parameter that is "true" or "false" (left as is when absent).
Status ParseBoolParam(const Target& t, const std::string& key, bool* out) {
  if (!t.Has(key)) return Status::OK();
  const std::string v = t.Get(key);
  if (v != "true" && v != "false") {
    return Status::InvalidArgument("'" + key + "' must be true or false");
  }
  *out = v == "true";
  return Status::OK();
}

Status ParseUintParam(const Target& t, const std::string& key, uint32_t lo, uint32_t hi,
                      uint32_t* out) {
  if (!t.Has(key)) return Status::OK();
  const std::string v = t.Get(key);
  char* end = nullptr;
  errno = 0;
  unsigned long n = v.empty() ? 0 : std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-' || n < lo || n > hi) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("'{}' must be an integer in {}..{}"), key, lo, hi));
  }
  *out = static_cast<uint32_t>(n);
  return Status::OK();
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = Dump(body);
  return r;
}

json WallJson(const std::optional<std::set<std::string>>& wall) {
  if (!wall) return json::array({"*"});
  return json(*wall);
}

// The static embedder's vectors for what a write added. A corpus too small
// to train the embedder (FailedPrecondition) is not an error, as for
// `foldback watch`: the documents are searchable by BM25 (dense and hybrid
// searches fall back to it) and a later write, with more text, trains it.
// `warn`: say so in the log (once per write, not again for the spare).
Status BuildDenseAfterWrite(Index* index, bool warn) {
  if (index->options().dense.embedder != EmbedderKind::kStatic) return Status::OK();
  Status s = index->BuildDense();
  if (s.code() == Status::Code::kFailedPrecondition) {
    if (warn) {
      host::Log(host::LogLevel::kWarning,
                "dense index not built (searchable by bm25): " + s.ToString(), {"serve", "", {}});
    }
    return Status::OK();
  }
  return s;
}

// --------------------------------------------------------------- limiter

struct Bucket {
  double tokens = 0;
  Clock::time_point last;
  bool init = false;
};

}  // namespace

// ------------------------------------------------------------------- Rep

struct Api::Rep {
  std::string index_dir;
  mutable std::mutex index_mu;  // guards the pointer and its generation only
  std::shared_ptr<const Index> index;
  uint64_t generation = 0;  // +1 at each publish: keys what is built on an index
  std::mutex writer_mu;     // one writer at a time
  std::unique_ptr<host::FeedbackLogFile> log;

  std::mutex users_mu;
  std::shared_ptr<const Users> users;

  std::mutex rate_mu;
  std::map<std::string, Bucket> buckets;

  std::mutex audit_mu;
  int audit_fd = -1;
  // <index>/serve.lock, held for the server's lifetime (host::HoldServeLock).
  int serve_lock_fd = -1;

  // OpenTelemetry spans of every ask (OTEL_* variables); null when off.
  std::unique_ptr<host::OtlpExporter> telemetry;

  // --watch: the folder's sync, its thread and the flag that stops it.
  std::unique_ptr<host::FolderWatchSink> watch_sink;
  std::unique_ptr<host::FolderSync> watch;
  std::thread watch_thread;
  std::atomic<bool> stopping{false};

  std::shared_ptr<const Users> CurrentUsers() {
    std::lock_guard<std::mutex> lock(users_mu);
    return users;
  }
  void Swap(std::shared_ptr<const Index> next) {
    std::lock_guard<std::mutex> lock(index_mu);
    index = std::move(next);
    ++generation;
  }
  // The published index and its generation, read together.
  std::shared_ptr<const Index> Published(uint64_t* gen) const {
    std::lock_guard<std::mutex> lock(index_mu);
    *gen = generation;
    return index;
  }

  // What the feedback log teaches each wall (fold-backs, learned
  // rerankers), cached per index generation and log version.
  std::unique_ptr<FeedbackModels> models;

  // Writes (api.h, Api::Write): two copies of the index. `live` is what
  // `index` publishes; `spare` is the other, behind by `spare_behind`
  // (all three under writer_mu).
  std::shared_ptr<Index> live, spare;
  std::vector<WriteOp> spare_behind;
  std::unique_ptr<WriteLog> wlog;
  // The longest a write waits for readers to let go of the spare before
  // copying the live index instead (a long ask holds its copy throughout).
  // The background snapshot also reads a copy: a write waits for it as long
  // as it takes (shorter than a copy).
  std::chrono::milliseconds spare_wait{2000};
  std::atomic<const Index*> snapshotting{nullptr};
  // Builds the spare at start, off the start's critical path (holds writer_mu).
  std::thread spare_thread;

  // The background snapshot: its thread, and the writes since the last one.
  std::mutex snap_mu;
  std::condition_variable snap_cv;
  size_t writes_since_snapshot = 0;
  bool snap_stop = false;
  std::thread snap_thread;

  // Under writer_mu: the spare takes the writes it missed.
  Status CatchUpSpare() {
    if (spare_behind.empty()) return Status::OK();
    auto deadline = std::chrono::steady_clock::now() + spare_wait;
    while (spare.use_count() > 1) {  // a reader still holds it (it is no longer published)
      if (std::chrono::steady_clock::now() >= deadline && snapshotting.load() != spare.get()) {
        return RebuildSpare();
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::atomic_thread_fence(std::memory_order_acquire);  // the readers' last reads happened before
    for (const WriteOp& op : spare_behind) ApplyWriteOp(spare.get(), op);
    spare_behind.clear();
    if (!BuildDenseAfterWrite(spare.get(), /*warn=*/false).ok()) return RebuildSpare();
    return Status::OK();
  }

  // Under writer_mu: the spare becomes a fresh copy of the live index (a
  // snapshot round trip: the slow path).
  Status RebuildSpare() {
    auto bytes = live->Snapshot();
    if (!bytes.ok()) return bytes.status();
    auto copy = Index::FromSnapshot(*bytes);
    if (!copy.ok()) return copy.status();
    spare = std::shared_ptr<Index>(std::move(*copy));
    spare_behind.clear();
    return Status::OK();
  }

  // One background snapshot: the live index's bytes (taken while readers
  // read; a writer that needs this copy waits for it), saved atomically,
  // then the log forgets what the snapshot holds.
  Status SaveSnapshot() {
    std::shared_ptr<const Index> current;
    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(writer_mu);
      current = live;
      seq = wlog->last_seq();
      snapshotting = current.get();
    }
    // Streamed into the temp file as the core produces it: no second copy
    // of the index in memory (at millions of passages that copy was the
    // size of the snapshot file). The index is let go before the fsync.
    host::RemoveStaleTemps(host::SnapshotPath(index_dir));
    auto file = host::WriteSnapshotTemp(host::SnapshotPath(index_dir), *current);
    current.reset();
    snapshotting = nullptr;
    if (!file.ok()) return file.status();
    FB_RETURN_IF_ERROR(file->Commit());
    std::lock_guard<std::mutex> lock(writer_mu);
    return wlog->Saved(seq);
  }
};

// The per-request state the audit line and the metrics are made of.
struct Ctx {
  std::string route = "unknown";
  const User* user = nullptr;
  std::set<std::string> matters;  // matters the request touched
  size_t results = 0;
  int status = 0;
};

namespace {

// Records the status of what is sent.
class Recording final : public Responder {
 public:
  // `finish` runs once, just before the response (or a stream's end) is
  // handed on: what is recorded about a request is there when its client
  // sees the answer.
  Recording(Responder& inner, Ctx* ctx, const std::set<std::string>& cors_origins,
            const std::string& origin, std::function<void()> finish)
      : inner_(inner), ctx_(ctx), finish_(std::move(finish)) {
    if (!origin.empty() && cors_origins.count(origin)) {
      cors_ = {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
    }
  }
  void Respond(HttpResponse r) override {
    ctx_->status = r.status;
    for (auto& h : cors_) r.headers.push_back(h);
    Finish();
    inner_.Respond(std::move(r));
    done_ = true;
  }
  bool BeginStream(int status, const std::string& content_type,
                   const std::vector<std::pair<std::string, std::string>>& headers) override {
    ctx_->status = status;
    auto all = headers;
    for (auto& h : cors_) all.push_back(h);
    done_ = true;
    streaming_ = true;
    return inner_.BeginStream(status, content_type, all);
  }
  bool WriteChunk(std::string_view data) override { return inner_.WriteChunk(data); }
  void EndStream() override {
    streaming_ = false;
    Finish();
    inner_.EndStream();
  }
  void Finish() {
    if (finish_) finish_();
    finish_ = nullptr;
  }
  bool done() const { return done_; }
  bool streaming() const { return streaming_; }
  const std::vector<std::pair<std::string, std::string>>& cors() const { return cors_; }

 private:
  Responder& inner_;
  Ctx* ctx_;
  std::vector<std::pair<std::string, std::string>> cors_;
  bool done_ = false;
  bool streaming_ = false;
  std::function<void()> finish_;
};

}  // namespace

namespace {

// The folder watch's changes, one file per Api::Write: a search sees a
// file's old documents or its new ones. Each write is durable when it
// returns, so there is nothing more to save before the watch state.
class ServeWatchSink : public host::FolderWatchSink {
 public:
  explicit ServeWatchSink(Api* api) : api_(api) {}
  Status Apply(const std::vector<std::string>& remove, std::vector<Document> add,
               std::vector<std::string>* added, std::vector<std::string>* problems) override {
    WriteOp op;
    op.remove = remove;
    op.add = std::move(add);
    Api::WriteResult result;
    FB_RETURN_IF_ERROR(api_->Write([&](const Index&) -> Result<WriteOp> { return std::move(op); },
                                   /*all_or_nothing=*/false, &result));
    *added = std::move(result.added);
    *problems = std::move(result.problems);
    return Status::OK();
  }
  Status Save(bool) override { return Status::OK(); }

 private:
  Api* api_;
};

}  // namespace

Api::Api(ApiOptions options) : options_(std::move(options)), rep_(std::make_unique<Rep>()) {}

Api::~Api() {
  if (rep_) {
    rep_->stopping = true;
    if (rep_->spare_thread.joinable()) rep_->spare_thread.join();
    if (rep_->watch_thread.joinable()) rep_->watch_thread.join();  // finishes its file, saves
    {
      std::lock_guard<std::mutex> lock(rep_->snap_mu);
      rep_->snap_stop = true;  // a last snapshot of what the log holds, then out
    }
    rep_->snap_cv.notify_one();
    if (rep_->snap_thread.joinable()) rep_->snap_thread.join();
  }
  if (rep_ && rep_->audit_fd >= 0) ::close(rep_->audit_fd);
  if (rep_ && rep_->serve_lock_fd >= 0) ::close(rep_->serve_lock_fd);  // the last snapshot is saved
  // Spans still queued get a moment on the way out (SIGTERM drains first).
  if (rep_ && rep_->telemetry) {
    Status s = rep_->telemetry->Flush(2000);
    if (!s.ok()) host::Log(host::LogLevel::kWarning, s.message());
  }
}

Result<std::unique_ptr<Api>> Api::Create(ApiOptions options) {
  std::unique_ptr<Api> api(new Api(std::move(options)));
  Rep& r = *api->rep_;
  r.index_dir = api->options_.index_dir;
  auto index = host::OpenIndex(r.index_dir, /*create=*/false);
  if (!index.ok()) return index.status();
  r.live = std::shared_ptr<Index>(std::move(*index));
  // This server's before anything is read or replayed: a second server, or
  // a CLI command saving the index, is refused (the write log and the
  // snapshot are this process's alone).
  auto held = host::HoldServeLock(r.index_dir);
  if (!held.ok()) return held.status();
  r.serve_lock_fd = *held;
  host::FeedbackLogOptions lo;
  lo.lock_wait_s = 0;
  auto log = host::FeedbackLogFile::Open(r.index_dir, nullptr, lo);
  if (!log.ok()) return log.status();
  r.log = std::move(*log);
  // The writes acknowledged since the snapshot was saved.
  auto wlog = WriteLog::Open(r.index_dir);
  if (!wlog.ok()) return wlog.status();
  r.wlog = std::move(*wlog);
  for (const WriteOp& op : r.wlog->pending()) ApplyWriteOp(r.live.get(), op);
  r.writes_since_snapshot = r.wlog->pending().size();
  {
    // Tombstones the snapshot does not reflect yet (the server stopped
    // after a forget and before the background save): the log is the
    // record of what was forgotten, the snapshot catches up.
    std::string action;
    FB_RETURN_IF_ERROR(host::ForgetLoggedMattersInEmbedder(r.live.get(), r.index_dir, &action));
    if (!action.empty()) {
      host::Log(host::LogLevel::kWarning,
                "the snapshot still held what forgotten matters taught: " + action,
                {"serve", "", {}});
      ++r.writes_since_snapshot;
    }
  }
  if (!r.wlog->pending().empty()) FB_RETURN_IF_ERROR(BuildDenseAfterWrite(r.live.get(), true));
  r.wlog->clear_pending();
  r.index = r.live;
  Rep* published_rep = &r;
  r.models = std::make_unique<FeedbackModels>(
      r.index_dir, FeedbackModelsOptions(), &api->metrics_,
      [published_rep](uint64_t* generation) { return published_rep->Published(generation); });
  {
    // The second copy is made while the server starts serving; the first
    // write waits for it.
    Rep* rp = &r;
    std::promise<void> locked;
    auto started = locked.get_future();
    r.spare_thread = std::thread([rp, locked = std::move(locked)]() mutable {
      std::lock_guard<std::mutex> lock(rp->writer_mu);
      locked.set_value();
      Status s = rp->RebuildSpare();
      if (!s.ok()) {
        host::Log(host::LogLevel::kError, "the index's second copy could not be made: " + s.ToString(),
                  {"serve", "", {}});
      }
    });
    started.wait();  // writer_mu is the thread's before anyone can write
  }
  auto users = Users::Load(api->options_.users_path);
  if (!users.ok()) return users.status();
  r.users = std::make_shared<const Users>(std::move(*users));
  std::string audit =
      api->options_.audit_path.empty() ? r.index_dir + "/audit.log" : api->options_.audit_path;
  r.audit_fd = ::open(audit.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (r.audit_fd < 0) return Status::IOError("cannot open the audit log " + audit);
  auto otel = host::OtlpConfigFromEnv([](const char* name) { return std::getenv(name); });
  if (!otel.ok()) return Status::InvalidArgument("telemetry: " + otel.status().message());
  if (otel->enabled) r.telemetry = std::make_unique<host::OtlpExporter>(std::move(*otel));
  {
    Rep* rp = &r;
    size_t every = std::max<size_t>(1, api->options_.snapshot_every);
    auto interval = std::chrono::milliseconds(
        static_cast<int64_t>(std::max(0.01, api->options_.snapshot_interval_s) * 1000));
    r.snap_thread = std::thread([rp, every, interval] {
      std::unique_lock<std::mutex> lock(rp->snap_mu);
      while (true) {
        rp->snap_cv.wait_for(lock, interval,
                             [&] { return rp->snap_stop || rp->writes_since_snapshot >= every; });
        if (rp->writes_since_snapshot == 0) {
          if (rp->snap_stop) break;
          continue;
        }
        size_t taken = rp->writes_since_snapshot;
        rp->writes_since_snapshot = 0;
        lock.unlock();
        Status s = rp->SaveSnapshot();
        lock.lock();
        if (!s.ok()) {
          // The writes stay in the log (durable); the next round tries again.
          host::Log(host::LogLevel::kError, "snapshot not saved: " + s.ToString(), {"serve", "", {}});
          rp->writes_since_snapshot += taken;
          if (rp->snap_stop) break;
        }
      }
    });
  }
  if (!api->options_.watch_folder.empty()) {
    host::FolderWatchOptions wo;
    wo.index_dir = r.index_dir;
    wo.folder = api->options_.watch_folder;
    wo.matter = api->options_.watch_matter;
    // Each file's write is durable on its own (the write log); the state
    // follows every 200 files and at the end of each pass. A crash in
    // between re-reads those files and re-applies the same ids.
    wo.batch = 200;
    wo.say = api->options_.watch_say;
    Rep* rp = &r;
    wo.stop = [rp] { return rp->stopping.load(); };
    r.watch_sink = std::make_unique<ServeWatchSink>(api.get());
    auto sync = host::FolderSync::Open(std::move(wo), r.watch_sink.get());
    if (!sync.ok()) return sync.status().WithContext("--watch");
    r.watch = std::move(*sync);
    double interval = api->options_.watch_interval_s;
    auto say = api->options_.watch_say;
    r.watch_thread = std::thread([rp, interval, say] {
      Status s = rp->watch->Sync();
      if (s.ok() && !rp->stopping) {
        host::WatchLoopOptions lo;
        lo.interval_s = interval;
        s = rp->watch->Watch(lo);
      }
      // The server keeps serving what it has; the operator reads why.
      if (!s.ok() && say) say("watch stopped: " + s.ToString());
    });
  }
  return api;
}

// The left-right writer (see api.h): the change goes to the spare copy,
// into the write log, then the spare is published; the copy readers used
// until then catches up before the next write, once they are done with it.
Status Api::Write(const std::function<Result<WriteOp>(const Index&)>& plan, bool all_or_nothing,
                  WriteResult* result, const std::function<void(const Index&)>& after) {
  Rep* r = rep_.get();
  std::lock_guard<std::mutex> lock(r->writer_mu);
  if (!r->spare) FB_RETURN_IF_ERROR(r->RebuildSpare());  // its first making failed
  FB_RETURN_IF_ERROR(r->CatchUpSpare());
  auto op = plan(*r->live);
  if (!op.ok()) return op.status();
  WriteResult local;
  WriteResult& out = result ? *result : local;
  out.added.clear();
  out.problems.clear();
  ApplyWriteOp(r->spare.get(), *op, &out.added, &out.problems);
  Status s;
  if (all_or_nothing && !out.problems.empty()) s = Status::InvalidArgument(out.problems.front());
  if (s.ok()) s = BuildDenseAfterWrite(r->spare.get(), /*warn=*/true);
  if (s.ok()) s = r->wlog->Append(&*op);  // durable before anyone sees it
  if (!s.ok()) {
    // The spare may hold part of the change: it becomes a copy of the live index again.
    Status rebuilt = r->RebuildSpare();
    return rebuilt.ok() ? s : rebuilt;
  }
  if (after) after(*r->spare);
  std::swap(r->live, r->spare);
  r->Swap(r->live);
  r->spare_behind.push_back(std::move(*op));
  {
    std::lock_guard<std::mutex> slock(r->snap_mu);
    ++r->writes_since_snapshot;
  }
  r->snap_cv.notify_one();
  return Status::OK();
}

Status Api::ForgetMatterInEmbedder(const std::string& matter, std::string* action) {
  Rep* r = rep_.get();
  action->clear();
  {
    std::lock_guard<std::mutex> lock(r->writer_mu);
    EmbedderInfo info = DescribeEmbedder(*r->live);
    auto remembers = [&](const std::vector<std::string>& m) {
      return std::find(m.begin(), m.end(), matter) != m.end();
    };
    if (!remembers(info.feedback_matters) && !remembers(info.previous_feedback_matters)) {
      return Status::OK();  // nothing learned from it: no copy, no write
    }
    if (!r->spare) FB_RETURN_IF_ERROR(r->RebuildSpare());
    FB_RETURN_IF_ERROR(r->CatchUpSpare());
    Status s = foldback::ForgetMatterInEmbedder(r->spare.get(), matter, action);
    if (!s.ok()) {
      Status rebuilt = r->RebuildSpare();  // the spare may hold part of the change
      return rebuilt.ok() ? s : rebuilt;
    }
    std::swap(r->live, r->spare);
    r->Swap(r->live);
    // The copy readers used until now still has the model: it is let go,
    // and the next write makes its spare from the live index.
    r->spare.reset();
    r->spare_behind.clear();
  }
  {
    std::lock_guard<std::mutex> slock(r->snap_mu);
    ++r->writes_since_snapshot;
  }
  r->snap_cv.notify_one();
  return Status::OK();
}

std::shared_ptr<const Index> Api::index() const {
  std::lock_guard<std::mutex> lock(rep_->index_mu);
  return rep_->index;
}

Status Api::ReloadUsers() {
  auto users = Users::Load(options_.users_path);
  if (!users.ok()) return users.status();
  std::lock_guard<std::mutex> lock(rep_->users_mu);
  rep_->users = std::make_shared<const Users>(std::move(*users));
  return Status::OK();
}

HttpResponse Api::Error(int status, const std::string& code, const std::string& message) {
  return Json(status, json{{"error", {{"code", code}, {"message", message}}}});
}

bool Api::RunsLong(const HttpRequest& req) const {
  size_t q = req.target.find('?');
  std::string path = req.target.substr(0, q);
  // A search with a reranker trains one (learned) or calls the LLM (llm).
  bool reranked_search = path == "/v1/search" && q != std::string::npos &&
                         req.target.find("rerank=", q) != std::string::npos;
  return path == "/v1/ask" || path == "/v1/feedback" || path == "/v1/feedback/forget" ||
         path == "/v1/export" || path.rfind("/v1/documents", 0) == 0 || reranked_search ||
         (path == "/v1/search" && SearchBuildsFoldBack(req));
}

// A search whose fold-back is not built yet for the caller's wall (after a
// feedback record or a write): the build takes from milliseconds to seconds,
// so it runs on the worker pool, not on an I/O thread.
bool Api::SearchBuildsFoldBack(const HttpRequest& req) const {
  size_t q = req.target.find('?');
  if (q != std::string::npos && req.target.find("feedback=false", q) != std::string::npos) {
    return false;
  }
  std::string auth = req.Header("authorization");
  if (auth.size() <= 7 || strncasecmp(auth.c_str(), "Bearer ", 7) != 0) return false;
  auto users = rep_->CurrentUsers();
  const User* u = users->FindByToken(std::string_view(auth).substr(7));
  if (!u) return false;  // a 401, at once
  uint64_t generation;
  auto index = rep_->Published(&generation);
  return !rep_->models->FoldBackReady(*index, generation, u->matters);
}

namespace {

// ----------------------------------------------------------------- routes

struct Routes {
  Api* api;
  Api::Rep* rep;
  const ApiOptions& o;
  Metrics& metrics;

  // The second stage a request asks for ('rerank': none, learned or llm).
  struct RequestReranker {
    RerankerKind kind = RerankerKind::kNone;
    std::unique_ptr<llm::LlmClient> client;    // llm: outlives the reranker
    std::shared_ptr<const Reranker> reranker;  // null: none (learned: shared, cached)
    size_t depth = RerankOptions().depth;
  };
  // learned: trained on the feedback log's records the user's wall lets
  // through (host::LearnedRerankerOfDir, as `--rerank learned`), so only
  // models of matters the user may see apply, within the lists the
  // request's first stage (`feedback`, `mode`) gives — cached per wall,
  // first stage, index generation and log version
  // (serve/feedback_models.h); llm: the
  // server's endpoint (--endpoint) orders the top passages, with the
  // server's redaction.
  Status MakeReranker(const std::string& name, const User& u,
                      const std::shared_ptr<const Index>& index, uint64_t generation, bool feedback,
                      SearchMode mode, RequestReranker* out) {
    if (!ParseRerankerKind(name, &out->kind)) {
      return Status::InvalidArgument("'rerank' must be none, learned or llm");
    }
    if (out->kind == RerankerKind::kNone) return Status::OK();
    if (out->kind == RerankerKind::kLearned) {
      auto trained = rep->models->LearnedFor(index, generation, u.matters, {feedback, mode});
      if (!trained.ok()) return trained.status();
      out->reranker = *trained;
      return Status::OK();
    }
    if (o.llm.chat.url.empty()) {
      return Status::InvalidArgument(
          "'rerank=llm' needs an LLM endpoint, and this server has none (serve --endpoint)");
    }
    auto client = llm::LlmClient::Create(o.llm);
    if (!client.ok()) return client.status();
    out->client = std::move(*client);
    LlmRerankOptions lo;
    lo.redactor = o.redactor;
    FB_RETURN_IF_ERROR(ValidateLlmRerankOptions(lo));
    out->depth = lo.depth;
    out->reranker = std::make_unique<llm::LlmClientReranker>(out->client.get(),
                                                             RankPassagesPredictor(), lo);
    return Status::OK();
  }

  // What lawyers' feedback taught, for a user behind their wall (`feedback`
  // on: the default, as the plugins' local engine; false: the index
  // alone). Null when off or when the log holds no live record.
  Status FoldBackFor(bool feedback, const User& u, const Index& index, uint64_t generation,
                     std::shared_ptr<const FoldBack>* out) {
    out->reset();
    if (!feedback) return Status::OK();
    auto fb = rep->models->FoldBackFor(index, generation, u.matters);
    if (!fb.ok()) return fb.status();
    *out = std::move(*fb);
    return Status::OK();
  }

  // What a reranker did, for the response ({kind, applied, note}); a failed
  // LLM rerank (the first stage's order kept) is also a warning in the log.
  static json RerankJson(RerankerKind kind, bool applied, const std::string& note,
                         const std::string& trace_id) {
    if (!applied && note.rfind("failed", 0) == 0) {
      host::Log(host::LogLevel::kWarning, "rerank not applied (" + note + ")",
                {"rerank", trace_id, {}});
    }
    return {{"kind", RerankerKindName(kind)}, {"applied", applied}, {"note", note}};
  }

  HttpResponse Search(Ctx& ctx, const Target& t) {
    const User& u = *ctx.user;
    SearchOptions so;
    std::string q = t.Get("q");
    if (q.empty()) return Api::Error(400, "invalid_argument", "'q' is required");
    if (q.size() > 4096)
      return Api::Error(400, "invalid_argument", "'q' is longer than 4096 bytes");
    uint32_t top_k = 10;
    Status s = ParseUintParam(t, "top_k", 1, o.max_top_k, &top_k);
    if (!s.ok()) return FromStatus(s);
    so.top_k = top_k;
    std::string mode = t.Has("mode") ? t.Get("mode") : "hybrid";
    if (!ParseSearchMode(mode, &so.mode)) {
      return Api::Error(400, "invalid_argument", "'mode' must be bm25, dense or hybrid");
    }
    if (t.Has("syntax") && !ParseQuerySyntax(t.Get("syntax"), &so.syntax)) {
      return Api::Error(400, "invalid_argument", "'syntax' must be auto, plain or connectors");
    }
    auto range = t.query.equal_range("filter");
    for (auto it = range.first; it != range.second; ++it) {
      auto f = Filter::Parse(it->second);
      if (!f.ok()) return FromStatus(f.status());
      so.filters.push_back(*f);
    }
    so.allowed_matters = u.matters;  // the wall, inside the search
    bool feedback = true;
    s = ParseBoolParam(t, "feedback", &feedback);
    if (!s.ok()) return FromStatus(s);
    uint64_t generation;
    auto index = rep->Published(&generation);
    std::shared_ptr<const FoldBack> fb;
    s = FoldBackFor(feedback, u, *index, generation, &fb);
    if (!s.ok()) return FromStatus(s);
    RequestReranker rr;
    s = MakeReranker(t.Has("rerank") ? t.Get("rerank") : "none", u, index, generation, feedback,
                     so.mode, &rr);
    if (!s.ok()) return FromStatus(s);
    RerankOptions ro;
    ro.depth = rr.depth;
    RerankReport report;
    auto hits = SearchAndRerank(*index, fb.get(), q, so, rr.reranker.get(), ro, &report);
    if (!hits.ok()) return FromStatus(hits.status());
    for (const auto& h : *hits) ctx.matters.insert(h.matter);
    ctx.results = hits->size();
    HttpResponse r;
    r.body = "{\"results\":" + host::SearchHitsJson(*hits, -1);
    if (rr.reranker) {
      r.body += ",\"rerank\":" + Dump(RerankJson(rr.kind, report.applied, report.note, ""));
    }
    r.body += "}";
    return r;
  }

  std::optional<HttpResponse> Ask(Ctx& ctx, const HttpRequest& req, Responder& out) {
    const User& u = *ctx.user;
    auto body = ParseObject(req.body);
    if (!body.ok()) return FromStatus(body.status());
    const json& j = *body;
    std::string question, rewrite = "llm", mode = "hybrid", matter, syntax = "auto",
                rerank = "none";
    AskOptions ao;
    std::vector<std::string> filters;
    Status s;
    uint32_t variants = 1, deadline_ms = 0;
    bool feedback = true;  // fold-back, as GET /v1/search's `feedback`
    for (Status st :
         {GetString(j, "question", &question), GetString(j, "rewrite", &rewrite),
          GetString(j, "mode", &mode), GetString(j, "matter", &matter),
          GetString(j, "syntax", &syntax), GetString(j, "rerank", &rerank),
          GetUint(j, "hops", 1, o.max_hops, &ao.hops), GetUint(j, "depth", 1, 100, &ao.depth),
          GetUint(j, "top_k", 1, o.max_top_k, &ao.top_k), GetUint(j, "variants", 1, 4, &variants),
          GetUint(j, "deadline_ms", 0, 600000, &deadline_ms), GetBool(j, "answer", &ao.answer),
          GetStrings(j, "filters", &filters), GetBool(j, "feedback", &feedback)}) {
      if (!st.ok()) return FromStatus(st);
    }
    if (question.empty()) return Api::Error(400, "invalid_argument", "'question' is required");
    if (question.size() > 8192)
      return Api::Error(400, "invalid_argument", "'question' is longer than 8192 bytes");
    if (!ParseRewriteMode(rewrite, &ao.rewrite)) {
      return Api::Error(400, "invalid_argument", "'rewrite' must be llm, rm3 or none");
    }
    if (!ParseSearchMode(mode, &ao.search.mode)) {
      return Api::Error(400, "invalid_argument", "'mode' must be bm25, dense or hybrid");
    }
    if (!ParseQuerySyntax(syntax, &ao.search.syntax)) {
      return Api::Error(400, "invalid_argument", "'syntax' must be auto, plain or connectors");
    }
    for (const auto& f : filters) {
      auto parsed = Filter::Parse(f);
      if (!parsed.ok()) return FromStatus(parsed.status());
      ao.search.filters.push_back(*parsed);
    }
    if (!matter.empty() && !u.MaySee(matter)) {
      return Api::Error(403, "forbidden", "the matter is outside your wall");
    }
    ao.variants = variants;
    ao.deadline_ms = deadline_ms;
    ao.matter = matter;
    ao.user = u.name;
    ao.search.allowed_matters = u.matters;  // the wall of every hop
    ao.redactor = o.redactor;
    std::vector<std::string> fallbacks = host::EndpointFallbacks(!o.llm.chat.url.empty(), &ao);
    ao.trace_id = host::NewUuidV7();  // known to the log lines about this question
    auto client = llm::LlmClient::Create(o.llm);
    if (!client.ok()) return FromStatus(client.status());
    uint64_t generation;
    auto index = rep->Published(&generation);
    std::shared_ptr<const FoldBack> fb;
    s = FoldBackFor(feedback, u, *index, generation, &fb);
    if (!s.ok()) return FromStatus(s);
    RequestReranker rr;
    s = MakeReranker(rerank, u, index, generation, feedback, ao.search.mode, &rr);
    if (!s.ok()) return FromStatus(s);
    // As `foldback ask`: the answer cites the session's passage order.
    if (rr.reranker && ao.answer) {
      return Api::Error(400, "invalid_argument",
                        "'rerank' with 'answer' is not available yet (the answer cites the "
                        "session's passage order); rerank without 'answer'");
    }

    bool stream = req.Header("accept").find("text/event-stream") != std::string::npos;
    bool open = false;
    auto send = [&](const char* event, const json& data) {
      if (!open) return;
      std::string chunk = std::string("event: ") + event + "\ndata: " + Dump(data) + "\n\n";
      if (!out.WriteChunk(chunk)) open = false;  // the client left; the ask completes
    };
    if (stream) {
      open = out.BeginStream(200, "text/event-stream", {{"Cache-Control", "no-store"}});
      if (!open) return std::nullopt;
    }
    auto on_event = [&](const TraceEvent& e) {
      if (e.kind == TraceEvent::Kind::kFallback || e.kind == TraceEvent::Kind::kError) {
        host::LogEvent(e.kind == TraceEvent::Kind::kFallback ? host::LogLevel::kWarning
                                                             : host::LogLevel::kError,
                       e.message, {"ask", ao.trace_id, {{"user", u.name}}});
      }
      if (!stream) return;
      switch (e.kind) {
        case TraceEvent::Kind::kQuery:
          send("query", {{"hop", e.hop}, {"query", e.message}});
          break;
        case TraceEvent::Kind::kRetrieved: {
          json hits = json::array();
          for (const TraceHit& h : e.hits) {
            // The hits are behind the wall already; the title is for the timeline.
            const Document* d = index->FindDocument(h.doc_id);
            hits.push_back({{"chunk_id", h.chunk_id},
                            {"doc_id", h.doc_id},
                            {"score", h.score},
                            {"title", d ? d->title : std::string()}});
          }
          send("retrieved", {{"hop", e.hop}, {"results", hits}});
          break;
        }
        case TraceEvent::Kind::kFallback:
          send("fallback", {{"hop", e.hop}, {"message", e.message}});
          break;
        default:
          break;
      }
    };
    auto run = host::AskQuestion(*index, rep->index_dir, question, ao, nullptr, fb.get(),
                                 rr.reranker.get(), fallbacks, **client, on_event);
    if (!run.ok()) {
      HttpResponse err = FromStatus(run.status());
      if (!stream) return err;
      ctx.status = err.status;
      send("error", json::parse(err.body));
      out.EndStream();
      return std::nullopt;
    }
    host::LogEvent(host::LogLevel::kInfo, "question answered",
                   {"ask",
                    ao.trace_id,
                    {{"user", u.name},
                     {"passages", fmt::to_string(run->result.passages.size())},
                     {"fallbacks", fmt::to_string(run->result.trace.fallbacks.size())},
                     {"ms", fmt::to_string(static_cast<int64_t>(run->seconds * 1000))}}});
    uint64_t attempts = 0;
    for (const auto& h : run->result.trace.hops) attempts += h.llm_attempts;
    metrics.AddLlmCalls(attempts);
    if (rep->telemetry) {  // queued: sent by the exporter's thread, never waited for
      telemetry::SpanOptions so;
      so.start_unix_ms = run->start_unix_ms;
      so.capture_content = rep->telemetry->config().capture_content;
      if (!o.llm.chat.url.empty()) {
        so.provider = llm::ProviderName(o.llm.chat.provider);
        so.request_model = o.llm.chat.model;
        telemetry::ServerOfUrl(o.llm.chat.url, &so.server_address, &so.server_port);
      }
      rep->telemetry->Export(telemetry::SpansFromTrace(run->result.trace, so));
    }
    for (const auto& p : run->result.passages) ctx.matters.insert(p.matter);
    ctx.results = run->result.passages.size();
    // As `foldback ask --json`, plus what a client shows beside a passage
    // (its title, section and matter: the plugins' passage cards).
    json result_json = json::parse(host::AskRunJson(*run, ao.answer, -1));
    for (size_t i = 0; i < run->result.passages.size() && i < result_json["results"].size(); ++i) {
      const SearchHit& h = run->result.passages[i];
      json& r = result_json["results"][i];
      r["title"] = h.title;
      r["section"] = h.section;
      r["matter"] = h.matter;
    }
    if (rr.reranker) {
      result_json["rerank"] =
          RerankJson(rr.kind, run->rerank_note.empty(), run->rerank_note, ao.trace_id);
    }
    std::string result = Dump(result_json);
    if (!stream) {
      HttpResponse r;
      r.body = std::move(result);
      return r;
    }
    if (open && !out.WriteChunk("event: result\ndata: " + result + "\n\n")) open = false;
    out.EndStream();
    return std::nullopt;
  }

  HttpResponse Feedback(Ctx& ctx, const HttpRequest& req) {
    const User& u = *ctx.user;
    auto body = ParseObject(req.body);
    if (!body.ok()) return FromStatus(body.status());
    const json& j = *body;
    host::FeedbackInput in;
    for (Status st :
         {GetString(j, "trace_id", &in.trace_id), GetString(j, "record_id", &in.record_id),
          GetString(j, "rating", &in.rating), GetStrings(j, "relevant", &in.relevant),
          GetStrings(j, "partly", &in.partly), GetStrings(j, "irrelevant", &in.not_relevant),
          GetString(j, "critique", &in.critique), GetString(j, "correction", &in.corrected_answer),
          GetString(j, "preferred_rewrite", &in.preferred_rewrite), GetStrings(j, "tags", &in.tags),
          GetString(j, "matter", &in.matter), GetBool(j, "consent", &in.consent_to_train),
          GetBool(j, "privileged", &in.privileged),
          GetBool(j, "replace_earlier", &in.replace_earlier)}) {
      if (!st.ok()) return FromStatus(st);
    }
    if (in.trace_id.empty()) return Api::Error(400, "invalid_argument", "'trace_id' is required");
    in.user = u.name;                // from the token, never from the body
    in.allowed_matters = u.matters;  // the wall (intersected with the trace's)
    uint64_t generation;
    auto index = rep->Published(&generation);
    FeedbackRecordNotes notes;
    auto r = rep->models->BuildRecord(*index, in, &notes);
    if (!r.ok()) return FromStatus(r.status());
    // fsync'ed, then folded into every kept fold-back that may see it, before
    // we answer: the next search of those walls uses it.
    Status s = rep->models->Append(rep->log.get(), index, generation, &*r, in.replace_earlier);
    if (!s.ok()) return FromStatus(s);
    if (!r->matter.empty()) ctx.matters.insert(r->matter);
    ctx.results = 1;
    return Json(200, {{"record_id", r->record_id},
                      {"trace_id", r->trace_id},
                      {"matter", r->matter},
                      {"labels", r->labels.size()},
                      {"rating", r->rating.ToString()},
                      {"replaces", r->replaces}});
  }

  // POST /v1/feedback/forget {"matter"} or {"record_id"}: a tombstone in
  // the log (host::ForgetFeedbackMatter / ForgetFeedbackRecord, what
  // `foldback feedback --forget-matter / --forget` write), every wall's
  // models dropped before the answer (the next request builds them from
  // the log), and for a matter the embedder that learned from its labels
  // dropped. A matter: only a
  // user who may write to it (a wall does not let anyone erase what others
  // taught). A record: its author, or a user who may write to its matter;
  // a record behind the user's wall does not exist.
  HttpResponse Forget(Ctx& ctx, const HttpRequest& req) {
    const User& u = *ctx.user;
    auto body = ParseObject(req.body);
    if (!body.ok()) return FromStatus(body.status());
    std::string matter, record_id;
    for (Status st :
         {GetString(*body, "matter", &matter), GetString(*body, "record_id", &record_id)}) {
      if (!st.ok()) return FromStatus(st);
    }
    if (matter.empty() == record_id.empty()) {
      return Api::Error(400, "invalid_argument", "give one of 'matter' and 'record_id'");
    }
    std::string embedder;
    Result<size_t> forgotten = size_t{0};
    if (!matter.empty()) {
      if (!u.MaySee(matter) || !u.MayWrite(matter)) {
        return Api::Error(403, "forbidden", "you may not forget the feedback of this matter");
      }
      ctx.matters.insert(matter);
      forgotten = rep->models->Forget([&] {
        return host::ForgetFeedbackMatter(rep->log.get(), rep->index_dir, matter, u.name);
      });
      if (!forgotten.ok()) return FromStatus(forgotten.status());
      // Its labels may have trained the embedder (train --sources feedback).
      Status s = api->ForgetMatterInEmbedder(matter, &embedder);
      if (!s.ok())
        return FromStatus(s.WithContext("the records are forgotten; the embedder is not"));
    } else {
      auto contents = host::ReadFeedbackLogFile(rep->index_dir);
      if (!contents.ok()) return FromStatus(contents.status());
      FeedbackState state = ApplyFeedbackLog(*contents);
      const FeedbackRecord* rec = state.Find(record_id);
      if (!rec || (!rec->matter.empty() && !u.MaySee(rec->matter))) {
        return Api::Error(404, "not_found", "no record '" + record_id + "'");
      }
      if (rec->user != u.name && !u.MayWrite(rec->matter)) {
        return Api::Error(403, "forbidden",
                          "only its author or a writer of its matter may forget a record");
      }
      if (!rec->matter.empty()) ctx.matters.insert(rec->matter);
      forgotten = rep->models->Forget([&]() -> Result<size_t> {
        FB_RETURN_IF_ERROR(
            host::ForgetFeedbackRecord(rep->log.get(), rep->index_dir, record_id, u.name));
        return size_t{1};
      });
      if (!forgotten.ok()) {
        if (forgotten.status().code() == Status::Code::kNotFound) {  // forgotten meanwhile
          return Api::Error(404, "not_found", "no record '" + record_id + "'");
        }
        return FromStatus(forgotten.status());
      }
    }
    ctx.results = *forgotten;
    return Json(200, {{"forgotten", *forgotten},
                      {"record_id", record_id},
                      {"matter", matter},
                      {"embedder", embedder}});
  }

  HttpResponse Export(Ctx& ctx, const Target& t) {
    const User& u = *ctx.user;
    ExportFormat format;
    if (!ParseExportFormat(t.Get("format"), &format)) {
      return Api::Error(400, "invalid_argument", "'format' must be one of " + ExportFormatNames());
    }
    ExportOptions eo;
    uint32_t negatives = static_cast<uint32_t>(eo.negatives_per_positive);
    uint32_t context = static_cast<uint32_t>(eo.context_passages);
    Status s = ParseUintParam(t, "negatives", 0, 50, &negatives);
    if (s.ok()) s = ParseUintParam(t, "context", 0, 50, &context);
    if (!s.ok()) return FromStatus(s);
    eo.negatives_per_positive = negatives;
    eo.context_passages = context;
    eo.allowed_matters = u.matters;  // the export's wall
    auto index = api->index();
    ExportReport rep_out;
    auto bytes = host::ExportFeedbackBytes(*index, rep->index_dir, format, eo, &rep_out);
    if (!bytes.ok()) return FromStatus(bytes.status());
    if (u.matters)
      ctx.matters = *u.matters;
    else
      ctx.matters = {"*"};
    ctx.results = rep_out.rows;
    HttpResponse r;
    r.content_type = format == ExportFormat::kDemos ? "application/json" : "application/x-ndjson";
    r.body = std::move(*bytes);
    r.headers.push_back({"X-Foldback-Export-Rows", fmt::to_string(rep_out.rows)});
    r.headers.push_back({"X-Foldback-Export-Walled", fmt::to_string(rep_out.walled)});
    return r;
  }

  HttpResponse AddDocuments(Ctx& ctx, const HttpRequest& req, const Target& t) {
    const User& u = *ctx.user;
    std::vector<Document> docs;
    std::string matter;
    std::string ctype = req.Header("content-type");
    if (ctype.rfind("application/json", 0) == 0) {
      auto body = ParseObject(req.body);
      if (!body.ok()) return FromStatus(body.status());
      std::string id, title, text, beir;
      for (Status st : {GetString(*body, "matter", &matter), GetString(*body, "id", &id),
                        GetString(*body, "title", &title), GetString(*body, "text", &text),
                        GetString(*body, "beir", &beir)}) {
        if (!st.ok()) return FromStatus(st);
      }
      if (!beir.empty()) {
        if (beir.find('\n') != std::string::npos) {
          return Api::Error(400, "invalid_argument", "'beir' must be one line");
        }
        auto parsed = ParseBeirCorpus(beir);
        if (!parsed.ok()) return FromStatus(parsed.status());
        docs = std::move(*parsed);
      } else {
        if (id.empty()) return Api::Error(400, "invalid_argument", "'id' is required (or 'beir')");
        Document d;
        d.id = id;
        d.title = title;
        d.text = text;
        docs.push_back(std::move(d));
      }
    } else {
      matter = t.Get("matter");
      std::string filename = t.Get("filename");
      if (filename.empty() || filename.find('/') != std::string::npos) {
        return Api::Error(400, "invalid_argument",
                          "'filename' (a file name, no folder) is required");
      }
      std::string id = t.Has("id") ? t.Get("id") : host::DocumentIdFor("", filename);
      auto ex = ingest::ExtractBytes(req.body, filename, id);
      if (!ex.ok()) return FromStatus(ex.status());
      docs = std::move(ex->documents);
    }
    if (matter.empty()) return Api::Error(400, "invalid_argument", "'matter' is required");
    if (!u.MayWrite(matter))
      return Api::Error(403, "forbidden", "you may not write to this matter");
    if (docs.empty()) return Api::Error(400, "invalid_argument", "no document in the request");
    for (Document& d : docs) {
      if (d.id.empty() || d.id.size() > 512)
        return Api::Error(400, "invalid_argument", "bad document id");
      d.matter = matter;
    }
    ctx.matters.insert(matter);
    json added = json::array();
    Status denied;
    Status s = api->Write(
        [&](const Index& index) -> Result<WriteOp> {
          WriteOp op;
          for (const Document& d : docs) {
            // Replacing a document is writing to its matter too.
            const Document* old = index.FindDocument(d.id);
            if (old && !u.MayWrite(old->matter)) {
              return Status::PermissionDenied("document '" + d.id +
                                              "' exists in a matter you may not write to");
            }
          }
          op.add = docs;
          return op;
        },
        /*all_or_nothing=*/true, nullptr,
        [&](const Index& index) {
          for (const Document& d : docs)
            added.push_back({{"id", d.id}, {"chunks", index.ChunksOf(d.id).size()}});
        });
    if (!s.ok()) return FromStatus(s);
    ctx.results = docs.size();
    return Json(201, {{"matter", matter}, {"documents", added}});
  }

  // The document and its attachments (Index::AttachmentsOf: a mail's
  // attached files), in one write: all of them or none.
  HttpResponse DeleteDocument(Ctx& ctx, const std::string& id) {
    const User& u = *ctx.user;
    std::vector<std::string> attachments;
    Status s = api->Write(
        [&](const Index& index) -> Result<WriteOp> {
          const Document* d = index.FindDocument(id);
          // Behind the wall a document does not exist.
          if (!d || !u.MaySee(d->matter)) return Status::NotFound("no document '" + id + "'");
          if (!u.MayWrite(d->matter))
            return Status::PermissionDenied("you may not delete from this matter");
          attachments = index.AttachmentsOf(id);
          for (const std::string& a : attachments) {
            const Document* ad = index.FindDocument(a);
            // Never named: it may be behind the wall.
            if (ad && !u.MayWrite(ad->matter)) {
              return Status::PermissionDenied(
                  "an attachment of this document is in a matter you may not write to");
            }
          }
          ctx.matters.insert(d->matter);
          WriteOp op;
          op.remove = {id};
          op.remove.insert(op.remove.end(), attachments.begin(), attachments.end());
          return op;
        },
        /*all_or_nothing=*/true);
    if (!s.ok()) return FromStatus(s);
    ctx.results = 1 + attachments.size();
    return Json(200, {{"deleted", id}, {"attachments", attachments}});
  }
};

}  // namespace

void Api::Handle(const HttpRequest& req, Responder& responder) {
  auto t0 = Clock::now();
  metrics_.InFlight(1);
  Ctx ctx;
  std::shared_ptr<const Users> users;  // keeps ctx.user alive
  auto finish = [&] {
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics_.Observe(ctx.route, ctx.status, seconds);
    metrics_.InFlight(-1);
    // The audit line: who, what route, which matters, how many results —
    // never a token, a question or a document's text.
    json line = {{"time_ms", host::UnixMillis()}, {"user", ctx.user ? ctx.user->name : ""},
                 {"method", req.method},          {"route", ctx.route},
                 {"status", ctx.status},          {"matters", ctx.matters},
                 {"results", ctx.results},        {"ms", std::round(seconds * 1e5) / 100}};
    if (ctx.user) line["wall"] = WallJson(ctx.user->matters);
    std::string text = Dump(line) + "\n";
    std::lock_guard<std::mutex> lock(rep_->audit_mu);
    ssize_t w = ::write(rep_->audit_fd, text.data(), text.size());
    (void)w;
  };
  Recording out(responder, &ctx, options_.cors_origins, req.Header("origin"), finish);
  Routes routes{this, rep_.get(), options_, metrics_};

  auto handle = [&]() -> std::optional<HttpResponse> {
    auto target = ParseTarget(req.target);
    if (!target.ok()) return Error(400, "bad_path", target.status().message());
    const auto& seg = target->segments;
    const std::string& m = req.method;
    auto is = [&](std::initializer_list<const char*> parts) {
      if (seg.size() != parts.size()) return false;
      size_t i = 0;
      for (const char* p : parts) {
        if (seg[i++] != p) return false;
      }
      return true;
    };
    // Route templates and the methods they take.
    std::string allow;
    if (is({"healthz"}))
      ctx.route = "/healthz", allow = "GET";
    else if (is({"metrics"}))
      ctx.route = "/metrics", allow = "GET";
    else if (is({"openapi.json"}))
      ctx.route = "/openapi.json", allow = "GET";
    else if (is({"v1", "search"}))
      ctx.route = "/v1/search", allow = "GET";
    else if (is({"v1", "ask"}))
      ctx.route = "/v1/ask", allow = "POST";
    else if (is({"v1", "feedback"}))
      ctx.route = "/v1/feedback", allow = "POST";
    else if (is({"v1", "feedback", "forget"}))
      ctx.route = "/v1/feedback/forget", allow = "POST";
    else if (is({"v1", "export"}))
      ctx.route = "/v1/export", allow = "GET";
    else if (is({"v1", "documents"}))
      ctx.route = "/v1/documents", allow = "POST";
    else if (seg.size() >= 3 && seg[0] == "v1" && seg[1] == "documents")
      ctx.route = "/v1/documents/{id}", allow = "DELETE";
    else
      return Error(404, "not_found", "no such route");
    if (m == "OPTIONS") {
      // CORS preflight: answered for configured origins only.
      if (out.cors().empty()) return Error(403, "forbidden", "origin not allowed");
      HttpResponse r;
      r.status = 204;
      r.content_type.clear();
      r.headers = {{"Access-Control-Allow-Methods", allow + ", OPTIONS"},
                   {"Access-Control-Allow-Headers", "Authorization, Content-Type, Accept"},
                   {"Access-Control-Max-Age", "600"}};
      return r;
    }
    bool head = m == "HEAD" && allow == "GET";
    if (m != allow && !head) {
      HttpResponse r = Error(405, "method_not_allowed", "use " + allow);
      r.headers.push_back({"Allow", allow});
      return r;
    }
    if (ctx.route == "/healthz") return Json(200, {{"status", "ok"}});
    if (ctx.route == "/openapi.json") {
      HttpResponse r;
      r.body = kOpenApiJson;
      return r;
    }
    if (ctx.route == "/metrics") {
      auto st = index()->Stats();
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = metrics_.Render(st.documents, st.chunks);
      return r;
    }
    // Everything under /v1 needs a token.
    std::string auth = req.Header("authorization");
    std::string token;
    if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) token = auth.substr(7);
    users = rep_->CurrentUsers();
    ctx.user = users->FindByToken(token);
    if (!ctx.user) {
      HttpResponse r = Error(401, "unauthorized", "a valid bearer token is required");
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return r;
    }
    double rate = ctx.user->rate_limit > 0 ? ctx.user->rate_limit : options_.rate_limit;
    if (rate > 0) {
      std::lock_guard<std::mutex> lock(rep_->rate_mu);
      Bucket& b = rep_->buckets[ctx.user->name];
      auto now = Clock::now();
      if (!b.init) b.tokens = 2 * rate, b.last = now, b.init = true;
      b.tokens =
          std::min(2 * rate, b.tokens + rate * std::chrono::duration<double>(now - b.last).count());
      b.last = now;
      if (b.tokens < 1) {
        HttpResponse r = Error(429, "rate_limited", "too many requests");
        r.headers.push_back(
            {"Retry-After", fmt::to_string(static_cast<int>(std::ceil((1 - b.tokens) / rate)))});
        return r;
      }
      b.tokens -= 1;
    }
    if (ctx.route == "/v1/search") return routes.Search(ctx, *target);
    if (ctx.route == "/v1/ask") return routes.Ask(ctx, req, out);
    if (ctx.route == "/v1/feedback") return routes.Feedback(ctx, req);
    if (ctx.route == "/v1/feedback/forget") return routes.Forget(ctx, req);
    if (ctx.route == "/v1/export") return routes.Export(ctx, *target);
    if (ctx.route == "/v1/documents") return routes.AddDocuments(ctx, req, *target);
    // /v1/documents/{id}: the id may hold '/', as ingested ids do.
    std::string id = seg[2];
    for (size_t i = 3; i < seg.size(); ++i) id += "/" + seg[i];
    return routes.DeleteDocument(ctx, id);
  };

  std::optional<HttpResponse> r;
  try {
    r = handle();
  } catch (const std::exception& e) {
    // A bug must not take the server down; nothing of the request is echoed.
    if (!out.done()) r = Error(500, "internal", "internal error");
    if (out.streaming()) out.EndStream();  // the connection must not wait for more events
  }
  if (r) {
    if (req.method == "HEAD") r->body.clear();
    out.Respond(std::move(*r));
  }
  out.Finish();  // a handler that answered nothing (cannot happen) is still recorded
}

}  // namespace foldback::serve
