#include "llm/llm_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "foldback/version.h"

namespace foldback::llm {

// ------------------------------------------------------------------ clocks

namespace {
int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

SteadyClock::SteadyClock() : origin_ns_(SteadyNs()) {}
double SteadyClock::NowMs() { return static_cast<double>(SteadyNs() - origin_ns_) / 1e6; }

// ------------------------------------------------------------------ the client

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Frees a header list after wiping its strings (one holds the API key).
void FreeHeaders(curl_slist* list) {
  for (curl_slist* p = list; p != nullptr; p = p->next) {
    if (p->data) explicit_bzero(p->data, std::strlen(p->data));
  }
  curl_slist_free_all(list);
}

constexpr double kCurlGraceMs = 25;


}  // namespace

struct Job;

// One HTTP request with its retries: a chat call, or one batch of an
// embedding need.
struct Call {
  Job* job = nullptr;
  size_t first = 0;  // embeddings: texts [first, first + count)
  size_t count = 0;
  std::string body;
  uint32_t attempts = 0;
  enum class State { kWaiting, kRunning, kDone } state = State::kWaiting;
  double not_before_ms = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string reply;
  std::vector<wire::Header> reply_headers;  // as received
  bool too_large = false;
  size_t max_reply = 0;
  char errbuf[CURL_ERROR_SIZE] = {0};
};

struct Job {
  Need need;  // texts and messages are kept for the request bodies only
  const EndpointConfig* endpoint = nullptr;
  const std::string* url = nullptr;
  const std::string* auth = nullptr;
  double start_ms = 0;
  double deadline_ms = 0;
  double budget_ms = 0;
  std::vector<std::unique_ptr<Call>> calls;
  size_t calls_left = 0;
  size_t dim = 0;  // embeddings: vector size of the first batch back
  uint64_t seed = 0;  // of the retry jitter (wire::Jitter)
  NeedResult result;
};

struct LlmClient::Rep {
  LlmClientOptions opt;
  std::string chat_url, embed_url;
  std::string chat_auth, embed_auth;  // header lines; secret
  std::string user_agent;
  CURLM* multi = nullptr;
  std::map<uint64_t, std::unique_ptr<Job>> jobs;
  std::vector<Completion> finished;
  std::mt19937_64 rng;
  std::unique_ptr<Redactor> redactions;  // null: none
  size_t running = 0;
  int64_t origin_ns = SteadyNs();

  ~Rep() {
    for (auto& [id, job] : jobs) DropTransfers(job.get());
    if (multi) curl_multi_cleanup(multi);
    if (!chat_auth.empty()) explicit_bzero(chat_auth.data(), chat_auth.size());
    if (!embed_auth.empty()) explicit_bzero(embed_auth.data(), embed_auth.size());
  }

  double Now() const { return static_cast<double>(SteadyNs() - origin_ns) / 1e6; }

  // What may leave for the endpoint: the key and the configured patterns
  // redacted (foldback's linear-time patterns: no text can make them
  // backtrack or recurse).
  std::string Outbound(const ApiKey& key, const std::string& text) const {
    std::string out = key.Redact(text);
    return redactions ? redactions->Redact(out) : out;
  }

  void DropTransfer(Call* call) {
    if (call->easy) {
      curl_multi_remove_handle(multi, call->easy);
      curl_easy_cleanup(call->easy);
      call->easy = nullptr;
      if (call->state == Call::State::kRunning) --running;
    }
    if (call->headers) {
      FreeHeaders(call->headers);
      call->headers = nullptr;
    }
  }

  void DropTransfers(Job* job) {
    for (auto& call : job->calls) DropTransfer(call.get());
  }

  void FinishJob(uint64_t id, Status status) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return;
    Job* job = it->second.get();
    DropTransfers(job);
    job->result.status = std::move(status);
    job->result.elapsed_ms = Now() - job->start_ms;
    uint32_t attempts = 0;
    for (auto& call : job->calls) attempts += call->attempts;
    job->result.attempts = attempts;
    if (!job->result.status.ok()) {
      job->result.text.clear();
      job->result.vectors.clear();
    }
    finished.push_back(Completion{id, std::move(job->result)});
    jobs.erase(it);
  }

