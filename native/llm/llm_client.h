// The native host's answer to the ask engine's needs: LLM chat calls and
// embedding batches over HTTP (libcurl's multi interface), several in flight
// at once, with timeouts and retries as the OpenAI SDKs do them.
//
//   auto client = LlmClient::Create(options);
//   SteadyClock clock;
//   Status s = RunAsk(*session, **client, clock, [](const TraceEvent& e) { ... });
//
// Requests, replies, the status mapping and every retry decision are the
// core's (foldback/wire.h: ReadResponse, TransportAttempt, DecideRetry),
// the same in the C API and the JS host; this file moves the bytes with
// libcurl and keeps time. In short: at most `max_retries` (2) retries of
// 408, 409, 429, >= 500 and connection errors, after the OpenAI SDKs'
// backoff or the server's Retry-After (up to 60 s); the jitter comes from a
// seed drawn per need (LlmClientOptions::jitter_seed).
//
// Time: each need gets Need::timeout_ms (from the question's deadline) or
// LlmClientOptions::default_timeout_ms, covering all its attempts and waits.
//
// Secrets: the API key goes into one request header and nowhere else; every
// message in a NeedResult (and the reply text itself) is passed through
// ApiKey::Redact. Redirects are not followed (they could carry the header to
// another host); a 3xx is reported as an error naming the new location.
//
// Thread safety: one thread at a time per LlmClient. Different clients are
// independent.
#ifndef FOLDBACK_NATIVE_LLM_LLM_CLIENT_H_
#define FOLDBACK_NATIVE_LLM_LLM_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foldback/ask.h"
#include "foldback/redact.h"
#include "foldback/status.h"
#include "foldback/wire.h"
#include "llm/endpoint.h"

namespace foldback::llm {

// The host's monotonic clock, in milliseconds (the ask session's `now_ms`).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double NowMs() = 0;
};

// std::chrono::steady_clock, in milliseconds since the clock was made.
class SteadyClock final : public Clock {
 public:
  SteadyClock();
  double NowMs() override;

 private:
  int64_t origin_ns_;
};

// The retry policy (backoff, Retry-After cap) is the core's, as every host's.
using RetryPolicy = wire::RetryPolicy;

struct LlmClientOptions {
  // The chat endpoint. An empty url means none: LLM needs then fail at once
  // with NotSupported (the engine falls back to RM3).
  EndpointConfig chat;
  // The embeddings endpoint. An empty url means none: embedding needs fail
  // at once with NotSupported.
  EndpointConfig embed;
  RetryPolicy retry;
  // TCP + TLS connect limit per attempt. Default: 5000 ms (the OpenAI SDKs').
  double connect_timeout_ms = 5000;
  // Time a need may take, all attempts included, when Need::timeout_ms is 0.
  // Default: 120000 ms.
  double default_timeout_ms = 120000;
  // Limit of one attempt; 0 = whatever is left of the need's time.
  // Default: 0.
  double attempt_timeout_ms = 0;
  // Largest reply body accepted. Default: 32 MiB.
  size_t max_reply_bytes = size_t{32} << 20;
  // Seed of the retry jitter; 0 = from std::random_device. Default: 0.
  uint64_t jitter_seed = 0;
  // PEM file of certificate authorities to trust instead of the system's
  // (e.g. a firm's TLS-inspecting proxy). Default: "" (the system store).
  // Proxies come from the usual environment variables (https_proxy, no_proxy).
  std::string ca_bundle;
  // Most HTTP requests in flight at once (more wait their turn). Default: 16.
  uint32_t max_in_flight = 16;
  // Outbound redaction: patterns in foldback's redaction language
  // (foldback/redact.h: the common ECMAScript subset, matched in linear
  // time, so hostile text can neither hang nor crash it as std::regex's
  // backtracking can); every match in a chat message or a text to embed is
  // replaced by "[REDACTED]" before the request leaves (e.g.
  // \b\d{3}-\d{2}-\d{4}\b for US social security numbers). The API key
  // itself is always redacted from what is sent. Create() says
  // InvalidArgument for a pattern outside the language.
  std::vector<std::string> redact_patterns;
};

// A finished need.
struct Completion {
  uint64_t need_id = 0;
  NeedResult result;
};

class LlmClient {
 public:
  // InvalidArgument when a configured endpoint's URL does not resolve (see
  // ResolveUrl); the message never contains the key.
  static Result<std::unique_ptr<LlmClient>> Create(LlmClientOptions options);
  ~LlmClient();
  LlmClient(const LlmClient&) = delete;
  LlmClient& operator=(const LlmClient&) = delete;

  // Starts performing `need` and returns at once; its result comes from
  // Wait(). InvalidArgument (and nothing started) when a need with the same
  // id is still pending.
  Status Start(const Need& need);

  // Drives the transfers until at least one need has finished, or
  // `max_wait_ms` has passed (< 0: no limit), or nothing is pending. Returns
  // the needs finished so far, in any order. A finished need's result is
  // never OK with missing data: kLlm has text, kEmbed one vector per text.
  std::vector<Completion> Wait(double max_wait_ms = -1);

  // Needs started and not yet returned by Wait().
  size_t pending() const;

  // Abandons a need: its transfers stop and Wait() will not report it.
  // No-op for an unknown id.
  void Cancel(uint64_t need_id);
  void CancelAll();

  // Blocking convenience: performs `needs` concurrently and returns their
  // results in the same order. REQUIRES: nothing else pending, unique ids.
  std::vector<NeedResult> PerformAll(const std::vector<Need>& needs);

  // Endpoint URLs in use ("" when none), for display. No secrets in them.
  const std::string& chat_url() const;
  const std::string& embed_url() const;

  struct Rep;

 private:
  explicit LlmClient(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Runs an ask session to completion: hands its needs to `client` (several in
// flight at once), provides each result as soon as it arrives with
// now_ms = clock.NowMs(), calls session.Tick() at least every 50 ms while
// waiting (so a passed deadline is noticed without a result), and passes
// every trace event to `on_event` (may be empty) as it happens. Returns OK once session.done(); the session's result
// says what happened (fallbacks, errors). Returns Internal when the session
// is not done but asks for nothing, or rejects a result it asked for.
// Needs still in flight when the session finishes are cancelled.
using TraceEventFn = std::function<void(const TraceEvent& event)>;
Status RunAsk(AskSession& session, LlmClient& client, Clock& clock, const TraceEventFn& on_event);

namespace internal {

// The redactor of LlmClientOptions::redact_patterns: the core's
// wire::CompileRedactionPatterns (kept under this name for its callers).
inline Result<std::unique_ptr<Redactor>> CompileRedactions(const std::vector<std::string>& patterns) {
  return wire::CompileRedactionPatterns(patterns);
}

}  // namespace internal

}  // namespace foldback::llm

#endif  // FOLDBACK_NATIVE_LLM_LLM_CLIENT_H_
