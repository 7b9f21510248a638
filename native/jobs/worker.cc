#include "jobs/worker.h"

#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "foldback/questions.h"
#include "foldback/version.h"
#include "foldback/wire.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "jobs/finetune_worker.h"
#include "jobs/job_spec.h"
#include "foldback/telemetry.h"
#include "llm/llm_client.h"

namespace foldback::jobs {
namespace {

using json = nlohmann::ordered_json;

int64_t Now() { return host::UnixMillis(); }

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int StopLevel(const WorkerOptions& o) { return o.stop ? o.stop->load() : 0; }

// Sleeps up to `ms`, waking early on a stop.
void Nap(const WorkerOptions& o, int64_t ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until && StopLevel(o) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 20)));
  }
}

// Whether another attempt could succeed where the HTTP client's own
// retries did not: the endpoint unreachable, overloaded (429, 5xx), slow,
// or its reply unusable. Keys, URLs and bad requests do not get better.
bool Retryable(Status::Code code) {
  switch (code) {
    case Status::Code::kUnavailable:
    case Status::Code::kDeadlineExceeded:
    case Status::Code::kIOError:
    case Status::Code::kInternal:
      return true;
    default:
      return false;
  }
}

std::string FloatsToBlob(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &v[i], 4);
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

// One request's worth of items.
struct Batch {
  std::vector<LeasedItem> items;
  int64_t start_at_ms = 0;
  uint32_t attempt = 1;
  MapInput input;                      // map
  QuestionPassage passage;             // synthesize
  std::vector<std::string> texts_for;  // embed: item ids sent, in order
  size_t request_bytes = 0;
};

class Runner {
 public:
  static Result<std::unique_ptr<Runner>> Make(const JobInfo& job, uint32_t concurrency) {
    auto spec = SpecFromJson(job.spec);
    if (!spec.ok()) return spec.status();
    auto r = std::unique_ptr<Runner>(new Runner());
    r->job_id_ = job.id;
    r->spec_ = std::move(*spec);
    const JobSpec& s = r->spec_;
    llm::EndpointConfig c;
    c.url = s.endpoint.url;
    if (!llm::ParseProvider(s.endpoint.provider, &c.provider)) {
      return Status::InvalidArgument("job " + job.id + ": unknown provider " + s.endpoint.provider);
    }
    c.model = s.endpoint.model;
    c.api_version = s.endpoint.api_version;
    c.structured_output = s.endpoint.structured_output;
    if (!s.endpoint.api_key_env.empty()) {
      auto key = llm::ApiKey::FromEnv(s.endpoint.api_key_env);
      if (!key.ok()) return key.status().WithContext("job " + job.id);
      c.key = std::move(*key);
    }
    llm::LlmClientOptions co;
    if (s.kind != "embed") {
      co.chat = std::move(c);
    } else {
      c.embed_batch = std::max<uint32_t>(1, s.embed_batch);
      co.embed = std::move(c);
    }
    co.redact_patterns = s.redact;
    co.max_in_flight = std::max<uint32_t>(1, concurrency);
    co.ca_bundle = s.endpoint.ca_bundle;
    auto client = llm::LlmClient::Create(std::move(co));
    if (!client.ok()) return client.status().WithContext("job " + job.id);
    r->client_ = std::move(*client);
    auto index = host::OpenIndex(s.index_dir, /*create=*/false);
    if (!index.ok()) return index.status().WithContext("job " + job.id);
    r->index_ = std::move(*index);
    if (s.kind == "synthesize") {
      // The core redacts what it builds (as ask does); the client redacts
      // everything it sends once more.
      QuestionOptions& q = r->questions_;
      q.questions_per_passage = s.questions_per_passage;
      q.passage_token_budget = s.token_budget;
      q.max_question_bytes = s.max_question_bytes;
      if (!s.redact.empty()) {
        auto red = wire::CompileRedactionPatterns(s.redact);
        if (!red.ok()) return red.status().WithContext("job " + job.id);
        q.redactor = std::shared_ptr<const Redactor>(std::move(*red));
      }
      Status valid = ValidateQuestionOptions(q);
      if (!valid.ok()) return valid.WithContext("job " + job.id);
    }
    return r;
  }

  size_t per_request() const {
    return spec_.kind == "embed" ? std::max<uint32_t>(1, spec_.embed_batch) : 1;
  }
  llm::LlmClient& client() { return *client_; }
  const JobSpec& spec() const { return spec_; }

