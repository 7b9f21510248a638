// The wire protocol of remote models, once for every host: how an
// OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, vLLM,
// text-embeddings-inference) is addressed, what a request carries, what a
// reply means, and when a failed attempt is worth another.
//
// Like the rest of the core this file does no I/O and reads no clock: a host
// (libcurl natively, fetch() in the browser, a C# HttpClient through the C
// API) sends the bytes built here, hands back what came (status, headers,
// body), and keeps time:
//
//   Endpoint ep{.provider = Provider::kOpenAI, .url = "https://api.openai.com/v1", .model = "gpt-4o-mini"};
//   auto url = ResolveUrl(ep, Route::kChat);            // https://api.openai.com/v1/chat/completions
//   auto body = BuildChatBody(ep, need.llm);            // + RequestHeaders() + the key's header
//   ... POST, read status/headers/body ...
//   Attempt a = ReadResponse(context, response);        // parsed reply, or why not
//   if (!a.status.ok()) {
//     RetryDecision d = DecideRetry(policy, attempts, a, now_ms, deadline_ms, budget_ms, seed);
//     if (d.retry) wait d.delay_ms and send again; else result.status = FinalStatus(a, attempts, d);
//   }
//
// Secrets: the API key never enters this file. The host adds the one
// authentication header itself (AuthHeaderName says which) and passes every
// message it shows through its own key redaction (the server may echo a key).
//
// Thread safety: every function is pure.
#ifndef FOLDBACK_WIRE_H_
#define FOLDBACK_WIRE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"
#include "foldback/status.h"

