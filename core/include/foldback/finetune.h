// Fine-tuning on the OpenAI / Azure OpenAI fine-tuning API, decided
// without I/O: the requests (upload the training file, create the job,
// poll it, and the two look-ups a restarted worker makes), the replies,
// the status mapping and the retry decisions. A host (the `finetune` jobs
// of native/jobs) sends the bytes built here, adds the key's header
// (wire::AuthHeaderName) and keeps time; the durable state between calls is
// a Progress the host stores (as JSON) in its job store before and after
// every call:
//
//   Progress p = ProgressFromJson(stored).value();
//   for (;;) {
//     Step s = NextStep(spec, p, now_ms);
//     if (s.kind == Step::Kind::kWait) { sleep until s.wait_until_ms; continue; }
//     if (s.kind != Step::Kind::kSend) break;          // succeeded or failed
//     store(s.before);                                  // BEFORE an upload or a create
//     auto req = BuildRequest(spec, s.call, p).value(); // + the key's header
//     ... send; read status, headers, body ...
//     p = ApplyResponse(spec, s.before, s.call, response, now_ms, jitter);
//     store(p);
//   }
//
// Never twice: an upload or a create is sent only from a stored progress
// that says it has not been sent ("" / "uploaded"); the host stores the
// intent ("uploading" / "creating") before sending. A worker that finds an
// intent without its result (it was killed, or the call failed in a way that
// may have reached the server) first looks the thing up — the file by its
// name (foldback-<job id>.jsonl), the job by its training file — and sends
// again only when it is not there. The one window left is a worker stalled
// past its lease between storing an intent and sending: another worker
// could then look, find nothing yet, and send too.
//
// Status mapping: 2xx parsed (a body that does not parse is retryable);
// otherwise wire::CodeForHttpStatus / ShouldRetryStatus with the server's
// message (wire::ServerErrorMessage, NOT redacted: the host redacts its
// key). Retryable failures wait RetryDelayMs (Retry-After honoured) and
// try again — uploads, creates and look-ups up to `max_failures` in a row,
// polls without limit (the remote job runs on whatever the network does);
// anything else fails the fine-tune with the reason.
//
// Thread safety: pure functions.
#ifndef FOLDBACK_FINETUNE_H_
#define FOLDBACK_FINETUNE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/export.h"
#include "foldback/feedback.h"
#include "foldback/status.h"
#include "foldback/wire.h"