  // The need for `b`, or false when no item of it can be sent (each such
  // item gets a failure).
  bool Prepare(Batch* b, uint64_t need_id, Need* need, std::vector<ItemFailure>* failures) {
    need->id = need_id;
    if (spec_.kind == "map") {
      const LeasedItem& it = b->items.front();
      const Document* doc = index_->FindDocument(it.item_id);
      if (!doc) {
        failures->push_back({it.item_id, false, 0, "document no longer in the index", 0});
        return false;
      }
      if (!SelectionAllows(spec_.selection, doc->matter)) {
        failures->push_back({it.item_id, false, 0, "document now outside the job's matters", 0});
        return false;
      }
      b->input = MapInput();
      b->input.doc_id = doc->id;
      b->input.title = doc->title;
      for (const Chunk* c : index_->ChunksOf(doc->id)) {
        b->input.chunk_ids.push_back(c->id);
        b->input.chunk_texts.emplace_back(c->text);
      }
      b->input.question = spec_.question;
      need->kind = Need::Kind::kLlm;
      need->purpose = "map";
      // After an unusable reply, ask for JSON (as the ask session does).
      need->llm = BuildMapRequest(spec_.predictor, b->input, spec_.token_budget, b->attempt > 1);
      b->request_bytes = 0;
      for (const ChatMessage& m : need->llm.messages) b->request_bytes += m.content.size();
      return true;
    }
    if (spec_.kind == "synthesize") {
      const LeasedItem& it = b->items.front();
      // The walls once more: the passage's document may have moved matter
      // since the job was submitted.
      auto passage = QuestionPassageFor(*index_, spec_.selection, it.item_id);
      if (!passage.ok()) {
        failures->push_back({it.item_id, false, 0, passage.status().message(), 0});
        return false;
      }
      b->passage = std::move(*passage);
      need->kind = Need::Kind::kLlm;
      need->purpose = "synthesize";
      need->llm = BuildQuestionRequest(spec_.predictor, b->passage, questions_, b->attempt > 1);
      b->request_bytes = 0;
      for (const ChatMessage& m : need->llm.messages) b->request_bytes += m.content.size();
      return true;
    }
    need->kind = Need::Kind::kEmbed;
    need->purpose = "embed";
    b->texts_for.clear();
    b->request_bytes = 0;
    for (const LeasedItem& it : b->items) {
      const Chunk* c = index_->FindChunk(it.item_id);
      const Document* doc = c ? index_->FindDocument(c->doc_id) : nullptr;
      if (!c || !doc) {
        failures->push_back({it.item_id, false, 0, "passage no longer in the index", 0});
        continue;
      }
      if (!SelectionAllows(spec_.selection, doc->matter)) {
        failures->push_back({it.item_id, false, 0, "passage now outside the job's matters", 0});
        continue;
      }
      need->embed.texts.emplace_back(c->text);
      b->texts_for.push_back(it.item_id);
      b->request_bytes += c->text.size();
    }
    return !b->texts_for.empty();
  }