namespace foldback {

class Redactor;

namespace wire {

// ---------------------------------------------------------------- endpoints

// How an endpoint wants to be spoken to.
//   kOpenAI  api.openai.com or any OpenAI-compatible server: Bearer key,
//            `max_completion_tokens`, `response_format` json_schema.
//   kAzure   Azure OpenAI: deployment URL with ?api-version=, `api-key`
//            header, `max_completion_tokens`, `response_format` json_schema.
//   kOllama  Ollama's OpenAI-compatible /v1: `max_tokens`; Ollama (>= 0.5)
//            turns `response_format` json_schema into its own `format`.
//   kVllm    vLLM's OpenAI-compatible server: `max_tokens`,
//            `response_format` json_schema (guided decoding).
//   kTei     HuggingFace text-embeddings-inference (embeddings only): its
//            OpenAI-compatible /v1/embeddings route.
enum class Provider : int { kOpenAI = 0, kAzure = 1, kOllama = 2, kVllm = 3, kTei = 4 };
FOLDBACK_EXPORT const char* ProviderName(Provider provider);  // "openai" | "azure" | ...
FOLDBACK_EXPORT bool ParseProvider(std::string_view name, Provider* provider);
// The provider a host assumes when the user names none: kAzure for a host
// ending in .openai.azure.com, else kOpenAI.
FOLDBACK_EXPORT Provider GuessProvider(std::string_view url);

// Azure OpenAI data-plane API version used when none is given (GA; supports
// structured outputs and max_completion_tokens).
inline constexpr const char* kDefaultAzureApiVersion = "2024-10-21";

// One endpoint as the user configured it, without its key.
struct Endpoint {
  Provider provider = Provider::kOpenAI;
  // OpenAI, Ollama, vLLM, TEI: the API base URL, e.g. https://api.openai.com/v1
  // or http://localhost:11434/v1. A URL with no path gets /v1 appended; a URL
  // already ending in /chat/completions or /embeddings is used as is.
  // Azure: the resource endpoint https://{resource}.openai.azure.com (the
  // deployment is `model`), or a deployment URL
  // https://{resource}.openai.azure.com/openai/deployments/{deployment}
  // [/chat/completions|/embeddings][?api-version=V].
  // Credentials never go in the URL (rejected, see ResolveUrl).
  std::string url;
  // The model name (sent in the body). Azure: the deployment name, unless the
  // URL names the deployment; Azure bodies carry no model. TEI: optional.
  std::string model;
  // Azure only: the api-version query parameter. Default:
  // kDefaultAzureApiVersion (or the one in the URL).
  std::string api_version;
  // Send `response_format` with the request's JSON schema when it has one.
  // Turn off for servers that reject it. Default: true.
  bool structured_output = true;
  // Texts per /embeddings request; a bigger embedding need is split.
  // Default: 64 (TEI's own default limit is 32: set 32 for TEI).
  uint32_t embed_batch = 64;
};

enum class Route : int { kChat = 0, kEmbeddings = 1 };

// The full request URL of `route` on `endpoint` (no secrets in it): scheme
// and host lower-cased, the fragment dropped. InvalidArgument for: an empty
// URL, a scheme other than http/https, no host, spaces or control
// characters, credentials in the URL ("user:pass@host"; the message never
// repeats them), an Azure URL without a deployment, TEI for chat.
FOLDBACK_EXPORT Result<std::string> ResolveUrl(const Endpoint& endpoint, Route route);

// ---------------------------------------------------------------- requests

struct Header {
  std::string name;
  std::string value;
};

// The headers every request carries besides the key's: Content-Type and
// Accept application/json.
FOLDBACK_EXPORT std::vector<Header> RequestHeaders();

// The name of the header the API key goes in: "api-key" (Azure) or
// "Authorization" (the value then is "Bearer " + key).
FOLDBACK_EXPORT const char* AuthHeaderName(Provider provider);
// "Bearer " for Authorization, "" for api-key.
FOLDBACK_EXPORT const char* AuthValuePrefix(Provider provider);

// JSON body of a chat completion request. InvalidArgument when
// request.json_schema is not a JSON object. Invalid UTF-8 becomes U+FFFD.
FOLDBACK_EXPORT Result<std::string> BuildChatBody(const Endpoint& endpoint, const LlmRequest& request);

// JSON body of an embeddings request for `texts`.
FOLDBACK_EXPORT std::string BuildEmbeddingsBody(const Endpoint& endpoint,
                                                const std::vector<std::string>& texts);

// ---------------------------------------------------------------- replies

// A parsed chat completion.
struct ChatReply {
  std::string content;        // choices[0].message.content
  std::string model;          // "model", when present
  std::string finish_reason;  // choices[0].finish_reason, when present
  int64_t prompt_tokens = -1;      // usage.prompt_tokens, -1 when absent
  int64_t completion_tokens = -1;  // usage.completion_tokens, -1 when absent
};

// Parses a chat completion (OpenAI shape: choices[0].message.content; a
// content given as an array of text parts is joined). IOError with a clear
// message for invalid JSON, a truncated body, an error object, a refusal, a
// missing or non-string content. Never throws.
FOLDBACK_EXPORT Result<ChatReply> ParseChatCompletion(std::string_view body);

struct EmbeddingsReply {
  std::vector<std::vector<float>> vectors;  // in input order
  std::string model;
};

// Parses an embeddings reply (data[i].embedding as a float array, ordered
// by data[i].index). IOError when the JSON is invalid, the count is not
// `expected`, the indexes are not 0..expected-1, dimensions differ, a value
// is not finite, or the vectors are base64 strings.
FOLDBACK_EXPORT Result<EmbeddingsReply> ParseEmbeddings(std::string_view body, size_t expected);

// The human part of an error reply: error.message (OpenAI, Azure, vLLM),
// error (Ollama, TEI), message or detail; else the body's start. Control
// characters dropped, cut at 300 bytes. NOT redacted.
FOLDBACK_EXPORT std::string ServerErrorMessage(std::string_view body);

// "401 Unauthorized", "429 Too Many Requests", "599" for an unknown code.
FOLDBACK_EXPORT std::string HttpStatusText(long status);

// "750 ms", "12 s" (10 s and more in whole seconds).
FOLDBACK_EXPORT std::string FormatMs(double ms);

// ---------------------------------------------------------------- status mapping

// The one HTTP status -> Status mapping of every host:
//   2xx        OK
//   3xx        InvalidArgument (redirects are not followed: they could carry
//              the key's header to another host)
//   401, 403   PermissionDenied
//   404        NotFound
//   408, 409, 429, >= 500   Unavailable (retryable)
//   other 4xx, and anything outside 100..599   InvalidArgument
FOLDBACK_EXPORT Status::Code CodeForHttpStatus(long status);

// Whether a reply with this status (and `x-should-retry` header value, ""
// when absent) is worth another attempt: 408, 409, 429 and >= 500 are (as
// the OpenAI SDKs decide); "true" / "false" override.
FOLDBACK_EXPORT bool ShouldRetryStatus(long status, std::string_view x_should_retry);

// ---------------------------------------------------------------- retries

struct RetryPolicy {
  // Retries after the first attempt. Default: 2 (three attempts in all).
  uint32_t max_retries = 2;
  // Backoff: min(initial * 2^n, max) times a jitter in (0.75, 1].
  // Defaults: 500 ms, 8000 ms.
  double initial_delay_ms = 500;
  double max_delay_ms = 8000;
  // Server-directed waits (Retry-After, retry-after-ms) are honoured up to
  // this; longer ones end the retries. Default: 60000 ms.
  double max_retry_after_ms = 60000;
};

// The wait before retry number `retry` (0-based), in ms: `retry_after_ms`
// when in (0, max_retry_after_ms], else min(initial * 2^retry, max) *
// (1 - 0.25 u) for a jitter `u` in [0, 1).
FOLDBACK_EXPORT double RetryDelayMs(const RetryPolicy& policy, uint32_t retry, double retry_after_ms,
                                    double u);

// The jitter of retry `retry` of a request whose host drew `seed` (any
// value; a host draws one per request): a number in [0, 1), the same for the
// same pair on every host.
FOLDBACK_EXPORT double Jitter(uint64_t seed, uint32_t retry);

// Server-directed wait from reply headers, in ms: `retry-after-ms`
// (milliseconds), else `Retry-After` as (fractional) seconds, else as an
// HTTP-date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" or asctime "Sun Nov  6 08:49:37 1994")
// relative to `now_unix_ms`. -1 when both are absent or unparseable; may be
// negative for a date in the past.
FOLDBACK_EXPORT double ParseRetryAfterMs(std::string_view retry_after_ms, std::string_view retry_after,
                                         double now_unix_ms);

// An HTTP response as the host received it.
struct HttpResponse {
  long status = 0;
  // In any order; names compared case-insensitively. Where a name repeats,
  // the last one counts.
  std::vector<Header> headers;
  std::string_view body;
  // The value of header `name` ("" when absent), trimmed.
  FOLDBACK_EXPORT std::string HeaderValue(std::string_view name) const;
};

// What the host knows about the request a response answers.
struct RequestContext {
  Endpoint endpoint;
  std::string url;             // ResolveUrl's
  Need::Kind kind = Need::Kind::kLlm;
  size_t expected_vectors = 0;  // kEmbed: texts in this request
  bool has_key = false;
  // Where the key came from, for messages ("$OPENAI_API_KEY"); never the key.
  std::string key_source;
  // How to give a key, for the message of a 401 without one
  // ("--api-key-env VAR"). Default: none.
  std::string key_hint;
  double now_unix_ms = 0;  // wall clock, for an HTTP-date Retry-After
};

// One attempt's outcome.
struct Attempt {
  // OK: the reply parsed into text/model or vectors/model. Else why not, in
  // words for a lawyer (server text included: redact the key before showing).
  Status status;
  bool retryable = false;       // another attempt could help
  double retry_after_ms = -1;   // what the server asked for; -1: nothing
  std::string text;             // kLlm
  std::string model;
  std::vector<std::vector<float>> vectors;  // kEmbed
  int64_t input_tokens = -1;   // kLlm: usage.prompt_tokens, -1 when absent
  int64_t output_tokens = -1;  // kLlm: usage.completion_tokens
};

// Reads an HTTP response: a 2xx body parsed (IOError when it does not
// parse: not retried), anything else mapped by CodeForHttpStatus with the
// server's message and a hint (401: the key; 403: the key's rights; 404:
// the URL and model; 429: rate limited), ShouldRetryStatus with the
// `x-should-retry` header, and ParseRetryAfterMs of its headers.
FOLDBACK_EXPORT Attempt ReadResponse(const RequestContext& context, const HttpResponse& response);

// Attempts that ended without a response.
enum class TransportFailure : int {
  kUnreachable = 0,     // refused, DNS, TLS handshake, reset before a reply: retryable
  kCutOff = 1,          // the connection closed in the middle of the reply: retryable
  kAttemptTimeout = 2,  // one attempt's own limit passed (not the need's): retryable
  kHopeless = 3,        // retrying cannot help (bad CA file, unsupported protocol): Unavailable
  kTooLarge = 4,        // the reply is larger than the host accepts: OutOfRange
};
// `why`: the transport's own words ("Connection refused"); `limit_ms`: the
// attempt limit (kAttemptTimeout) or the byte limit (kTooLarge).
FOLDBACK_EXPORT Attempt TransportAttempt(TransportFailure failure, std::string_view url,
                                         std::string_view why, double limit_ms);

// The need's whole time ran out (all attempts and waits): DeadlineExceeded
// naming the URL and the limit, and `status_seen` (> 0) when the endpoint
// had sent headers and then stalled.
FOLDBACK_EXPORT Status NeedTimedOut(std::string_view url, double budget_ms, long status_seen);

struct RetryDecision {
  bool retry = false;
  double delay_ms = 0;  // retry: wait this long, then send again
  // Not retried although retryable: "; not retried: ..." (why), else "".
  std::string note;
};

// After a failed attempt (attempt.status not OK): another attempt after
// delay_ms when the attempt is retryable, fewer than policy.max_retries
// retries were taken (`attempts` counts the attempts made, this one
// included), the server asks for no wait beyond max_retry_after_ms, and the
// wait ends before `deadline_ms` (the host's monotonic time, like `now_ms`;
// `budget_ms` is the need's whole time, for the message). Jitter from
// Jitter(seed, attempts - 1).
FOLDBACK_EXPORT RetryDecision DecideRetry(const RetryPolicy& policy, uint32_t attempts,
                                          const Attempt& attempt, double now_ms, double deadline_ms,
                                          double budget_ms, uint64_t seed);

// The need's status once the host stops: the attempt's code and message,
// " (N attempts)" when there were several, then the decision's note.
FOLDBACK_EXPORT Status FinalStatus(const Attempt& attempt, uint32_t attempts,
                                   const RetryDecision& decision);

// What a host does after a failed attempt, in one call: DecideRetry, and
// when it says no, FinalStatus.
struct AfterFailure {
  bool retry = false;
  double delay_ms = 0;  // retry: wait this long, then send again
  Status status;        // !retry: the need's status (not OK)
};
FOLDBACK_EXPORT AfterFailure AfterFailedAttempt(const RetryPolicy& policy, uint32_t attempts,
                                                const Attempt& attempt, double now_ms,
                                                double deadline_ms, double budget_ms, uint64_t seed);

// The ask session's result for a need from one HTTP response, for hosts
// that make one attempt (or retry on their own): ReadResponse, then its
// status, text/vectors and model. elapsed_ms and attempts are the host's.
FOLDBACK_EXPORT NeedResult NeedResultFromResponse(const RequestContext& context,
                                                  const HttpResponse& response);

// ---------------------------------------------------------------- outbound redaction

// A Redactor of user-given patterns (rules "pattern-1", "pattern-2", ...;
// every match becomes "[REDACTED]"), for AskOptions::redactor and the hosts'
// outbound text. InvalidArgument naming the pattern as the user wrote it.
FOLDBACK_EXPORT Result<std::unique_ptr<Redactor>> CompileRedactionPatterns(
    const std::vector<std::string>& patterns);

}  // namespace wire
}  // namespace foldback

#endif  // FOLDBACK_WIRE_H_