  // A need answered without any HTTP (no endpoint, bad request, no texts).
  void FinishNow(const Need& need, Status status) {
    NeedResult r;
    r.status = std::move(status);
    r.attempts = 0;
    finished.push_back(Completion{need.id, std::move(r)});
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    Call* call = static_cast<Call*>(user);
    size_t bytes = size * n;
    if (call->reply.size() + bytes > call->max_reply) {
      call->too_large = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    call->reply.append(data, bytes);
    return bytes;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    Call* call = static_cast<Call*>(user);
    size_t bytes = size * n;
    std::string line(data, bytes);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.compare(0, 5, "HTTP/") == 0) {
      call->reply_headers.clear();  // a new response (after 100 Continue, say)
      return bytes;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return bytes;
    size_t v = line.find_first_not_of(" \t", colon + 1);
    call->reply_headers.push_back({line.substr(0, colon), v == std::string::npos ? "" : line.substr(v)});
    return bytes;
  }

  // Starts the next attempt of `call`. False (and the job finished) when the
  // transfer could not even be set up.
  bool StartAttempt(Call* call, double now) {
    Job* job = call->job;
    double left = job->deadline_ms - now;
    double limit = left;
    if (opt.attempt_timeout_ms > 0) limit = std::min(limit, opt.attempt_timeout_ms);
    CURL* easy = curl_easy_init();
    if (!easy) {
      FinishJob(job->need.id, Status::Internal("could not create an HTTP transfer (out of memory?)"));
      return false;
    }
    call->easy = easy;
    call->reply.clear();
    call->reply_headers.clear();
    call->too_large = false;
    call->errbuf[0] = '\0';
    call->max_reply = opt.max_reply_bytes;
    if (!call->headers) {
      curl_slist* h = nullptr;
      for (const wire::Header& header : wire::RequestHeaders()) {
        h = curl_slist_append(h, (header.name + ": " + header.value).c_str());
      }
      if (!job->auth->empty()) h = curl_slist_append(h, job->auth->c_str());
      h = curl_slist_append(h, "Expect:");  // no 100-continue round trip
      call->headers = h;
    }
    curl_easy_setopt(easy, CURLOPT_URL, job->url->c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call->body.size()));
    curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip");  // cheap to inflate; brotli is slow to make
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!opt.ca_bundle.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, opt.ca_bundle.c_str());
    // The need's own deadline is enforced by Pump() on the client's clock, so
    // a result never comes back before the time the session gave it has
    // passed; libcurl's timer (which may fire a millisecond early) gets a
    // little grace. An attempt limit shorter than that is libcurl's to enforce.
    double curl_limit = limit < left ? limit : left + kCurlGraceMs;
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max(1.0, std::ceil(curl_limit))));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max(1.0, std::ceil(std::min(limit, opt.connect_timeout_ms)))));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Rep::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Rep::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
      curl_easy_cleanup(easy);
      call->easy = nullptr;
      FinishJob(job->need.id, Status::Internal("could not start an HTTP transfer"));
      return false;
    }
    ++call->attempts;
    call->state = Call::State::kRunning;
    ++running;
    return true;
  }

  // What the core needs to read a response to `call`.
  wire::RequestContext Context(const Call& call) const {
    const Job& job = *call.job;
    wire::RequestContext c;
    c.endpoint = *job.endpoint;
    c.url = *job.url;
    c.kind = job.need.kind;
    c.expected_vectors = call.count;
    c.has_key = !job.endpoint->key.empty();
    c.key_source = job.endpoint->key.source();
    c.key_hint = "--api-key-env VAR";
    c.now_unix_ms = std::chrono::duration<double, std::milli>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    return c;
  }

  // Ends `call`'s job with `status`, the key redacted from its message.
  void Fail(Call* call, const Status& status) {
    Job* job = call->job;
    FinishJob(job->need.id, Status::FromCode(status.code(), job->endpoint->key.Redact(status.message())));
  }

  // After an attempt of `call`: takes a parsed reply, or schedules the next
  // attempt, or ends the job — as the core decides.
  void Settle(Call* call, wire::Attempt attempt, double now) {
    Job* job = call->job;
    if (attempt.status.ok()) {
      OnReply(call, std::move(attempt));
      return;
    }
    wire::RetryDecision d = wire::DecideRetry(opt.retry, call->attempts, attempt, now, job->deadline_ms,
                                              job->budget_ms, job->seed + call->first);
    if (d.retry) {
      call->state = Call::State::kWaiting;
      call->not_before_ms = now + d.delay_ms;
      return;
    }
    uint32_t attempts = 0;
    for (auto& c : job->calls) attempts += c->attempts;
    Fail(call, wire::FinalStatus(attempt, attempts, d));
  }

  void OnDone(Call* call, CURLcode code, double now) {
    Job* job = call->job;
    long status = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    // The transfer is over either way.
    curl_multi_remove_handle(multi, call->easy);
    curl_easy_cleanup(call->easy);
    call->easy = nullptr;
    --running;
    call->state = Call::State::kWaiting;

    if (code == CURLE_OK) {
      wire::HttpResponse response;
      response.status = status;
      response.body = call->reply;
      response.headers = std::move(call->reply_headers);
      call->reply_headers.clear();
      Settle(call, wire::ReadResponse(Context(*call), response), now);
      return;
    }
    using wire::TransportFailure;
    if (code == CURLE_WRITE_ERROR && call->too_large) {
      Settle(call, wire::TransportAttempt(TransportFailure::kTooLarge, *job->url, "",
                                          static_cast<double>(opt.max_reply_bytes)),
             now);
      return;
    }
    std::string why = call->errbuf[0] ? call->errbuf : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      if (now >= job->deadline_ms - 1) {
        Fail(call, wire::NeedTimedOut(*job->url, job->budget_ms, status));
        return;
      }
      Settle(call, wire::TransportAttempt(TransportFailure::kAttemptTimeout, *job->url, why, opt.attempt_timeout_ms),
             now);
      return;
    }
    bool hopeless = code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
                    code == CURLE_OUT_OF_MEMORY || code == CURLE_PEER_FAILED_VERIFICATION ||
                    code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CERTPROBLEM ||
                    code == CURLE_SSL_CIPHER || code == CURLE_SSL_ISSUER_ERROR ||
                    code == CURLE_SSL_PINNEDPUBKEYNOTMATCH || code == CURLE_WRITE_ERROR;
    bool cut = code == CURLE_PARTIAL_FILE ||
               ((code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING) && status > 0);
    TransportFailure failure = hopeless ? TransportFailure::kHopeless
                               : cut    ? TransportFailure::kCutOff
                                        : TransportFailure::kUnreachable;
    Settle(call, wire::TransportAttempt(failure, *job->url, why, 0), now);
  }

  // A parsed 2xx reply: into the job's result.
  void OnReply(Call* call, wire::Attempt reply) {
    Job* job = call->job;
    const ApiKey& key = job->endpoint->key;
    if (job->need.kind == Need::Kind::kLlm) {
      job->result.text = key.Redact(reply.text);
      job->result.model = key.Redact(reply.model);
      job->result.input_tokens = reply.input_tokens;
      job->result.output_tokens = reply.output_tokens;
    } else {
      size_t dim = reply.vectors.front().size();
      if (job->dim != 0 && dim != job->dim) {
        Fail(call,
             Status::IOError(fmt::format(
                 FMT_STRING("embeddings endpoint returned vectors of different sizes ({} and {})"),
                 job->dim, dim)));
        return;
      }
      job->dim = dim;
      auto& out = job->result.vectors;
      for (size_t i = 0; i < reply.vectors.size(); ++i) out[call->first + i] = std::move(reply.vectors[i]);
      if (!reply.model.empty()) job->result.model = key.Redact(reply.model);
    }
    call->state = Call::State::kDone;
    if (--job->calls_left == 0) FinishJob(job->need.id, Status::OK());
  }

  // One pass: deadlines, new attempts, transfers, completions.
  void Pump() {
    double now = Now();
    std::vector<uint64_t> expired;
    for (auto& [id, job] : jobs) {
      if (now >= job->deadline_ms) expired.push_back(id);
    }
    for (uint64_t id : expired) {
      Job* job = jobs[id].get();
      long seen = 0;
      for (auto& call : job->calls) {
        long status = 0;
        if (call->easy) curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status > 0) seen = status;
      }
      Fail(job->calls.front().get(), wire::NeedTimedOut(*job->url, job->budget_ms, seen));
    }
    // Due attempts, oldest need first (ids grow), up to max_in_flight.
    std::vector<std::pair<uint64_t, size_t>> due;
    for (auto& [id, job] : jobs) {
      for (size_t i = 0; i < job->calls.size(); ++i) {
        const Call& call = *job->calls[i];
        if (call.state == Call::State::kWaiting && call.not_before_ms <= now && !call.easy) {
          due.emplace_back(id, i);
        }
      }
    }
    for (const auto& [id, i] : due) {
      if (running >= opt.max_in_flight) break;
      auto it = jobs.find(id);  // a failed setup finishes (erases) its job
      if (it == jobs.end()) continue;
      StartAttempt(it->second->calls[i].get(), now);
    }
    int still_running = 0;
    curl_multi_perform(multi, &still_running);
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
      if (m->msg != CURLMSG_DONE) continue;
      Call* call = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&call));
      if (call == nullptr || call->easy != m->easy_handle) continue;
      OnDone(call, m->data.result, Now());
    }
  }

  // Milliseconds until something besides socket activity needs us.
  double NextWakeMs(double now) const {
    double wake = std::numeric_limits<double>::infinity();
    for (const auto& [id, job] : jobs) {
      wake = std::min(wake, job->deadline_ms);
      // Due calls beyond max_in_flight start when a transfer ends, which
      // wakes the poll anyway.
      if (running >= opt.max_in_flight) continue;
      for (const auto& call : job->calls) {
        if (call->state == Call::State::kWaiting && !call->easy) wake = std::min(wake, call->not_before_ms);
      }
    }
    return wake - now;
  }
};

