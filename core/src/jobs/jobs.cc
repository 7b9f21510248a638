// Durable jobs: lease, heartbeat, result and failure decisions; the shared
// rate limiter and budget; selections behind the walls; map prompts.
#include "foldback/jobs.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "index/index_internal.h"
#include "index/lexical_index.h"
#include "rewrite/ask_internal.h"
#include "rewrite/text_util.h"

namespace foldback::jobs {

const char* ItemStateName(ItemState state) {
  switch (state) {
    case ItemState::kPending:
      return "pending";
    case ItemState::kLeased:
      return "leased";
    case ItemState::kDone:
      return "done";
    case ItemState::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kActive:
      return "active";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kPendingApproval:
      return "pending_approval";
  }
  return "cancelled";
}

JobState JobStateFromInt(int64_t value) {
  switch (value) {
    case 0:
      return JobState::kActive;
    case 2:
      return JobState::kPendingApproval;
    default:
      return JobState::kCancelled;
  }
}

Status CheckJobTransition(const std::string& job_id, JobState current, JobState next) {
  if (next == JobState::kCancelled) return Status::OK();
  if (next == JobState::kActive && current == JobState::kPendingApproval) return Status::OK();
  if (next == JobState::kActive) {
    return Status::FailedPrecondition("job " + job_id + " is " + JobStateName(current) +
                                      ": nothing to approve");
  }
  return Status::FailedPrecondition("job " + job_id + " cannot become " + JobStateName(next));
}

Status ValidateLeasePolicy(const LeasePolicy& p) {
  if (p.lease_ms < 100) return Status::InvalidArgument("lease must be at least 100 ms");
  if (p.max_attempts < 1 || p.max_attempts > 100) {
    return Status::InvalidArgument("max attempts must be in 1..100");
  }
  return Status::OK();
}

namespace {

Decision None(std::string reason) {
  Decision d;
  d.reason = std::move(reason);
  return d;
}

Decision Update(ItemRow row) {
  Decision d;
  d.action = Decision::Action::kUpdate;
  d.row = std::move(row);
  return d;
}

bool Holds(const ItemRow& row, const std::string& owner) {
  return row.state == ItemState::kLeased && row.owner == owner;
}

}  // namespace

Decision DecideLease(const ItemRow& row, const LeasePolicy& policy, const std::string& owner,
                     int64_t now_ms) {
  switch (row.state) {
    case ItemState::kDone:
      return None("done");
    case ItemState::kFailed:
      return None("failed");
    case ItemState::kPending:
      if (now_ms < row.lease_until_ms) return None("not before");
      break;
    case ItemState::kLeased:
      // Only an ended lease frees the item: the one way an item's request
      // can be issued a second time.
      if (now_ms < row.lease_until_ms) return None("leased");
      break;
  }
  ItemRow next = row;
  if (row.attempts >= policy.max_attempts) {
    next.state = ItemState::kFailed;
    next.error =
        fmt::format(FMT_STRING("no result after {} attempt{}{}{}"), row.attempts,
                    (row.attempts == 1 ? "" : "s"),
                    (row.state == ItemState::kLeased ? " (the last lease ended without one)" : ""),
                    (row.error.empty() ? "" : "; last error: " + row.error));
    return Update(std::move(next));
  }
  next.state = ItemState::kLeased;
  next.attempts = row.attempts + 1;
  next.owner = owner;
  next.lease_until_ms = now_ms + policy.lease_ms;
  return Update(std::move(next));
}

Decision DecideHeartbeat(const ItemRow& row, const LeasePolicy& policy, const std::string& owner,
                         int64_t now_ms) {
  if (!Holds(row, owner)) return None("lost");
  ItemRow next = row;
  next.lease_until_ms = std::max(row.lease_until_ms, now_ms + policy.lease_ms);
  return Update(std::move(next));
}

Decision DecideCheckpoint(const ItemRow& row, const std::string& owner) {
  if (!Holds(row, owner)) return None("lost");
  return Update(row);
}

Decision DecideComplete(const ItemRow& row, const std::string& owner) {
  if (row.state == ItemState::kDone) return None("duplicate");
  if (row.attempts == 0) return None("never leased");
  ItemRow next = row;
  next.state = ItemState::kDone;
  next.owner = owner;
  next.lease_until_ms = 0;
  next.error.clear();
  return Update(std::move(next));
}

Decision DecideFailure(const ItemRow& row, const LeasePolicy& policy, const std::string& owner,
                       bool retryable, int64_t retry_delay_ms, const std::string& error,
                       int64_t now_ms) {
  if (!Holds(row, owner)) return None("lost");
  ItemRow next = row;
  next.error = error;
  if (retryable && row.attempts < policy.max_attempts) {
    next.state = ItemState::kPending;
    next.lease_until_ms = now_ms + std::max<int64_t>(0, retry_delay_ms);
  } else {
    next.state = ItemState::kFailed;
    next.lease_until_ms = 0;
  }
  return Update(std::move(next));
}

Decision DecideRelease(const ItemRow& row, const std::string& owner, bool request_sent) {
  if (!Holds(row, owner)) return None("lost");
  ItemRow next = row;
  next.state = ItemState::kPending;
  next.lease_until_ms = 0;
  if (!request_sent && next.attempts > 0) --next.attempts;
  return Update(std::move(next));
}

std::vector<int64_t> PlanRequests(JobCounters* c, const JobLimits& limits, size_t wanted,
                                  int64_t now_ms, std::string* why_none) {
  std::vector<int64_t> starts;
  if (why_none) why_none->clear();
  if (limits.max_tokens > 0 && c->tokens >= limits.max_tokens) {
    if (why_none)
      *why_none = fmt::format(FMT_STRING("token budget of {} used up"), limits.max_tokens);
    return starts;
  }
  size_t n = wanted;
  if (limits.max_requests > 0) {
    uint64_t left = c->requests >= limits.max_requests ? 0 : limits.max_requests - c->requests;
    if (left < n) n = static_cast<size_t>(left);
    if (n == 0) {
      if (why_none) {
        *why_none = fmt::format(FMT_STRING("request budget of {} used up"), limits.max_requests);
      }
      return starts;
    }
  }
  double interval = limits.requests_per_minute > 0 ? 60000.0 / limits.requests_per_minute : 0;
  int64_t slot = std::max(now_ms, c->next_slot_ms);
  for (size_t i = 0; i < n; ++i) {
    starts.push_back(slot + static_cast<int64_t>(std::llround(interval * static_cast<double>(i))));
  }
  c->requests += n;
  if (interval > 0) {
    c->next_slot_ms = slot + static_cast<int64_t>(std::llround(interval * static_cast<double>(n)));
  }
  return starts;
}

void AddToProgress(JobProgress* p, ItemState state, uint64_t items, uint64_t attempts) {
  p->total += items;
  p->attempts += attempts;
  switch (state) {
    case ItemState::kPending:
      p->pending += items;
      break;
    case ItemState::kLeased:
      p->leased += items;
      break;
    case ItemState::kDone:
      p->done += items;
      break;
    case ItemState::kFailed:
      p->failed += items;
      break;
  }
}

size_t LeaseCandidateLimit(size_t max_items) { return max_items * 2 + 16; }

LeasePlan PlanLease(const std::vector<ItemRow>& candidates, const LeasePolicy& policy,
                    const JobLimits& limits, const JobCounters& counters, const std::string& owner,
                    size_t max_items, size_t items_per_request, int64_t now_ms) {
  LeasePlan plan;
  plan.counters = counters;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (plan.lease.size() == max_items) break;
    Decision d = DecideLease(candidates[i], policy, owner, now_ms);
    if (!d.update()) continue;
    (d.row.state == ItemState::kFailed ? plan.fail : plan.lease).emplace_back(i, std::move(d.row));
  }
  // The budget and the rate limiter, shared by every worker of the job.
  size_t per = items_per_request == 0 ? 1 : items_per_request;
  size_t want_requests = (plan.lease.size() + per - 1) / per;
  if (want_requests > 0) {
    plan.starts = PlanRequests(&plan.counters, limits, want_requests, now_ms, &plan.why_none);
    plan.lease.resize(std::min(plan.lease.size(), plan.starts.size() * per));
    plan.counters_changed = !plan.starts.empty();
  }
  return plan;
}