namespace foldback::finetune {

// The fine-tuning method the API trains an export format with: "sft" ->
// "supervised", "openai-preference" -> "dpo". InvalidArgument for the
// others (triplets, dpo, dpo-chat and demos are for a trainer of the
// firm's own: a command).
FOLDBACK_EXPORT Result<std::string> MethodForFormat(ExportFormat format);

struct RemoteSpec {
  // provider kOpenAI (url: the API base, e.g. https://api.openai.com/v1) or
  // kAzure (url: the resource, https://NAME.openai.azure.com; api_version,
  // default wire::kDefaultAzureApiVersion). `model` is not used.
  wire::Endpoint endpoint;
  std::string base_model;  // e.g. "gpt-4o-mini-2024-07-18"; required
  std::string method;      // "supervised" | "dpo"
  std::string suffix;      // optional, at most 64 characters
  uint32_t n_epochs = 0;   // 0: the service chooses
  // The training file's name, unique per foldback job: how a restarted
  // worker finds an upload whose answer it never stored. Required.
  std::string filename;
  // The foldback job id, sent as metadata {"foldback_job": ...}.
  std::string job_tag;
  // Time between polls of a created job. Default: 30000 ms.
  int64_t poll_ms = 30000;
  // Retryable failures in a row after which an upload, a create or a
  // look-up fails the fine-tune. Default: 6.
  uint32_t max_failures = 6;
  // Backoff of retryable failures (RetryDelayMs). Defaults: 1 s doubling
  // to 60 s; Retry-After honoured up to 10 min.
  wire::RetryPolicy retry{/*max_retries=*/0, 1000, 60000, 600000};
};

// InvalidArgument naming what is missing or wrong (URL as ResolveUrl
// checks it, provider not openai/azure, base model, method, suffix,
// filename, poll_ms < 10).
FOLDBACK_EXPORT Status ValidateRemoteSpec(const RemoteSpec& spec);

// The calls, in the order a fine-tune makes them.
enum class Call : int {
  kUpload = 0,    // POST /files (multipart: purpose=fine-tune, file)
  kFindFile = 1,  // GET /files?purpose=fine-tune: an upload whose answer was lost
  kCreate = 2,    // POST /fine_tuning/jobs
  kFindJob = 3,   // GET /fine_tuning/jobs?limit=100: a create whose answer was lost
  kPoll = 4,      // GET /fine_tuning/jobs/{id}
};
FOLDBACK_EXPORT const char* CallName(Call call);  // "upload" | "find file" | ...

// What is known of a fine-tune, stored by the host between calls.
struct Progress {
  // "" nothing sent | "uploading" an upload may have been sent |
  // "uploaded" file_id known | "creating" a create may have been sent |
  // "created" remote_job_id known | "succeeded" | "failed"
  std::string stage;
  std::string file_id;
  std::string remote_job_id;
  std::string remote_status;  // as the service says it ("queued", "running", ...)
  std::string fine_tuned_model;
  std::string error;      // why it failed, or the last retryable failure
  uint32_t failures = 0;  // retryable failures in a row
  uint32_t polls = 0;
  uint32_t uploads = 0;       // upload requests sent (for reports and tests)
  uint32_t creates = 0;       // create requests sent
  int64_t not_before_ms = 0;  // the next call waits until then (host's wall clock)
  int64_t trained_tokens = -1;
};
FOLDBACK_EXPORT std::string ProgressToJson(const Progress& progress);
// "" is a fresh Progress. InvalidArgument for anything else that is not one.
FOLDBACK_EXPORT Result<Progress> ProgressFromJson(std::string_view json);

struct Step {
  enum class Kind : int { kSend = 0, kWait = 1, kSucceeded = 2, kFailed = 3 };
  Kind kind = Kind::kSend;
  Call call = Call::kUpload;  // kSend
  int64_t wait_until_ms = 0;  // kWait
  // kSend: the progress to store (durably) before sending — the intent for
  // an upload or a create, unchanged for the others.
  Progress before;
};
FOLDBACK_EXPORT Step NextStep(const RemoteSpec& spec, const Progress& progress, int64_t now_ms);

// An HTTP request without the key's header (the host adds it).
struct HttpRequest {
  std::string method;  // "GET" | "POST"
  std::string url;
  std::vector<wire::Header> headers;
  std::string body;
};

// The request of `call`. kUpload needs `file` (the training file's bytes:
// sent as is, in a multipart/form-data body whose boundary the content
// does not contain); kCreate needs progress.file_id, kPoll
// progress.remote_job_id. InvalidArgument when one is missing or the spec
// is not valid.
FOLDBACK_EXPORT Result<HttpRequest> BuildRequest(const RemoteSpec& spec, Call call,
                                                 const Progress& progress, std::string_view file);

// The base URL of the fine-tuning routes: OpenAI ".../v1", Azure
// "https://NAME.openai.azure.com/openai" (the api-version goes on each
// request). InvalidArgument as ResolveUrl.
FOLDBACK_EXPORT Result<std::string> ApiBase(const wire::Endpoint& endpoint);

// The progress after `call`'s response (`progress` is the Step's `before`).
// `jitter` in [0, 1) (wire::Jitter). `now_ms` the host's wall clock.
FOLDBACK_EXPORT Progress ApplyResponse(const RemoteSpec& spec, const Progress& progress, Call call,
                                       const wire::HttpResponse& response, int64_t now_ms,
                                       double jitter);
// ... after a call that got no response (refused, reset, timed out):
// retryable.
FOLDBACK_EXPORT Progress ApplyTransportFailure(const RemoteSpec& spec, const Progress& progress,
                                               Call call, std::string_view why, int64_t now_ms,
                                               double jitter);

// A remote job's status in the service's words, mapped: "validating_files",
// "queued" -> kPending; "running" -> kRunning; "succeeded"; "failed";
// "cancelled"; anything else kPending (polled again).
enum class RemoteState : int {
  kPending = 0,
  kRunning = 1,
  kSucceeded = 2,
  kFailed = 3,
  kCancelled = 4
};
FOLDBACK_EXPORT RemoteState MapRemoteStatus(std::string_view status);

// ---------------------------------------------------------------- approval

// What a fine-tune will hand over, shown before anyone approves it.
struct Summary {
  size_t records = 0;  // feedback records exported (each with consent to train)
  size_t rows = 0;     // lines of the training file
  size_t bytes = 0;
  std::string sha256;  // of the training file
  // Records per matter ("" = records touching no matter), sorted by matter.
  std::vector<std::pair<std::string, size_t>> matters;
  // Records left out, and why (consent refused, privileged, behind the walls).
  size_t no_consent = 0;
  size_t privileged = 0;
  size_t walled = 0;
  std::string format;       // export format name
  std::string destination;  // "OpenAI fine-tuning at URL (model M)" or "command: ..."
  // The walls the export was made behind ("" = every matter).
  std::string walls;
};
// A few lines for a terminal: destination, file, records, matters, consent.
FOLDBACK_EXPORT std::string SummaryText(const Summary& summary);

}  // namespace foldback::finetune

#endif  // FOLDBACK_FINETUNE_H_
