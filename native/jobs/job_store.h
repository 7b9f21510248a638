// Where jobs and their items live: the store executes, foldback/jobs.h
// decides. Every state change reads the rows inside a transaction (under
// the rows' locks), asks the core's Decide* / PlanLease functions what they
// become, and writes that; so SQLite (sqlite_store.cc) and PostgreSQL
// (postgres_store.cc) keep the same semantics.
//
//   auto store = OpenJobStore("sqlite:/data/idx/jobs.sqlite");
//   auto id = (*store)->Submit(job, UnixMillis());
//   auto leased = (*store)->Lease(*id, "worker-1", 16, now);
//   ... perform ...
//   (*store)->Complete(*id, "worker-1", results, now);   // durable on return
//
// Durability: a call that returns OK has committed; a result acknowledged
// is on disk (SQLite: WAL, synchronous=FULL: the WAL is fsync'ed at every
// commit, so an acknowledged result survives a power cut, not only a
// killed process — NORMAL would lose the last commits on power loss, and
// results are paid LLM calls; PostgreSQL: the server's synchronous_commit,
// on by default, which the store does not lower).
//
// Secrets: nothing passed to a store may hold an API key; job specs name
// the environment variable only.
//
// Thread safety: one thread at a time per JobStore object; any number of
// objects and processes on the same store.
#ifndef FOLDBACK_NATIVE_JOBS_JOB_STORE_H_
#define FOLDBACK_NATIVE_JOBS_JOB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foldback/jobs.h"
#include "foldback/status.h"

namespace foldback::jobs {

struct NewItem {
  std::string item_id;  // unique within the job
  std::string payload;  // what the worker needs to find the item's input (e.g. a chunk id list)
};

struct NewJob {
  std::string kind;  // "map" | "embed" | "synthesize" | "finetune"
  std::string spec;  // JSON, kind-specific (job_spec.h); never a secret
  // kActive, or kPendingApproval: nothing is leased before SetJobState
  // approves it.
  JobState state = JobState::kActive;
  LeasePolicy lease;
  JobLimits limits;
  std::vector<NewItem> items;
};

struct JobInfo {
  std::string id;
  std::string kind;
  std::string spec;
  JobState state = JobState::kActive;
  int64_t created_ms = 0;
  LeasePolicy lease;
  JobLimits limits;
  JobCounters counters;
  JobProgress progress;
};

struct LeasedItem {
  std::string item_id;
  std::string payload;
  uint32_t attempt = 0;  // 1 for the first lease
  int64_t lease_until_ms = 0;
  std::string checkpoint;  // what SaveCheckpoint stored ("" when nothing)
};

struct ItemResult {
  std::string item_id;
  std::string result;   // JSON line (without newline)
  std::string blob;     // e.g. little-endian float32 vectors; may be empty
  uint64_t tokens = 0;  // counted against the job's token budget
};

struct ItemFailure {
  std::string item_id;
  bool retryable = false;
  int64_t retry_delay_ms = 0;
  std::string error;  // redacted by the caller
  uint64_t tokens = 0;
};

struct StoredResult {
  std::string item_id;
  ItemState state = ItemState::kPending;
  uint32_t attempts = 0;
  std::string result;  // "" unless done
  std::string blob;
  std::string error;
  std::string checkpoint;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Creates a job with its items (all pending), atomically. Returns its id
  // (a UUIDv7). InvalidArgument for duplicate item ids or a bad policy.
  virtual Result<std::string> Submit(const NewJob& job, int64_t now_ms) = 0;

  // NotFound for an unknown id.
  virtual Result<JobInfo> GetJob(const std::string& job_id) = 0;
  // Every job, oldest first.
  virtual Result<std::vector<JobInfo>> ListJobs() = 0;