// ---------------------------------------------------------------- selection

bool SelectionAllows(const Selection& s, const std::string& matter) {
  if (!s.matter.empty() && matter != s.matter) return false;
  if (s.allowed_matters && !matter.empty() && s.allowed_matters->count(matter) == 0) return false;
  return true;
}

namespace {

// Live document numbers that pass, in index order.
Result<std::vector<uint32_t>> SelectDocNumbers(const Index& index, const Selection& s) {
  if (!s.matter.empty() && s.allowed_matters && s.allowed_matters->count(s.matter) == 0) {
    return Status::PermissionDenied("matter '" + s.matter + "' is outside the allowed matters");
  }
  const Index::Rep& rep = *index.rep();
  SearchOptions o;
  o.filters = s.filters;
  if (!s.matter.empty()) o.filters.push_back(Filter{"matter", Filter::Op::kEq, s.matter});
  o.allowed_matters = s.allowed_matters;
  index::ChunkMask mask;
  Status st = rep.BuildMask(o, &mask);
  if (!st.ok()) return st;
  std::vector<uint32_t> out;
  for (uint32_t d = 0; d < rep.docs.size(); ++d) {
    const DocSlot& slot = rep.docs[d];
    if (!slot.live || slot.chunks.empty()) continue;
    // The walls once more, on the document itself (the mask holds them
    // already; a selection must never widen them).
    if (!SelectionAllows(s, slot.doc.matter)) continue;
    bool any = mask.all;
    for (uint32_t c : slot.chunks) {
      if (any) break;
      any = mask.Allows(c);
    }
    if (any) out.push_back(d);
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> SelectDocuments(const Index& index, const Selection& s) {
  auto docs = SelectDocNumbers(index, s);
  if (!docs.ok()) return docs.status();
  std::vector<std::string> ids;
  ids.reserve(docs->size());
  for (uint32_t d : *docs) ids.push_back(index.rep()->docs[d].doc.id);
  return ids;
}

Result<std::vector<std::string>> SelectChunks(const Index& index, const Selection& s) {
  auto docs = SelectDocNumbers(index, s);
  if (!docs.ok()) return docs.status();
  const Index::Rep& rep = *index.rep();
  std::vector<std::string> ids;
  for (uint32_t d : *docs) {
    for (uint32_t c : rep.docs[d].chunks) {
      if (rep.chunks[c].live) ids.push_back(rep.chunks[c].chunk.id);
    }
  }
  return ids;
}

// ---------------------------------------------------------------- map

Predictor MapPredictorFromInstructions(const std::string& instructions) {
  Predictor p;
  p.name = "map";
  p.instructions = instructions;
  p.fields.push_back(
      {"document", "Document:", "the document's passages, numbered; cite them as [n]", true});
  p.fields.push_back({"answer", "Answer:", "", false});
  return p;
}

Result<Predictor> PickMapPredictor(const std::vector<Predictor>& predictors) {
  std::string why;
  for (const Predictor& p : predictors) {
    bool document = false;
    std::string problem;
    for (const ProgramField& f : p.fields) {
      if (!f.input) continue;
      if (f.name == "document") {
        document = true;
      } else if (f.name != "question") {
        problem = "its input '" + f.name + "' is not one a map job supplies (document, question)";
      }
    }
    if (problem.empty() && !document) problem = "it has no 'document' input";
    if (problem.empty() && p.MainOutput().empty()) problem = "it has no output field";
    if (problem.empty()) return p;
    why += "; " + p.name + ": " + problem;
  }
  if (predictors.empty()) why = "; the program has no predictor";
  return Status::InvalidArgument(
      "no predictor of the program can run over documents (inputs "
      "document and optionally question)" +
      why);
}

std::string PredictorHash(const Predictor& p) {
  uint64_t h = rewrite::Fnv1a("foldback-map-predictor-v1");
  for (const ChatMessage& m : RenderChat(p, {})) {
    h = rewrite::Fnv1a(m.role, h);
    h = rewrite::Fnv1a(std::string_view("\x1f", 1), h);
    h = rewrite::Fnv1a(m.content, h);
    h = rewrite::Fnv1a(std::string_view("\x1e", 1), h);
  }
  return rewrite::Hex64(h);
}

namespace {

std::string Document(const MapInput& in, uint32_t token_budget, uint32_t* shown) {
  std::vector<SearchHit> hits(in.chunk_texts.size());
  std::vector<const SearchHit*> ptrs;
  for (size_t i = 0; i < hits.size(); ++i) {
    hits[i].text = in.chunk_texts[i];
    hits[i].title = in.title;
    hits[i].doc_id = in.doc_id;
    ptrs.push_back(&hits[i]);
  }
  return rewrite::FormatPassages(ptrs, token_budget, shown);
}

}  // namespace

LlmRequest BuildMapRequest(const Predictor& p, const MapInput& in, uint32_t token_budget,
                           bool json_reply) {
  uint32_t shown = 0;
  PredictorInputs inputs;
  inputs["document"] = Document(in, token_budget, &shown);
  if (p.Find("question")) inputs["question"] = rewrite::DemoText(in.question, 4096);
  LlmRequest r;
  r.messages = RenderChat(p, inputs, json_reply);
  r.temperature = 0;
  r.max_tokens = 1024;
  return r;
}

Result<MapOutput> ParseMapReply(const Predictor& p, const MapInput& in, uint32_t token_budget,
                                std::string_view reply) {
  auto parsed = ParseReply(p, reply);
  if (!parsed.ok()) return parsed.status();
  uint32_t shown = 0;
  Document(in, token_budget, &shown);
  MapOutput out;
  out.passages_shown = shown;
  out.fields = parsed->fields;
  std::string main = p.MainOutput();
  std::vector<uint32_t> kept, dropped;
  out.output = rewrite::CheckCitations(parsed->fields.at(main), shown, &kept, &dropped);
  out.fields[main] = out.output;
  for (uint32_t n : kept) {
    if (n >= 1 && n <= in.chunk_ids.size())
      out.citations.push_back({n, in.chunk_ids[n - 1], in.doc_id});
  }
  return out;
}

}  // namespace foldback::jobs