LlmClient::LlmClient(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
LlmClient::~LlmClient() = default;

Result<std::unique_ptr<LlmClient>> LlmClient::Create(LlmClientOptions options) {
  GlobalInit();
  auto rep = std::make_unique<Rep>();
  if (!options.chat.url.empty()) {
    auto url = ResolveUrl(options.chat, Route::kChat);
    if (!url.ok()) return url.status().WithContext("chat endpoint");
    rep->chat_url = *url;
    rep->chat_auth = AuthHeader(options.chat);
  }
  if (!options.embed.url.empty()) {
    auto url = ResolveUrl(options.embed, Route::kEmbeddings);
    if (!url.ok()) return url.status().WithContext("embeddings endpoint");
    rep->embed_url = *url;
    rep->embed_auth = AuthHeader(options.embed);
  }
  if (!options.redact_patterns.empty()) {
    auto compiled = wire::CompileRedactionPatterns(options.redact_patterns);
    if (!compiled.ok()) return compiled.status();
    rep->redactions = std::move(compiled.value());
  }
  if (options.embed.embed_batch == 0) options.embed.embed_batch = 1;
  if (options.max_in_flight == 0) options.max_in_flight = 1;
  rep->multi = curl_multi_init();
  if (!rep->multi) return Status::Internal("could not create a libcurl multi handle");
  curl_multi_setopt(rep->multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_in_flight));
  uint64_t seed = options.jitter_seed;
  if (seed == 0) seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  rep->rng.seed(seed);
  rep->user_agent = std::string("foldback/") + Version();
  rep->opt = std::move(options);
  return std::unique_ptr<LlmClient>(new LlmClient(std::move(rep)));
}

