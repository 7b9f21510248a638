// Durable jobs: the decisions, without the store.
//
// A job is a named kind ("map", "embed") over a selection of an index split
// into items. Each item's state lives in a store (SQLite, PostgreSQL: the
// host's); this file holds what every store must decide the same way, as
// pure functions of the item's row, the job's counters and the time the
// host reads from its clock:
//
//   - leasing: a worker takes an item for `lease_ms`; the item is then
//     invisible to other workers until the lease ends (heartbeats extend
//     it). An item whose lease ended without a result is leasable again —
//     the only way the same item's request can be issued twice;
//   - attempts: every lease counts one; an item that has had
//     `max_attempts` leases and still has no result fails;
//   - results: recorded once, idempotent on the item id; a second result
//     for a done item (a worker whose lease had expired finishing late) is
//     a no-op, never a second row;
//   - failures: retryable ones (the host says which: unreachable, 429,
//     5xx after the host's own retries) send the item back to pending, not
//     leasable before a delay; others fail it at once;
//   - releases (a worker stopping on SIGINT): back to pending, the attempt
//     refunded when no request was sent;
//   - the shared rate limiter and budget: a job's counters (requests and
//     tokens used, the next free request slot) live in the store beside its
//     items, so every worker of the job, in any process, draws from the
//     same ones.
//
// Times are Unix milliseconds from the host's wall clock (leases must
// compare across processes and machines).
//
// Thread safety: pure functions; no state.
#ifndef FOLDBACK_JOBS_H_
#define FOLDBACK_JOBS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"
#include "foldback/index.h"
#include "foldback/program.h"
#include "foldback/search.h"
#include "foldback/status.h"

