// A worker: leases items of the store's jobs, performs them over HTTP
// (llm/llm_client.h, `concurrency` requests in flight), records each result
// once, heartbeats its leases, and stops cleanly.
//
//   map:   one chat request per document (the job's predictor, the
//          document's passages numbered as data); a result is a JSON line
//          {doc_id, output, fields, citations, model, program_hash,
//          foldback_version, job_id, attempt}.
//   synthesize: one chat request per sampled passage (the job's
//          GenerateQuestions predictor, foldback/questions.h; the passage as
//          data, redacted in the core); a result is a JSON line {chunk_id,
//          doc_id, questions, dropped, model, program_hash,
//          foldback_version, job_id, attempt}. An unusable reply (not JSON,
//          no question left after the core's checks) is retryable.
//   embed: one /embeddings request per `embed_batch` passages; a result
//          is the vector (little-endian float32 blob) and a JSON line
//          {chunk_id, doc_id, dim, model, foldback_version, job_id}.
//
// Failures: after the HTTP client's own retries (408/429/5xx/connection),
// a request that still failed with a retryable error (unreachable, 429,
// 5xx, timeout, unusable reply) puts its items back with the retry
// policy's backoff (foldback::wire::RetryDelayMs, the policy every host shares); other errors (401, 403,
// 404, 400, a document no longer in the index) fail them at once. The key
// comes from the job's environment variable, in this process only.
//
// Stopping: `stop` = 1 stops leasing, gives back items not yet sent
// (attempt refunded) and finishes the requests in flight; 2 abandons those
// too (given back; the attempt counts, the call was made).
#ifndef FOLDBACK_NATIVE_JOBS_WORKER_H_
#define FOLDBACK_NATIVE_JOBS_WORKER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "host/otlp_exporter.h"
#include "jobs/job_store.h"

namespace foldback::jobs {

struct WorkerOptions {
  // Identifies this worker's leases. Default "": host-pid-uuid.
  std::string worker_id;
  // Requests in flight at once. Default: 16.
  uint32_t concurrency = 16;
  // Return once no job has work left (all done, failed, cancelled or out
  // of budget); else poll for new jobs forever (until `stop`).
  bool until_idle = false;
  // Only this job ("" = every active job, oldest first).
  std::string only_job;
  // How often to look again when nothing is leasable. Default: 250 ms.
  int64_t poll_ms = 250;
  // Set by a signal handler; read between steps.
  const std::atomic<int>* stop = nullptr;
  // Called after each recorded batch and when a job is left.
  std::function<void(const JobInfo& job)> on_progress;
  // Messages for the user (a job skipped, a budget used up).
  std::function<void(const std::string& message)> on_note;
  // After every request: the items it served and its trace id (the id of
  // its spans, telemetry::JobCallTraceId), for log lines.
  struct RequestDone {
    std::string job_id;
    std::vector<std::string> item_ids;
    uint32_t attempt = 1;
    Status status;
    std::string trace_id;
    double ms = 0;
  };
  std::function<void(const RequestDone& request)> on_request;
  // A fine-tune asked to be activated (`--activate`) has trained `model`:
  // make it the endpoint's model (the CLI writes foldback.toml). Its error
  // is reported, the job stays done.
  std::function<Status(const std::string& job_id, const std::string& model)> on_model;
  // OpenTelemetry: every request's spans (telemetry::SpansFromJobCall) are
  // queued here when set; never waited for.
  host::OtlpExporter* telemetry = nullptr;
};

struct WorkerReport {
  uint64_t done = 0;        // results recorded by this worker
  uint64_t failed = 0;      // items this worker failed for good
  uint64_t retried = 0;     // items put back after a retryable failure
  uint64_t duplicates = 0;  // results not recorded: the item was done already
  uint64_t released = 0;    // items given back on stop
  uint64_t requests = 0;    // HTTP needs started
  uint64_t regranted = 0;   // items a lease granted again while still held here (held once)
  double store_ms = 0;      // wall time spent in store calls (lease, record, heartbeat, release)
};

// Runs until idle (with until_idle), or until `stop`. An error of the store
// ends it with that status; a job that cannot run here (its key variable
// unset, its index missing) is reported through on_note and skipped.
Result<WorkerReport> RunWorker(JobStore& store, const WorkerOptions& options);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_WORKER_H_