Status LlmClient::Start(const Need& need) {
  Rep& r = *rep_;
  if (r.jobs.count(need.id)) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("need {} is already being performed"), need.id));
  }
  for (const Completion& c : r.finished) {
    if (c.need_id == need.id) {
      return Status::InvalidArgument(
          fmt::format(FMT_STRING("need {} is already being performed"), need.id));
    }
  }
  auto job = std::make_unique<Job>();
  job->need.id = need.id;
  job->need.kind = need.kind;
  job->start_ms = r.Now();
  bool limited = need.timeout_ms > 0 && std::isfinite(need.timeout_ms);
  job->budget_ms = limited ? need.timeout_ms : r.opt.default_timeout_ms;
  job->deadline_ms = job->start_ms + job->budget_ms;
  job->seed = r.rng();
  if (need.kind == Need::Kind::kLlm) {
    if (r.chat_url.empty()) {
      r.FinishNow(need, Status::NotSupported("no LLM endpoint configured"));
      return Status::OK();
    }
    LlmRequest request = need.llm;
    for (ChatMessage& m : request.messages) m.content = r.Outbound(r.opt.chat.key, m.content);
    auto body = BuildChatBody(r.opt.chat, request);
    if (!body.ok()) {
      r.FinishNow(need, body.status());
      return Status::OK();
    }
    job->endpoint = &r.opt.chat;
    job->url = &r.chat_url;
    job->auth = &r.chat_auth;
    auto call = std::make_unique<Call>();
    call->job = job.get();
    call->body = std::move(*body);
    job->calls.push_back(std::move(call));
  } else {
    if (r.embed_url.empty()) {
      r.FinishNow(need, Status::NotSupported("no embeddings endpoint configured"));
      return Status::OK();
    }
    const auto& texts = need.embed.texts;
    if (texts.empty()) {
      NeedResult ok;
      ok.attempts = 0;
      r.finished.push_back(Completion{need.id, std::move(ok)});
      return Status::OK();
    }
    job->endpoint = &r.opt.embed;
    job->url = &r.embed_url;
    job->auth = &r.embed_auth;
    job->result.vectors.resize(texts.size());
    size_t batch = r.opt.embed.embed_batch;
    for (size_t first = 0; first < texts.size(); first += batch) {
      size_t count = std::min(batch, texts.size() - first);
      std::vector<std::string> slice;
      slice.reserve(count);
      for (size_t i = first; i < first + count; ++i) slice.push_back(r.Outbound(r.opt.embed.key, texts[i]));
      auto call = std::make_unique<Call>();
      call->job = job.get();
      call->first = first;
      call->count = count;
      call->body = BuildEmbeddingsBody(r.opt.embed, slice);
      job->calls.push_back(std::move(call));
    }
  }
  job->calls_left = job->calls.size();
  for (auto& call : job->calls) call->not_before_ms = job->start_ms;
  r.jobs.emplace(need.id, std::move(job));
  r.Pump();  // the requests leave now, not at the next Wait()
  return Status::OK();
}