  void Collect(const Batch& b, const NeedResult& r, std::mt19937_64& rng,
               std::vector<ItemResult>* results, std::vector<ItemFailure>* failures) {
    // What the endpoint reported (usage), else an estimate of ~4 bytes a token.
    uint64_t tokens = r.input_tokens >= 0 && r.output_tokens >= 0
                          ? static_cast<uint64_t>(r.input_tokens + r.output_tokens)
                      : r.input_tokens >= 0 ? static_cast<uint64_t>(r.input_tokens) + (r.text.size() + 3) / 4
                                            : (b.request_bytes + r.text.size() + 3) / 4;
    auto fail_all = [&](const std::vector<std::string>& ids, bool retryable,
                        const std::string& why) {
      double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      int64_t delay = static_cast<int64_t>(
          wire::RetryDelayMs(wire::RetryPolicy(), b.attempt - 1, -1, u));
      for (size_t i = 0; i < ids.size(); ++i) {
        failures->push_back({ids[i], retryable, delay, why, i == 0 ? tokens : 0});
      }
    };
    if (spec_.kind == "map") {
      const std::string& id = b.items.front().item_id;
      if (!r.status.ok()) {
        fail_all({id}, Retryable(r.status.code()), r.status.ToString());
        return;
      }
      auto out = ParseMapReply(spec_.predictor, b.input, spec_.token_budget, r.text);
      if (!out.ok()) {
        fail_all({id}, true, out.status().message());
        return;
      }
      json line;
      line["doc_id"] = id;
      line["output"] = out->output;
      line["fields"] = out->fields;
      json cites = json::array();
      for (const Citation& c : out->citations)
        cites.push_back({{"marker", c.marker}, {"chunk_id", c.chunk_id}});
      line["citations"] = cites;
      line["passages_shown"] = out->passages_shown;
      line["model"] = r.model.empty() ? spec_.endpoint.model : r.model;
      line["program_hash"] = spec_.program_hash;
      line["foldback_version"] = Version();
      line["job_id"] = job_id_;
      line["attempt"] = b.attempt;
      results->push_back(
          {id, line.dump(-1, ' ', false, json::error_handler_t::replace), "", tokens});
      return;
    }
    if (spec_.kind == "synthesize") {
      const std::string& id = b.items.front().item_id;
      if (!r.status.ok()) {
        fail_all({id}, Retryable(r.status.code()), r.status.ToString());
        return;
      }
      auto out = ParseQuestionReply(spec_.predictor, b.passage, questions_, r.text);
      if (!out.ok()) {
        // A lying or confused endpoint: another attempt asks for JSON.
        fail_all({id}, true, out.status().message());
        return;
      }
      json line;
      line["chunk_id"] = id;
      line["doc_id"] = b.passage.doc_id;
      line["questions"] = out->questions;
      line["dropped"] = out->dropped;
      line["model"] = r.model.empty() ? spec_.endpoint.model : r.model;
      line["program_hash"] = spec_.program_hash;
      line["foldback_version"] = Version();
      line["job_id"] = job_id_;
      line["attempt"] = b.attempt;
      results->push_back(
          {id, line.dump(-1, ' ', false, json::error_handler_t::replace), "", tokens});
      return;
    }
    if (!r.status.ok()) {
      fail_all(b.texts_for, Retryable(r.status.code()), r.status.ToString());
      return;
    }
    if (r.vectors.size() != b.texts_for.size()) {
      fail_all(b.texts_for, true,
               fmt::format(FMT_STRING("embeddings reply has {} vectors for {} texts"),
                           r.vectors.size(), b.texts_for.size()));
      return;
    }
    for (size_t i = 0; i < b.texts_for.size(); ++i) {
      const Chunk* c = index_->FindChunk(b.texts_for[i]);
      json line;
      line["chunk_id"] = b.texts_for[i];
      line["doc_id"] = c ? c->doc_id : "";
      line["dim"] = r.vectors[i].size();
      line["model"] = r.model.empty() ? spec_.endpoint.model : r.model;
      line["foldback_version"] = Version();
      line["job_id"] = job_id_;
      results->push_back(
          {b.texts_for[i], line.dump(), FloatsToBlob(r.vectors[i]), i == 0 ? tokens : 0});
    }
  }

  // The request's spans to the exporter (queued, never waited for).
  void Report(const Batch& b, const NeedResult& r, host::OtlpExporter* exporter) const {
    telemetry::JobCall jc = JobCallOf(b, r);
    telemetry::SpanOptions so;
    so.start_unix_ms = std::chrono::duration<double, std::milli>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       jc.call.end_ms;
    so.provider = spec_.endpoint.provider;
    so.request_model = spec_.endpoint.model;
    telemetry::ServerOfUrl(spec_.endpoint.url, &so.server_address, &so.server_port);
    exporter->Export(telemetry::SpansFromJobCall(jc, so));
  }

  // The request as a log line sees it.
  WorkerOptions::RequestDone Done(const Batch& b, const NeedResult& r) const {
    telemetry::JobCall jc = JobCallOf(b, r);
    WorkerOptions::RequestDone d;
    d.job_id = job_id_;
    d.item_ids = jc.item_ids;
    d.attempt = jc.attempt;
    d.status = r.status;
    d.trace_id = telemetry::JobCallTraceId(jc);
    d.ms = r.elapsed_ms;
    return d;
  }

 private:
  telemetry::JobCall JobCallOf(const Batch& b, const NeedResult& r) const {
    telemetry::JobCall jc;
    jc.job_id = job_id_;
    jc.kind = spec_.kind;
    jc.attempt = b.attempt;
    if (spec_.kind != "embed") {
      for (const LeasedItem& it : b.items) jc.item_ids.push_back(it.item_id);
    } else {
      jc.item_ids = b.texts_for;
    }
    jc.call.operation = spec_.kind == "embed" ? "embeddings" : "chat";
    jc.call.purpose = spec_.kind;
    jc.call.end_ms = std::max(0.0, r.elapsed_ms);
    jc.call.attempts = r.attempts;
    jc.call.model = r.model;
    jc.call.input_tokens = r.input_tokens;
    jc.call.output_tokens = r.output_tokens;
    if (!r.status.ok()) jc.call.error = Status::CodeName(r.status.code());
    return jc;
  }

