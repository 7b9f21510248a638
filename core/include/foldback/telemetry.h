// OpenTelemetry spans of a question, built once from its trace for every
// host, following the GenAI semantic conventions:
//
//   invoke_agent foldback             root (INTERNAL): the whole question
//   ├─ hop 1                          INTERNAL: one hop's rewrite + search
//   │  ├─ chat gpt-4o-mini            CLIENT: an LLM call (its retries inside)
//   │  └─ embeddings text-embed-3     CLIENT: an embedding call
//   ├─ hop 2 ...
//   └─ chat gpt-4o-mini               CLIENT: the final answer
//
// Attributes: gen_ai.operation.name ("invoke_agent", "chat", "embeddings"),
// gen_ai.provider.name and (older collectors) gen_ai.system,
// gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens /
// output_tokens (when the endpoint reported them), server.address /
// server.port, error.type (the foldback status code name: "Unavailable",
// "Deadline exceeded"), and foldback.* for the hop's source, result counts,
// attempts and the trace id lawyers' feedback refers to.
//
// Content is off by default: no question, query, prompt, passage or answer
// text is in a span unless SpanOptions::capture_content, and then only the
// question, the hop queries and the answer — never prompts (they carry the
// retrieved documents) and never a key (a trace holds none).
//
// The core has no clock: times are the trace's offsets on the host's clock
// (Trace::calls, TraceHop::start_ms/end_ms, Trace::elapsed_ms), placed at
// SpanOptions::start_unix_ms, which the host read when the question began.
//
// Thread safety: pure functions.
#ifndef FOLDBACK_TELEMETRY_H_
#define FOLDBACK_TELEMETRY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"

namespace foldback {
namespace telemetry {

// An attribute value: a string, an integer, a double or a bool.
struct AttributeValue {
  enum class Type : int { kString = 0, kInt = 1, kDouble = 2, kBool = 3 };
  Type type = Type::kString;
  std::string s;
  int64_t i = 0;
  double d = 0;
  bool b = false;
};
struct Attribute {
  std::string key;
  AttributeValue value;
};

enum class SpanKind : int { kInternal = 1, kClient = 3 };  // OTLP's numbers

struct Span {
  std::string trace_id;        // 32 lower-case hex digits
  std::string span_id;         // 16 lower-case hex digits
  std::string parent_span_id;  // "" for the root
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  std::vector<Attribute> attributes;
  bool error = false;          // OTLP status ERROR (else UNSET)
  std::string status_message;  // with error: the code name, never server text
};

struct SpanOptions {
  // Wall-clock time (ms since 1970) at which the question started.
  double start_unix_ms = 0;
  // The endpoint that answered the needs: gen_ai.provider.name
  // ("openai", "azure.ai.openai", "ollama", "vllm"), the model requested,
  // and server.address / server.port. Empty: not set.
  std::string provider;
  std::string request_model;
  std::string server_address;
  int64_t server_port = 0;
  // The question, hop queries and the answer as span attributes. Default:
  // false (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true in hosts).
  bool capture_content = false;
};

// The question's spans, root first. The OTel trace id is the foldback trace
// id's 32 hex digits when it is a UUID (so a span finds its feedback), else
// a hash of it; span ids are hashes of the trace id and the span's place.
FOLDBACK_EXPORT std::vector<Span> SpansFromTrace(const Trace& trace, const SpanOptions& options);

// The OTel trace id SpansFromTrace gives a foldback trace id (32 lower-case
// hex digits): what a host's logs carry so a log line finds its spans.
FOLDBACK_EXPORT std::string OtelTraceId(const std::string& foldback_trace_id);

// One request of a durable job (foldback/jobs.h) as its own trace: a root
// "{kind} item" (map: one document) or "{kind} batch" (embed: several
// passages), INTERNAL, with foldback.job_id, foldback.items,
// foldback.item_id (one item) and foldback.attempt, over the call's CLIENT
// span as in SpansFromTrace. Times: options.start_unix_ms is when the
// request started; call.start_ms / end_ms count from it. No content.
struct JobCall {
  std::string job_id;
  std::string kind;                   // "map" | "embed" | ...
  std::vector<std::string> item_ids;  // the items this request served
  uint32_t attempt = 1;
  TraceCall call;
};
FOLDBACK_EXPORT std::vector<Span> SpansFromJobCall(const JobCall& job_call, const SpanOptions& options);
// The trace id of SpansFromJobCall's spans for `job_call` (for log lines).
FOLDBACK_EXPORT std::string JobCallTraceId(const JobCall& job_call);

// The OTLP/HTTP JSON body (ExportTraceServiceRequest) carrying `spans`, with
// resource attributes service.name = `service_name` (plus `resource`, e.g.
// from OTEL_RESOURCE_ATTRIBUTES) and the instrumentation scope "foldback".
FOLDBACK_EXPORT std::string OtlpTracesJson(const std::vector<Span>& spans, const std::string& service_name,
                                           const std::vector<Attribute>& resource = {});

// The host and port of an http(s) URL, for server.address / server.port
// ("" and 0 when it has none; the scheme's port when none is written).
FOLDBACK_EXPORT void ServerOfUrl(const std::string& url, std::string* host, int64_t* port);

// The provider name of the GenAI conventions for a wire provider name
// ("openai" -> "openai", "azure" -> "azure.ai.openai", others unchanged).
FOLDBACK_EXPORT std::string GenAiProviderName(const std::string& provider);

}  // namespace telemetry
}  // namespace foldback

#endif  // FOLDBACK_TELEMETRY_H_