std::vector<Completion> LlmClient::Wait(double max_wait_ms) {
  Rep& r = *rep_;
  double end = max_wait_ms < 0 ? std::numeric_limits<double>::infinity() : r.Now() + max_wait_ms;
  for (;;) {
    r.Pump();
    if (!r.finished.empty()) {
      std::vector<Completion> out;
      out.swap(r.finished);
      return out;
    }
    if (r.jobs.empty()) return {};
    double now = r.Now();
    if (now >= end) return {};
    double wait = std::min({end - now, r.NextWakeMs(now), 1000.0});
    int wait_ms = static_cast<int>(std::max(0.0, std::ceil(wait)));
    curl_multi_poll(r.multi, nullptr, 0, wait_ms, nullptr);
  }
}

size_t LlmClient::pending() const { return rep_->jobs.size() + rep_->finished.size(); }

void LlmClient::Cancel(uint64_t need_id) {
  Rep& r = *rep_;
  auto it = r.jobs.find(need_id);
  if (it != r.jobs.end()) {
    r.DropTransfers(it->second.get());
    r.jobs.erase(it);
  }
  r.finished.erase(std::remove_if(r.finished.begin(), r.finished.end(),
                                  [&](const Completion& c) { return c.need_id == need_id; }),
                   r.finished.end());
}

void LlmClient::CancelAll() {
  Rep& r = *rep_;
  for (auto& [id, job] : r.jobs) r.DropTransfers(job.get());
  r.jobs.clear();
  r.finished.clear();
}

std::vector<NeedResult> LlmClient::PerformAll(const std::vector<Need>& needs) {
  std::vector<NeedResult> out(needs.size());
  std::map<uint64_t, size_t> slot;
  for (size_t i = 0; i < needs.size(); ++i) {
    slot[needs[i].id] = i;
    Status s = Start(needs[i]);
    if (!s.ok()) {
      out[i].status = s;
      out[i].attempts = 0;
      slot.erase(needs[i].id);
    }
  }
  size_t left = slot.size();
  while (left > 0 && pending() > 0) {
    for (Completion& c : Wait()) {
      auto it = slot.find(c.need_id);
      if (it == slot.end()) continue;
      out[it->second] = std::move(c.result);
      slot.erase(it);
      --left;
    }
  }
  return out;
}

const std::string& LlmClient::chat_url() const { return rep_->chat_url; }
const std::string& LlmClient::embed_url() const { return rep_->embed_url; }

}  // namespace foldback::llm