  Runner() = default;
  std::string job_id_;
  JobSpec spec_;
  std::unique_ptr<llm::LlmClient> client_;
  std::unique_ptr<Index> index_;
  QuestionOptions questions_;  // synthesize
};

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "host");
  return fmt::format(FMT_STRING("{}-{}-{}"), std::string(host), getpid(),
                     host::NewUuidV7().substr(24));
}

// Works one job until it is finished, cancelled or out of budget (waiting
// for items other workers hold, or for retry times), or until a stop.
// Returns false; true is reserved for a job to look at again later.
Result<bool> WorkJob(JobStore& store, const JobInfo& job, const WorkerOptions& o,
                     const std::string& me, WorkerReport* report) {
  auto made = Runner::Make(job, o.concurrency);
  if (!made.ok()) {
    if (o.on_note) o.on_note("job " + job.id + " skipped: " + made.status().ToString());
    return false;
  }
  Runner& runner = **made;
  const size_t per = runner.per_request();
  std::mt19937_64 rng(std::random_device{}());
  std::deque<Batch> queued;             // leased, waiting for their start time
  std::map<uint64_t, Batch> in_flight;  // by need id
  uint64_t next_need = 1;
  int64_t last_heartbeat = Now();
  const int64_t heartbeat_every = std::max<int64_t>(50, job.lease.lease_ms / 3);
  bool exhausted = false;  // the last lease found nothing
  std::string why_none;
  int64_t next_lease_try = 0;
  int64_t last_progress = 0;

  auto held_ids = [&] {
    std::vector<std::string> ids;
    for (const Batch& b : queued)
      for (const LeasedItem& it : b.items) ids.push_back(it.item_id);
    for (const auto& [id, b] : in_flight)
      for (const LeasedItem& it : b.items) ids.push_back(it.item_id);
    return ids;
  };
  auto record = [&](const std::vector<ItemResult>& results,
                    const std::vector<ItemFailure>& failures) -> Status {
    if (results.empty() && failures.empty()) return Status::OK();
    std::vector<std::string> dups;
    auto t0 = std::chrono::steady_clock::now();
    Status s = store.Finish(job.id, me, results, failures, Now(), &dups);
    report->store_ms += MsSince(t0);
    if (!s.ok()) return s;
    report->done += results.size() - dups.size();
    report->duplicates += dups.size();
    for (const ItemFailure& f : failures) (f.retryable ? report->retried : report->failed) += 1;
    // Progress counts scan the job's items: at most twice a second.
    if (o.on_progress && Now() - last_progress >= 500) {
      last_progress = Now();
      auto info = store.GetJob(job.id);
      if (info.ok()) o.on_progress(*info);
    }
    return Status::OK();
  };

  // Group commit: results wait up to kGroupMs (or until a quarter of the
  // requests in flight have finished) and are committed together — one
  // fsync for several. Not yet committed means not acknowledged: a crash
  // then loses them, and their items are re-leased when the lease ends.
  constexpr int64_t kGroupMs = 25;
  const size_t group = std::max<size_t>(1, o.concurrency / 4);
  std::vector<ItemResult> pend_results;
  std::vector<ItemFailure> pend_failures;
  int64_t pend_since = 0;
  auto flush = [&]() -> Status {
    Status s = record(pend_results, pend_failures);
    pend_results.clear();
    pend_failures.clear();
    return s;
  };
  // Leases run ahead of the requests (up to 1.5 x concurrency held) and are
  // refilled half a concurrency at a time: fewer lease transactions.
  const size_t cap = o.concurrency + o.concurrency / 2;
  const size_t refill = std::max<size_t>(1, o.concurrency / 2);

  // Renews the leases of what is held, when due; drops from the queue what
  // is no longer this worker's (not yet sent: someone else has it).
  auto heartbeat = [&]() -> Status {
    const int64_t now = Now();
    if (now - last_heartbeat < heartbeat_every) return Status::OK();
    auto ids = held_ids();
    auto t0 = std::chrono::steady_clock::now();
    auto lost = store.Heartbeat(job.id, me, ids, now);
    report->store_ms += MsSince(t0);
    if (!lost.ok()) return lost.status();
    last_heartbeat = now;
    if (!lost->empty()) {
      std::set<std::string> gone(lost->begin(), lost->end());
      for (auto it = queued.begin(); it != queued.end();) {
        bool any = false;
        for (const LeasedItem& li : it->items) any = any || gone.count(li.item_id);
        it = any ? queued.erase(it) : it + 1;
      }
    }
    return Status::OK();
  };

  while (true) {
    int stop = StopLevel(o);
    if (stop >= 1 && (!pend_results.empty() || !pend_failures.empty())) {
      Status s = flush();
      if (!s.ok()) return s;
    }
    // ---- stopping: give back what was not sent; level 2 also what is in flight
    if (stop >= 1 && !queued.empty()) {
      std::vector<std::string> ids;
      for (const Batch& b : queued)
        for (const LeasedItem& it : b.items) ids.push_back(it.item_id);
      Status s = store.Release(job.id, me, ids, /*request_sent=*/false);
      if (!s.ok()) return s;
      report->released += ids.size();
      queued.clear();
    }
    if (stop >= 2 && !in_flight.empty()) {
      runner.client().CancelAll();
      std::vector<std::string> ids;
      for (const auto& [id, b] : in_flight)
        for (const LeasedItem& it : b.items) ids.push_back(it.item_id);
      Status s = store.Release(job.id, me, ids, /*request_sent=*/true);
      if (!s.ok()) return s;
      report->released += ids.size();
      in_flight.clear();
    }
    if (stop >= 1 && in_flight.empty()) return false;

    int64_t now = Now();
    // ---- heartbeat, before leasing: a store call that blocked (a database
    // restarting) may have outlasted the leases of what is held, and a
    // lease would then grant those items again.
    {
      Status s = heartbeat();
      if (!s.ok()) return s;
    }
    now = Now();
    // ---- lease more
    size_t requests_held = queued.size() + in_flight.size();
    if (stop == 0 && requests_held < cap && (cap - requests_held >= refill || requests_held == 0) &&
        now >= next_lease_try) {
      size_t want_requests = cap - requests_held;
      std::vector<int64_t> starts;
      auto t0 = std::chrono::steady_clock::now();
      auto leased = store.Lease(job.id, me, want_requests * per, per, now, &starts, &why_none);
      report->store_ms += MsSince(t0);
      if (!leased.ok()) return leased.status();
      exhausted = leased->empty();
      if (exhausted) next_lease_try = now + o.poll_ms;
      // An item granted again although held here (its lease ended while a
      // store call blocked, and this worker was the one to get it again) is
      // held once: queued, it keeps its place; in flight, its request is not
      // sent a second time. The new lease is this worker's either way.
      std::map<std::string, LeasedItem*> held;
      for (Batch& b : queued)
        for (LeasedItem& it : b.items) held[it.item_id] = &it;
      for (auto& [id, b] : in_flight)
        for (LeasedItem& it : b.items) held[it.item_id] = &it;
      std::vector<LeasedItem> fresh;
      std::vector<int64_t> fresh_starts;
      for (size_t i = 0, r = 0; i < leased->size(); i += per, ++r) {
        for (size_t k = i; k < std::min(leased->size(), i + per); ++k) {
          LeasedItem& li = (*leased)[k];
          auto h = held.find(li.item_id);
          if (h != held.end()) {
            h->second->attempt = li.attempt;
            h->second->lease_until_ms = li.lease_until_ms;
            ++report->regranted;
            continue;
          }
          fresh.push_back(std::move(li));
          fresh_starts.push_back(r < starts.size() ? starts[r] : now);
        }
      }
      for (size_t i = 0; i < fresh.size(); i += per) {
        Batch b;
        for (size_t k = i; k < std::min(fresh.size(), i + per); ++k) {
          b.items.push_back(std::move(fresh[k]));
          b.attempt = std::max(b.attempt, b.items.back().attempt);
        }
        b.start_at_ms = fresh_starts[i];
        queued.push_back(std::move(b));
      }
    }
    // ---- heartbeat again, before anything held is sent: the lease call
    // may itself have blocked past the leases, and an item another worker
    // has taken since must not be sent again.
    {
      Status s = heartbeat();
      if (!s.ok()) return s;
    }
    // ---- start what may start
    std::vector<ItemFailure> prep_failures;
    // Sent and not yet committed stays within `concurrency`: what a kill
    // can make the LLM be called for again.
    while (stop == 0 && !queued.empty() &&
           in_flight.size() + pend_results.size() + pend_failures.size() < o.concurrency &&
           queued.front().start_at_ms <= now) {
      Batch b = std::move(queued.front());
      queued.pop_front();
      Need need;
      uint64_t id = next_need++;
      if (!runner.Prepare(&b, id, &need, &prep_failures)) continue;
      Status s = runner.client().Start(need);
      if (!s.ok()) return s;
      ++report->requests;
      in_flight.emplace(id, std::move(b));
    }
    if (!prep_failures.empty()) {
      Status s = record({}, prep_failures);
      if (!s.ok()) return s;
    }
    // ---- nothing to do here?
    if (in_flight.empty() && queued.empty() && exhausted && pend_results.empty() &&
        pend_failures.empty()) {
      auto info = store.GetJob(job.id);
      if (!info.ok()) return info.status();
      if (o.on_progress) o.on_progress(*info);
      if (info->progress.finished() || info->state == JobState::kCancelled) return false;
      if (!why_none.empty()) {
        if (o.on_note)
          o.on_note(fmt::format(FMT_STRING("job {}: {}; {} items left"), job.id, why_none,
                                info->progress.pending + info->progress.leased));
        return false;
      }
      // Others hold items, or they wait for a retry time: look again.
    }
    // ---- wait
    if (runner.client().pending() > 0) {
      double wait = 50;
      const bool can_start =
          in_flight.size() + pend_results.size() + pend_failures.size() < o.concurrency;
      if (!queued.empty() && can_start) {
        wait = std::min<double>(wait, std::max<int64_t>(1, queued.front().start_at_ms - now));
      }
      if (!pend_results.empty() || !pend_failures.empty()) {
        wait = std::min<double>(wait, std::max<int64_t>(1, pend_since + kGroupMs - now));
      }
      for (llm::Completion& c : runner.client().Wait(wait)) {
        auto it = in_flight.find(c.need_id);
        if (it == in_flight.end()) continue;
        if (pend_results.empty() && pend_failures.empty()) pend_since = Now();
        if (o.telemetry) runner.Report(it->second, c.result, o.telemetry);
        if (o.on_request) o.on_request(runner.Done(it->second, c.result));
        runner.Collect(it->second, c.result, rng, &pend_results, &pend_failures);
        in_flight.erase(it);
      }
    } else if (!queued.empty()) {
      Nap(o, std::min<int64_t>(50, std::max<int64_t>(1, queued.front().start_at_ms - now)));
    } else if (exhausted) {
      Nap(o, std::min<int64_t>(o.poll_ms, std::max<int64_t>(1, next_lease_try - now)));
    }
    size_t pend = pend_results.size() + pend_failures.size();
    if (pend > 0 && (pend >= group || in_flight.empty() || Now() - pend_since >= kGroupMs)) {
      Status s = flush();
      if (!s.ok()) return s;
    }
  }
}

}  // namespace