namespace foldback::jobs {

// ---------------------------------------------------------------- items

enum class ItemState : int {
  kPending = 0,  // waiting for a worker (lease_until_ms: not before, after a retryable failure)
  kLeased = 1,   // a worker holds it until lease_until_ms
  kDone = 2,     // result recorded
  kFailed = 3,   // attempts used up, or a failure that no retry fixes
};
FOLDBACK_EXPORT const char* ItemStateName(
    ItemState state);  // "pending" | "leased" | "done" | "failed"

// An item as a store keeps it.
struct ItemRow {
  std::string item_id;
  ItemState state = ItemState::kPending;
  uint32_t attempts = 0;  // leases taken so far
  std::string owner;      // worker holding (or last holding) the lease
  // kLeased: when the lease ends. kPending: not leasable before (0 = now).
  int64_t lease_until_ms = 0;
  std::string error;  // the last failure, "" when none
};

struct LeasePolicy {
  // How long a lease lasts without a heartbeat. Default: 60000 ms. Workers
  // heartbeat every lease_ms / 3.
  int64_t lease_ms = 60000;
  // Leases an item may take before it fails. Default: 3.
  uint32_t max_attempts = 3;
};

// InvalidArgument unless lease_ms >= 100 and 1 <= max_attempts <= 100.
FOLDBACK_EXPORT Status ValidateLeasePolicy(const LeasePolicy& policy);

// What a store does with an item it looked at.
struct Decision {
  enum class Action : int {
    kNone = 0,    // leave the row as it is
    kUpdate = 1,  // write `row` (the new state)
  };
  Action action = Action::kNone;
  ItemRow row;
  // Why nothing was done, for messages and tests ("" when updated).
  std::string reason;
  bool update() const { return action == Action::kUpdate; }
};

// A worker `owner` wants the item at `now_ms`. kUpdate to kLeased (attempts
// + 1, lease until now + lease_ms) when the item is pending and its
// not-before time has come, or leased with an ended lease and attempts
// left. kUpdate to kFailed when it would be leasable but has had
// max_attempts leases ("no result after N attempts; last: ..."). kNone
// otherwise (done, failed, leased and not expired, not before).
FOLDBACK_EXPORT Decision DecideLease(const ItemRow& row, const LeasePolicy& policy,
                                     const std::string& owner, int64_t now_ms);

// `owner` says it still works on the item: the lease is extended to now +
// lease_ms when `owner` holds it (even if it ended, as long as nobody else
// took it). kNone with reason "lost" when another worker holds it or the
// item is no longer leased (done, failed, released).
FOLDBACK_EXPORT Decision DecideHeartbeat(const ItemRow& row, const LeasePolicy& policy,
                                         const std::string& owner, int64_t now_ms);

// A result arrives from `owner`. kUpdate to kDone unless the item is done
// already (kNone, reason "duplicate": the result is recorded once). A
// result is accepted from any worker once the item has been leased (even
// after that worker's lease ended, or the item failed meanwhile): the call
// was made and paid for, and it is the first result.
FOLDBACK_EXPORT Decision DecideComplete(const ItemRow& row, const std::string& owner);

// A failed attempt by `owner`. Ignored (kNone, "lost") unless `owner`
// holds the item. `retryable` with attempts left: back to kPending, not
// leasable before now + retry_delay_ms. Otherwise kFailed. `error` is kept
// (the host passes it redacted: never a key).
FOLDBACK_EXPORT Decision DecideFailure(const ItemRow& row, const LeasePolicy& policy,
                                       const std::string& owner, bool retryable,
                                       int64_t retry_delay_ms, const std::string& error,
                                       int64_t now_ms);

// `owner` gives the item back (stopping). kPending at once; the attempt is
// refunded when `request_sent` is false. kNone unless `owner` holds it.
FOLDBACK_EXPORT Decision DecideRelease(const ItemRow& row, const std::string& owner,
                                       bool request_sent);

// ---------------------------------------------------------------- jobs

enum class JobState : int {
  kActive = 0,
  kCancelled = 1,  // no item is leased any more; results so far are kept
  // Nothing is leased until someone approves the job (a fine-tune: nothing
  // leaves the firm unapproved). Approval makes it kActive.
  kPendingApproval = 2,
};
// "active" | "cancelled" | "pending_approval"
FOLDBACK_EXPORT const char* JobStateName(JobState state);
// The state a store keeps as an integer; unknown values read as kCancelled
// (nothing is leased from a job this version does not understand).
FOLDBACK_EXPORT JobState JobStateFromInt(int64_t value);

// Whether a job in `current` may become `next`: pending_approval -> active
// (approve), any -> cancelled. FailedPrecondition saying why not ("job X
// is active: nothing to approve", "job X is cancelled").
FOLDBACK_EXPORT Status CheckJobTransition(const std::string& job_id, JobState current,
                                          JobState next);

// `owner` stores progress of a long item (a fine-tune's remote ids) while
// it holds the lease: kUpdate (the row unchanged: the store writes the
// progress) when `owner` holds it, kNone "lost" otherwise — a worker whose
// lease ended must not overwrite what the item's new holder found.
FOLDBACK_EXPORT Decision DecideCheckpoint(const ItemRow& row, const std::string& owner);

// Limits shared by every worker of a job.
struct JobLimits {
  // Requests per minute to the endpoint, all workers together; 0 = no
  // limit. Default: 0.
  double requests_per_minute = 0;
  // Requests the job may send in all (retries and re-issues included);
  // 0 = no limit. Default: 0.
  uint64_t max_requests = 0;
  // Tokens (prompt + completion, as the endpoint reports or the host
  // estimates) the job may use; 0 = no limit. Once reached, no new request
  // starts. Default: 0.
  uint64_t max_tokens = 0;
};

// The job's counters, kept by the store.
struct JobCounters {
  uint64_t requests = 0;
  uint64_t tokens = 0;
  // The earliest time the next request may start (rate limiter).
  int64_t next_slot_ms = 0;
};

// Requests `wanted` more to start. Returns the start time of each request
// granted (fewer than wanted, or none, when the budget runs out), spaced
// 60000 / requests_per_minute apart from max(now, next_slot_ms), and
// advances `counters` (requests, next_slot_ms). `why_none` (may be null)
// says which budget stopped it.
FOLDBACK_EXPORT std::vector<int64_t> PlanRequests(JobCounters* counters, const JobLimits& limits,
                                                  size_t wanted, int64_t now_ms,
                                                  std::string* why_none);

// Items of a job by state.
struct JobProgress {
  uint64_t total = 0;
  uint64_t pending = 0;
  uint64_t leased = 0;
  uint64_t done = 0;
  uint64_t failed = 0;
  uint64_t attempts = 0;  // leases taken, over all items
  // Every item done or failed.
  bool finished() const { return done + failed == total; }
};

// Adds `items` items in `state` that have taken `attempts` leases together
// (a store's per-state counts) to `progress`.
FOLDBACK_EXPORT void AddToProgress(JobProgress* progress, ItemState state, uint64_t items,
                                   uint64_t attempts);

// One lease transaction, decided: what a store writes after reading the
// candidate rows (pending or leased rows of the job whose time has come, in
// item order, at most LeaseCandidateLimit(max_items) of them) and the job's
// counters, all under its locks. Every store leases through this.
struct LeasePlan {
  // Rows to write as leased (DecideLease), in candidate order: index into
  // the candidates and the new row. At most max_items, trimmed to what the
  // budget grants.
  std::vector<std::pair<size_t, ItemRow>> lease;
  // Rows to write as failed on the way (their attempts were used up).
  std::vector<std::pair<size_t, ItemRow>> fail;
  // The start time of each request granted (PlanRequests); one request per
  // `items_per_request` leased items.
  std::vector<int64_t> starts;
  // The job's counters to write back when `counters_changed`.
  JobCounters counters;
  bool counters_changed = false;
  // Why nothing could be leased when that is the budget ("" otherwise).
  std::string why_none;
};

// How many candidate rows a store reads for a lease of `max_items`: a few
// more, as items whose attempts are used up fail on the way.
FOLDBACK_EXPORT size_t LeaseCandidateLimit(size_t max_items);

// `items_per_request` 0 counts as 1.
FOLDBACK_EXPORT LeasePlan PlanLease(const std::vector<ItemRow>& candidates,
                                    const LeasePolicy& policy, const JobLimits& limits,
                                    const JobCounters& counters, const std::string& owner,
                                    size_t max_items, size_t items_per_request, int64_t now_ms);

// ---------------------------------------------------------------- selection

// What a job runs over: documents (map) or passages (embed) of an index,
// behind the same walls as a search.
struct Selection {
  // Only this matter ("" = every matter the walls allow).
  std::string matter;
  // FIELD=VALUE, ... as in search (all must hold).
  std::vector<Filter> filters;
  // Ethical walls: when set, only documents of these matters (or of no
  // matter) are selected. When `matter` is set too it must be among them.
  std::optional<std::set<std::string>> allowed_matters;
};

// Ids of the live documents that pass, with text, in index order.
// InvalidArgument for a filter on an unknown field, or a matter outside the
// walls (PermissionDenied).
FOLDBACK_EXPORT Result<std::vector<std::string>> SelectDocuments(const Index& index,
                                                                 const Selection& selection);
// Ids of the chunks of the selected documents, in index order.
FOLDBACK_EXPORT Result<std::vector<std::string>> SelectChunks(const Index& index,
                                                              const Selection& selection);

// Whether `matter` is visible behind `selection`'s walls and matter.
FOLDBACK_EXPORT bool SelectionAllows(const Selection& selection, const std::string& matter);

// ---------------------------------------------------------------- map

// A map predictor: inputs `document` (required) and `question` (optional),
// one or more outputs (the last is the main output). Built from
// instructions, or picked from a DSPy saved program.
// InvalidArgument when `instructions` is empty.
FOLDBACK_EXPORT Predictor MapPredictorFromInstructions(const std::string& instructions);

// The first predictor of `predictors` with a `document` input and only
// `document` / `question` inputs. InvalidArgument naming why each was not
// usable.
FOLDBACK_EXPORT Result<Predictor> PickMapPredictor(const std::vector<Predictor>& predictors);

// Stable hash of the prompts a predictor renders (16 hex digits).
FOLDBACK_EXPORT std::string PredictorHash(const Predictor& predictor);

// The document as the model sees it: its passages numbered [1], [2], ...
// in the `document` field, each in a <passage> block that its text cannot
// close (the ask session's data blocks), while their whitespace tokens fit
// `token_budget` (later passages are dropped, the one crossing it cut).
struct MapInput {
  std::string doc_id;
  std::string title;
  std::vector<std::string> chunk_ids;    // passage n is chunk_ids[n - 1]
  std::vector<std::string> chunk_texts;  // same order
  std::string question;                  // "" when the predictor has no question input
};

// The chat request for one document. `json_reply` as in RenderChat.
FOLDBACK_EXPORT LlmRequest BuildMapRequest(const Predictor& predictor, const MapInput& input,
                                           uint32_t token_budget, bool json_reply);

struct MapOutput {
  std::string output;                         // the main output, citations checked
  std::map<std::string, std::string> fields;  // every output field
  std::vector<Citation> citations;            // [n] markers that name a passage shown
  uint32_t passages_shown = 0;
};

// Parses the model's reply (ParseReply) and resolves [n] citations to the
// passages shown; markers beyond them are dropped from the output.
// InvalidArgument ("unusable reply: ...") when the main output is empty.
FOLDBACK_EXPORT Result<MapOutput> ParseMapReply(const Predictor& predictor, const MapInput& input,
                                                uint32_t token_budget, std::string_view reply);

}  // namespace foldback::jobs

#endif  // FOLDBACK_JOBS_H_
