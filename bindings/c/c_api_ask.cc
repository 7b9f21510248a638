// The C ABI: ask sessions — needs, answers, the HTTP driver, events, results.
#include "c_api.h"
#include "c_api_session.h"

#include <random>

#include <fmt/format.h>

#include "foldback/telemetry.h"
#include "host/otlp_exporter.h"

namespace foldback::capi {
namespace {

using foldback::AskOptions;
using foldback::AskSession;
using foldback::Need;
using foldback::NeedResult;
using foldback::TraceEvent;

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
  // The trace carries the answer a feedback record keeps (Trace::answer).
  a->trace_json = foldback::TraceToJson(r.trace);
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
}  // namespace foldback::capi

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API
using foldback::AskOptions;
using foldback::AskSession;
using foldback::Need;
using foldback::NeedResult;
using foldback::TraceEvent;

extern "C" {

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
  p.syntax = static_cast<fb_query_syntax>(o.search.syntax);
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
      return Fail(&h->err, FB_EINVALID,
                  fmt::format(FMT_STRING("unknown rewrite mode {}"), rewrite));
    }
    o.rewrite = static_cast<foldback::RewriteMode>(rewrite);
    o.variants = p.variants;
    o.context_token_budget = p.context_token_budget;
    o.deadline_ms = p.deadline_ms;
    o.retry_budget = p.retry_budget;
    Status s = SearchOptionsOf(IntOf(p.mode), p.filters, p.filter_count, p.restrict_matters,
                               p.allowed_matters, p.allowed_matter_count, IntOf(p.syntax),
                               &o.search);
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
      auto redactor = foldback::wire::CompileRedactionPatterns(patterns);
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
    auto session =
        AskSession::Start(*h->state->index, question, o, now_ms,
                          a->program ? &a->program->program : nullptr, a->foldback.get());
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
    std::unique_ptr<fb_needs> list = NeedsList(a->session->TakeNeeds());
    for (const Need& n : list->needs) a->pending[n.id] = n;
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
// The refusal of every call naming a need the session is not waiting for.
int UnknownNeed(fb_ask* a, uint64_t need_id) {
  return Fail(&a->err, FB_EINVALID,
              fmt::format(FMT_STRING("need {} is unknown or already answered"), need_id));
}

int ProvideResult(fb_ask* a, uint64_t need_id, NeedResult result, double now_ms) {
  Status s = a->session->Provide(need_id, std::move(result), now_ms);
  if (!s.ok()) return Report(&a->err, s);
  a->pending.erase(need_id);
  a->http_attempts.erase(need_id);
  return FB_OK;
}

}  // namespace

int fb_ask_provide(fb_ask* a, uint64_t need_id, const fb_need_result* result, double now_ms) {
  if (!a) return FB_EINVALID;
  if (!result) return Fail(&a->err, FB_EINVALID, "result is NULL");
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) return UnknownNeed(a, need_id);
    NeedResult r;
    int code = NeedResultOf(&a->err, *result, it->second.kind, &r);
    if (code != FB_OK) return code;
    return ProvideResult(a, need_id, std::move(r), now_ms);
  });
}

int fb_ask_tick(fb_ask* a, double now_ms) { return TickSession(a, now_ms); }

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
    if (it == a->pending.end()) return UnknownNeed(a, need_id);
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
  if (!a) return FB_EINVALID;
  if (!body && body_len) return Fail(&a->err, FB_EINVALID, "body is NULL with body_len > 0");
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) return UnknownNeed(a, need_id);
    // The core reads the reply, as every host's: one status mapping
    // (foldback/wire.h: CodeForHttpStatus), one parser.
    const Need& n = it->second;
    foldback::wire::RequestContext context;
    context.kind = n.kind;
    context.expected_vectors = n.embed.texts.size();
    context.has_key = true;  // the host holds it; a 401 says "check the API key"
    foldback::wire::HttpResponse response;
    response.status = http_status;
    response.body = std::string_view(body ? body : "", body ? body_len : 0);
    NeedResult r = foldback::wire::NeedResultFromResponse(context, response);
    r.elapsed_ms = std::isfinite(elapsed_ms) && elapsed_ms > 0 ? elapsed_ms : 0;
    return ProvideResult(a, need_id, std::move(r), now_ms);
  });
}

fb_http_attempt fb_http_attempt_default(void) {
  fb_http_attempt a;
  std::memset(&a, 0, sizeof a);
  a.transport = FB_TRANSPORT_OK;
  return a;
}