  // Leases up to `max_items` items of an active job for `owner`, in item
  // order, each decided by DecideLease (items whose attempts are used up
  // fail on the way). `requests` is how many requests those items need
  // (0 = one per item): the job's budget and rate limiter (PlanRequests)
  // grant them; `*start_at_ms` (may be null) receives when each request may
  // start. Fewer items (or none) when the budget is short; `*why_none` says
  // why there are none when that is the budget. A cancelled job leases
  // nothing, nor does one pending approval.
  virtual Result<std::vector<LeasedItem>> Lease(const std::string& job_id, const std::string& owner,
                                                size_t max_items, size_t items_per_request,
                                                int64_t now_ms, std::vector<int64_t>* start_at_ms,
                                                std::string* why_none) = 0;

  // Extends `owner`'s leases (DecideHeartbeat). Returns the ids it no
  // longer holds.
  virtual Result<std::vector<std::string>> Heartbeat(const std::string& job_id,
                                                     const std::string& owner,
                                                     const std::vector<std::string>& item_ids,
                                                     int64_t now_ms) = 0;

  // Records results and failures in one transaction (DecideComplete,
  // DecideFailure); committed (durable) when it returns OK. `*duplicates`
  // (may be null) receives the ids already done (nothing written for them).
  virtual Status Finish(const std::string& job_id, const std::string& owner,
                        const std::vector<ItemResult>& results,
                        const std::vector<ItemFailure>& failures, int64_t now_ms,
                        std::vector<std::string>* duplicates) = 0;

  // Gives items back (DecideRelease).
  virtual Status Release(const std::string& job_id, const std::string& owner,
                         const std::vector<std::string>& item_ids, bool request_sent) = 0;

  // Stops a job: nothing more is leased; leased items finish or expire.
  virtual Status Cancel(const std::string& job_id) = 0;

  // Moves a job to `next` when CheckJobTransition allows it (approving a
  // job pending approval makes it active). NotFound, FailedPrecondition.
  virtual Status SetJobState(const std::string& job_id, JobState next) = 0;

  // Stores `checkpoint` (e.g. a fine-tune's remote ids, JSON) with an item
  // `owner` holds (DecideCheckpoint), durably; the next lease of the item
  // returns it. FailedPrecondition ("lost") when `owner` no longer holds it.
  virtual Status SaveCheckpoint(const std::string& job_id, const std::string& owner,
                                const std::string& item_id, const std::string& checkpoint) = 0;

  // Every item of the job in item order (results, errors), to `fn`; stops
  // early and returns what `fn` returns when it is not OK.
  virtual Status ForEachItem(const std::string& job_id,
                             const std::function<Status(const StoredResult&)>& fn) = 0;
};

// "sqlite:PATH" or a plain path: a SQLite store (created when missing).
// "sqlite:PATH?synchronous=normal" trades durability against a power cut
// (not against a killed process: WAL with NORMAL loses no commit then) for
// commits without fsync; the default is full.
// "postgresql://..." or "postgres://..." (a libpq connection URI): a
// PostgreSQL store, its tables created when missing; the password belongs
// in PGPASSWORD or ~/.pgpass, and is redacted from every message when the
// URI holds one. InvalidArgument for another scheme.
Result<std::unique_ptr<JobStore>> OpenJobStore(const std::string& url);

// The default store of an index folder: "sqlite:<dir>/jobs.sqlite".
std::string DefaultStoreUrl(const std::string& index_dir);

// `url` fit for a message: a password (postgresql://user:PASSWORD@...,
// ?password=...) replaced by "***".
std::string RedactStoreUrl(const std::string& url);

// ---- for the stores (job_store.cc, sqlite_store.cc, postgres_store.cc)

// What Submit refuses in every store: no kind, a bad lease policy, an empty
// or repeated item id.
Status ValidateNewJob(const NewJob& job);

Result<std::unique_ptr<JobStore>> OpenSqliteStore(const std::string& path, bool full_sync);
Result<std::unique_ptr<JobStore>> OpenPostgresStore(const std::string& url);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_JOB_STORE_H_