Result<WorkerReport> RunWorker(JobStore& store, const WorkerOptions& options) {
  WorkerOptions o = options;
  if (o.worker_id.empty()) o.worker_id = DefaultWorkerId();
  if (o.concurrency == 0) o.concurrency = 1;
  if (o.poll_ms <= 0) o.poll_ms = 250;
  WorkerReport report;
  std::set<std::string> skipped;
  while (StopLevel(o) == 0) {
    auto jobs = store.ListJobs();
    if (!jobs.ok()) return jobs.status();
    bool waiting = false;  // some job has work that is not leasable yet
    bool worked = false;
    for (const JobInfo& job : *jobs) {
      if (StopLevel(o) != 0) break;
      if (!o.only_job.empty() && job.id != o.only_job) continue;
      // Cancelled, or waiting for approval: nothing to lease.
      if (job.state != JobState::kActive || job.progress.finished() || skipped.count(job.id))
        continue;
      auto again = job.kind == "finetune" ? WorkFinetune(store, job, o, o.worker_id, &report)
                                          : WorkJob(store, job, o, o.worker_id, &report);
      if (!again.ok()) return again.status();
      worked = true;
      if (*again) {
        waiting = true;
      } else {
        auto info = store.GetJob(job.id);
        if (info.ok() && !info->progress.finished() && info->state == JobState::kActive) {
          skipped.insert(job.id);  // could not run here, or out of budget
        }
      }
    }
    if (o.until_idle && !waiting) break;
    if (!worked || waiting) Nap(o, o.poll_ms);
  }
  return report;
}

}  // namespace foldback::jobs