int fb_ask_http_attempt(fb_ask* a, uint64_t need_id, const fb_llm_endpoint_params* endpoint,
                        const fb_http_attempt* attempt, double now_ms, double* retry_in_ms_out) {
  namespace llm = foldback::llm;
  namespace wire = foldback::wire;
  if (retry_in_ms_out) *retry_in_ms_out = -1;
  if (!a) return FB_EINVALID;
  if (!endpoint || !attempt || !retry_in_ms_out) {
    return Fail(&a->err, FB_EINVALID, "endpoint, attempt or retry_in_ms_out is NULL");
  }
  if (!attempt->body && attempt->body_len) {
    return Fail(&a->err, FB_EINVALID, "attempt->body is NULL with body_len > 0");
  }
  if (!attempt->headers && attempt->header_count) {
    return Fail(&a->err, FB_EINVALID, "attempt->headers is NULL with header_count > 0");
  }
  int transport = IntOf(attempt->transport);  // a C caller may store any int in it
  if (transport < FB_TRANSPORT_OK || transport > FB_TRANSPORT_NEED_TIMEOUT) {
    return Fail(&a->err, FB_EINVALID,
                fmt::format(FMT_STRING("attempt->transport {} is not an fb_transport"), transport));
  }
  if (!std::isfinite(now_ms)) return Fail(&a->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&a->err, [&]() -> int {
    auto it = a->pending.find(need_id);
    if (it == a->pending.end()) return UnknownNeed(a, need_id);
    const Need& n = it->second;
    bool embed = n.kind == Need::Kind::kEmbed;
    auto config = EndpointOf(*endpoint, embed);
    if (!config.ok()) return Report(&a->err, config.status());
    auto url = llm::ResolveUrl(*config, embed ? llm::Route::kEmbeddings : llm::Route::kChat);
    if (!url.ok()) return Report(&a->err, url.status());
    double elapsed = std::isfinite(attempt->elapsed_ms) && attempt->elapsed_ms > 0 ? attempt->elapsed_ms : 0;

    // The need's clock starts with its first attempt.
    auto& track = a->http_attempts[need_id];
    if (track.attempts == 0) {
      double default_ms = endpoint->timeout_ms > 0 ? endpoint->timeout_ms : 120000;
      track.budget_ms = n.timeout_ms > 0 ? n.timeout_ms : default_ms;
      track.deadline_ms = now_ms - elapsed + track.budget_ms;
      track.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    }
    ++track.attempts;

    wire::RequestContext context;
    context.endpoint = *config;
    context.url = *url;
    context.kind = n.kind;
    context.expected_vectors = n.embed.texts.size();
    // Without api_key the host holds the key it sent: a 401 then says
    // "check the API key", as fb_ask_provide_http_response does.
    context.has_key = true;
    context.key_source = config->key.source();
    context.now_unix_ms = attempt->now_unix_ms > 0
                              ? attempt->now_unix_ms
                              : std::chrono::duration<double, std::milli>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();

    wire::Attempt outcome;
    Status final_status;
    bool final = false;
    if (transport == FB_TRANSPORT_NEED_TIMEOUT) {
      final_status = wire::NeedTimedOut(*url, track.budget_ms, attempt->http_status);
      final = true;
    } else if (transport == FB_TRANSPORT_OK) {
      wire::HttpResponse response;
      response.status = attempt->http_status;
      for (size_t i = 0; i < attempt->header_count; ++i) {
        response.headers.push_back({Str(attempt->headers[i].name), Str(attempt->headers[i].value)});
      }
      response.body = std::string_view(attempt->body ? attempt->body : "",
                                       attempt->body ? attempt->body_len : 0);
      outcome = wire::ReadResponse(context, response);
    } else {
      static constexpr wire::TransportFailure kFailures[] = {
          wire::TransportFailure::kUnreachable, wire::TransportFailure::kUnreachable,
          wire::TransportFailure::kCutOff,      wire::TransportFailure::kAttemptTimeout,
          wire::TransportFailure::kHopeless,    wire::TransportFailure::kTooLarge};
      outcome = wire::TransportAttempt(kFailures[transport], *url, Str(attempt->why),
                                       attempt->limit);
    }

    if (!final && !outcome.status.ok()) {
      wire::RetryPolicy policy;
      policy.max_retries = endpoint->max_retries;
      wire::AfterFailure f = wire::AfterFailedAttempt(policy, track.attempts, outcome, now_ms,
                                                      track.deadline_ms, track.budget_ms, track.seed);
      if (f.retry) {
        *retry_in_ms_out = f.delay_ms;
        return FB_OK;
      }
      final_status = std::move(f.status);
      final = true;
    }
    NeedResult r;
    r.elapsed_ms = elapsed;
    r.attempts = track.attempts;
    if (final) {
      // A server may echo the key in its error text.
      r.status = Status::FromCode(final_status.code(), config->key.Redact(final_status.message()));
    } else {
      r.text = std::move(outcome.text);
      r.vectors = std::move(outcome.vectors);
      r.model = std::move(outcome.model);
      r.input_tokens = outcome.input_tokens;
      r.output_tokens = outcome.output_tokens;
    }
    a->http_attempts.erase(need_id);
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
      return Fail(
          &a->err, FB_ESTATE,
          fmt::format(FMT_STRING("{} need(s) taken with fb_ask_take_needs are still unanswered: "
                                 "answer them first or run the whole session with fb_ask_run_http"),
                      a->pending.size()));
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

int fb_ask_otlp_json(fb_ask* a, double start_unix_ms, const fb_llm_endpoint_params* endpoint,
                     const char* service_name, int capture_content, char** json_out) {
  namespace telemetry = foldback::telemetry;
  if (!a) return FB_EINVALID;
  if (!json_out) return Fail(&a->err, FB_EINVALID, "json_out is NULL");
  *json_out = nullptr;
  if (!std::isfinite(start_unix_ms) || start_unix_ms < 0) {
    return Fail(&a->err, FB_EINVALID, "start_unix_ms is not a time (ms since 1970)");
  }
  return Guard(&a->err, [&]() -> int {
    if (!Views(a)) return Fail(&a->err, FB_ESTATE, "the session is not done yet (fb_ask_done)");
    telemetry::SpanOptions o;
    o.start_unix_ms = start_unix_ms;
    o.capture_content = capture_content != 0;
    if (endpoint && endpoint->url && *endpoint->url) {
      o.provider = endpoint->provider && *endpoint->provider ? endpoint->provider : "openai";
      o.request_model = Str(endpoint->model);
      foldback::telemetry::ServerOfUrl(endpoint->url, &o.server_address, &o.server_port);
    }
    std::string body = telemetry::OtlpTracesJson(telemetry::SpansFromTrace(a->session->result().trace, o),
                                                 Str(service_name));
    char* out = Dup(body);
    if (!out) return Fail(&a->err, FB_ENOMEM, "out of memory");
    *json_out = out;
    return FB_OK;
  });
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

}  // extern "C"
