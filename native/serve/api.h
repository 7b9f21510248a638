// The HTTP API of `foldback serve`, independent of the HTTP layer
// (serve/http_server.h moves the bytes): routing, bearer-token
// authentication, the user's walls on every route, limits, rate limits, the
// audit log and the metrics. Every route calls the same functions as the
// CLI command it mirrors (host/ask_run.h, host/feedback_record.h,
// host/feedback_log.h, SearchAndRerank), with the walls of the token's
// user passed in as the core's wall parameters
// (SearchOptions::allowed_matters, FeedbackInput::allowed_matters,
// ExportOptions::allowed_matters): the server never filters results
// itself.
//
// Concurrency: readers share the published index (std::shared_ptr<const
// Index>) and never wait for a writer. The server keeps two copies of the
// index (left-right): a write (POST/DELETE /v1/documents, a --watch file)
// is applied to the unpublished copy, appended to the write log and
// fsync'ed, then that copy is published; the other copy takes the same
// change before the next write, once the readers that held it are done. A
// search or an ask therefore sees the index before or after a write, never
// half of one. The snapshot file is saved in the background (Write's
// comment; write_log.h for the log and its replay at start).
#ifndef FOLDBACK_NATIVE_SERVE_API_H_
#define FOLDBACK_NATIVE_SERVE_API_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "foldback/index.h"
#include "foldback/redact.h"
#include "foldback/status.h"
#include "host/feedback_log.h"
#include "llm/llm_client.h"
#include "serve/metrics.h"
#include "serve/users.h"
#include "serve/write_log.h"

namespace foldback::serve {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: path and query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// How a handler answers: either Respond once, or BeginStream, any number
// of WriteChunk and EndStream (server-sent events). WriteChunk returns
// false once the client is gone.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Respond(HttpResponse response) = 0;
  virtual bool BeginStream(int status, const std::string& content_type,
                           const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  virtual bool WriteChunk(std::string_view data) = 0;
  virtual void EndStream() = 0;
};

struct ApiOptions {
  std::string index_dir;
  std::string users_path;
  // The LLM endpoints (the key from the server's environment); an empty
  // chat URL: asks rewrite with RM3 offline, as `foldback ask` does.
  llm::LlmClientOptions llm;
  // Requests per second per user when the users file does not say
  // (burst: twice that); 0 = no limit. Default: 50.
  double rate_limit = 50;
  // Audit log (JSON lines); "" = <index dir>/audit.log.
  std::string audit_path;
  // Origins allowed by CORS (the plugins'); empty: no CORS headers.
  std::set<std::string> cors_origins;
  // Largest top_k / hops / depth a request may ask for.
  uint32_t max_top_k = 100;
  uint32_t max_hops = 8;
  // Largest request body; the HTTP layer refuses larger ones with 413.
  size_t max_body_bytes = size_t{16} << 20;
  // The server's outbound redaction (--redact): applied by every ask's
  // session to all it sends (trace.redactions says which fired); the same
  // patterns go in llm.redact_patterns as the client's safety net. Null: none.
  std::shared_ptr<const Redactor> redactor;
  // --watch FOLDER --matter M: the server keeps its index in sync with a
  // folder as `foldback watch` does (host/folder_watch.h), each file's
  // change applied through the same single writer as POST /v1/documents.
  // "" = no watch.
  std::string watch_folder;
  std::string watch_matter;
  // Seconds between full rescans of the folder (inotify between them).
  double watch_interval_s = 300;
  // The snapshot (index.fbsnap) is saved in the background after this many
  // writes, or this many seconds after a write, whichever comes first; until
  // then the writes are in the write log (serve/write_log.h). Defaults: 100
  // writes, 30 s. SIGTERM saves one before exiting.
  size_t snapshot_every = 100;
  double snapshot_interval_s = 30;
  // Where the watch's lines go (file names and extraction messages: the
  // callee makes them safe). Null: silent.
  std::function<void(const std::string&)> watch_say;
};

class Api {
 public:
  // Opens the index (NotFound when DIR holds none), the feedback log, the
  // users file and the audit log.
  static Result<std::unique_ptr<Api>> Create(ApiOptions options);
  ~Api();

  // True for routes that may block for long (LLM calls, fsync, ingest):
  // the HTTP layer runs them off its I/O threads. Only these may stream.
  bool RunsLong(const HttpRequest& request) const;
  // A search that would build the caller's fold-back first (RunsLong).
  bool SearchBuildsFoldBack(const HttpRequest& request) const;

  // Handles one request; calls `responder` before returning.
  void Handle(const HttpRequest& request, Responder& responder);

  // An error body: {"error":{"code","message"}}.
  static HttpResponse Error(int status, const std::string& code, const std::string& message);

  // One write to the index, for the API's document routes and the folder
  // watch (one writer at a time): `plan` looks at the index as it is
  // (checks, the ids concerned) and returns the change; the change is
  // applied to the spare copy, appended to the write log (fsync'ed), and the
  // spare published — readers see the index before or after it, never half
  // of it. `all_or_nothing`: a document that cannot be added fails the whole
  // write (else it is reported in `result->problems` and the rest applies).
  // `after` sees the new index before it is published (e.g. chunk counts).
  // OK means durable; on error nothing of the change is visible.
  struct WriteResult {
    std::vector<std::string> added, problems;
  };
  Status Write(const std::function<Result<WriteOp>(const Index&)>& plan, bool all_or_nothing,
               WriteResult* result = nullptr,
               const std::function<void(const Index&)>& after = nullptr);

  // A forgotten matter's influence on the embedder (core's
  // ForgetMatterInEmbedder), made as a write is: on the spare copy, which
  // is then published; the other copy is remade from it at the next write.
  // The snapshot follows in the background — until then the feedback log's
  // tombstone is the record, and a restart repairs the snapshot from it
  // (Create: ForgetMattersInEmbedder). *action: "" when no model learned
  // from the matter (nothing changes), else what was done.
  Status ForgetMatterInEmbedder(const std::string& matter, std::string* action);

  // Re-reads the users file (SIGHUP). On error the old users stay and the
  // error is returned.
  Status ReloadUsers();

  Metrics& metrics() { return metrics_; }
  const ApiOptions& options() const { return options_; }
  std::shared_ptr<const Index> index() const;

  struct Rep;

 private:
  explicit Api(ApiOptions options);
  ApiOptions options_;
  Metrics metrics_;
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_API_H_
