#include "foldback/telemetry.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "foldback/version.h"

namespace foldback {
namespace telemetry {
namespace {

using ojson = nlohmann::ordered_json;

uint64_t Fnv1a(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // A final mix, so that ids of similar inputs differ in every digit.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

std::string Hex64(uint64_t v) { return fmt::format(FMT_STRING("{:016x}"), v); }

std::string OtelTraceIdOf(const std::string& id) {
  std::string hex;
  for (char c : id) {
    if (c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      hex.clear();
      break;
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() == 32 && hex != std::string(32, '0')) return hex;
  return Hex64(Fnv1a(id, 1)) + Hex64(Fnv1a(id, 2));
}

// In integers where a double's 53 bits would round (1.7e18 ns).
uint64_t UnixNano(double start_unix_ms, double offset_ms) {
  if (!std::isfinite(start_unix_ms) || start_unix_ms <= 0 || !std::isfinite(offset_ms)) return 0;
  double whole = std::floor(start_unix_ms);
  double rest_ms = (start_unix_ms - whole) + std::max(0.0, offset_ms);
  return static_cast<uint64_t>(whole) * 1000000ull + static_cast<uint64_t>(std::llround(rest_ms * 1e6));
}

Attribute Str(std::string key, std::string value) {
  Attribute a;
  a.key = std::move(key);
  a.value.s = std::move(value);
  return a;
}

Attribute Int(std::string key, int64_t value) {
  Attribute a;
  a.key = std::move(key);
  a.value.type = AttributeValue::Type::kInt;
  a.value.i = value;
  return a;
}

Attribute Bool(std::string key, bool value) {
  Attribute a;
  a.key = std::move(key);
  a.value.type = AttributeValue::Type::kBool;
  a.value.b = value;
  return a;
}

ojson ValueJson(const AttributeValue& v) {
  switch (v.type) {
    case AttributeValue::Type::kInt:
      return {{"intValue", fmt::to_string(v.i)}};  // int64 as a string (proto3 JSON)
    case AttributeValue::Type::kDouble:
      return {{"doubleValue", v.d}};
    case AttributeValue::Type::kBool:
      return {{"boolValue", v.b}};
    case AttributeValue::Type::kString:
      break;
  }
  return {{"stringValue", v.s}};
}

ojson AttributesJson(const std::vector<Attribute>& attributes) {
  ojson out = ojson::array();
  for (const Attribute& a : attributes) out.push_back({{"key", a.key}, {"value", ValueJson(a.value)}});
  return out;
}

// The endpoint's attributes on an LLM or embedding span.
void AddEndpoint(const SpanOptions& o, std::vector<Attribute>* attributes) {
  if (!o.provider.empty()) {
    std::string name = GenAiProviderName(o.provider);
    attributes->push_back(Str("gen_ai.provider.name", name));
    attributes->push_back(Str("gen_ai.system", name));
  }
  if (!o.request_model.empty()) attributes->push_back(Str("gen_ai.request.model", o.request_model));
  if (!o.server_address.empty()) attributes->push_back(Str("server.address", o.server_address));
  if (o.server_port > 0) attributes->push_back(Int("server.port", o.server_port));
}

}  // namespace

void ServerOfUrl(const std::string& url, std::string* host, int64_t* port) {
  host->clear();
  *port = 0;
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return;
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  size_t colon = authority.rfind(':');
  bool bracketed = !authority.empty() && authority[0] == '[';
  size_t close = authority.find(']');
  if (colon != std::string::npos && (!bracketed || (close != std::string::npos && colon > close))) {
    *host = authority.substr(0, colon);
    *port = std::atoll(authority.c_str() + colon + 1);
  } else {
    *host = authority;
    *port = url.compare(0, 5, "https") == 0 ? 443 : 80;
  }
  if (bracketed && host->size() >= 2 && host->back() == ']') *host = host->substr(1, host->size() - 2);
}

std::string GenAiProviderName(const std::string& provider) {
  if (provider == "azure") return "azure.ai.openai";
  return provider;
}

std::vector<Span> SpansFromTrace(const Trace& trace, const SpanOptions& o) {
  std::vector<Span> spans;
  const std::string trace_id = OtelTraceIdOf(trace.trace_id);
  auto span_id = [&](const std::string& place) { return Hex64(Fnv1a(trace_id + "/" + place, 3)); };

  Span root;
  root.trace_id = trace_id;
  root.span_id = span_id("root");
  root.name = "invoke_agent foldback";
  root.start_unix_nano = UnixNano(o.start_unix_ms, 0);
  root.end_unix_nano = UnixNano(o.start_unix_ms, trace.elapsed_ms);
  root.attributes = {Str("gen_ai.operation.name", "invoke_agent"), Str("gen_ai.agent.name", "foldback"),
                     Str("foldback.trace_id", trace.trace_id), Int("foldback.hops", static_cast<int64_t>(trace.hops.size())),
                     Int("foldback.passages", static_cast<int64_t>(trace.fused.size())),
                     Int("foldback.fallbacks", static_cast<int64_t>(trace.fallbacks.size())),
                     Bool("foldback.stopped_early", trace.stopped_early)};
  if (!trace.program_version.empty()) root.attributes.push_back(Str("foldback.program_version", trace.program_version));
  if (!trace.model.empty()) root.attributes.push_back(Str("gen_ai.response.model", trace.model));
  if (o.capture_content) {
    root.attributes.push_back(Str("foldback.question", trace.question));
    if (!trace.answer.empty()) root.attributes.push_back(Str("foldback.answer", trace.answer));
  }
  spans.push_back(root);

  // Hops, then each call under its hop (the answer under the root).
  std::vector<std::string> hop_ids(trace.hops.size() + 1);
  for (const TraceHop& h : trace.hops) {
    Span s;
    s.trace_id = trace_id;
    s.span_id = span_id(fmt::format(FMT_STRING("hop-{}"), h.hop));
    s.parent_span_id = root.span_id;
    s.name = fmt::format(FMT_STRING("hop {}"), h.hop);
    s.start_unix_nano = UnixNano(o.start_unix_ms, h.start_ms);
    s.end_unix_nano = UnixNano(o.start_unix_ms, std::max(h.start_ms, h.end_ms));
    s.attributes = {Int("foldback.hop", h.hop), Str("foldback.query.source", h.source),
                    Int("foldback.results", static_cast<int64_t>(h.results.size())),
                    Int("foldback.new_chunks", static_cast<int64_t>(h.new_chunks.size())),
                    Int("foldback.llm_attempts", h.llm_attempts)};
    if (h.source.rfind("fallback", 0) == 0) s.attributes.push_back(Bool("foldback.fallback", true));
    if (o.capture_content) s.attributes.push_back(Str("foldback.query", h.query));
    if (h.hop < hop_ids.size()) hop_ids[h.hop] = s.span_id;
    spans.push_back(std::move(s));
  }
  for (size_t i = 0; i < trace.calls.size(); ++i) {
    const TraceCall& c = trace.calls[i];
    Span s;
    s.trace_id = trace_id;
    s.span_id = span_id(fmt::format(FMT_STRING("call-{}"), i));
    s.parent_span_id = c.hop < hop_ids.size() && !hop_ids[c.hop].empty() ? hop_ids[c.hop] : root.span_id;
    s.kind = SpanKind::kClient;
    std::string model = !o.request_model.empty() ? o.request_model : c.model;
    s.name = c.operation + (model.empty() ? "" : " " + model);
    s.start_unix_nano = UnixNano(o.start_unix_ms, c.start_ms);
    s.end_unix_nano = UnixNano(o.start_unix_ms, std::max(c.start_ms, c.end_ms));
    s.attributes = {Str("gen_ai.operation.name", c.operation)};
    AddEndpoint(o, &s.attributes);
    if (!c.model.empty()) s.attributes.push_back(Str("gen_ai.response.model", c.model));
    if (c.input_tokens >= 0) s.attributes.push_back(Int("gen_ai.usage.input_tokens", c.input_tokens));
    if (c.output_tokens >= 0) s.attributes.push_back(Int("gen_ai.usage.output_tokens", c.output_tokens));
    s.attributes.push_back(Str("foldback.purpose", c.purpose));
    s.attributes.push_back(Int("foldback.hop", c.hop));
    s.attributes.push_back(Int("foldback.attempts", c.attempts));
    if (!c.error.empty()) {
      s.attributes.push_back(Str("error.type", c.error));
      s.error = true;
      s.status_message = c.error;
    }
    spans.push_back(std::move(s));
  }
  return spans;
}

namespace {
std::string JobCallKey(const JobCall& j) {
  return fmt::format(FMT_STRING("{}/{}/{}/{}"), j.job_id,
                     (j.item_ids.empty() ? std::string() : j.item_ids.front()), j.item_ids.size(),
                     j.attempt);
}
}  // namespace

std::string OtelTraceId(const std::string& foldback_trace_id) {
  return OtelTraceIdOf(foldback_trace_id);
}

std::string JobCallTraceId(const JobCall& j) {
  std::string key = JobCallKey(j);
  return Hex64(Fnv1a(key, 1)) + Hex64(Fnv1a(key, 2));
}

std::vector<Span> SpansFromJobCall(const JobCall& j, const SpanOptions& o) {
  std::string key = JobCallKey(j);
  Span root;
  root.trace_id = JobCallTraceId(j);
  root.span_id = Hex64(Fnv1a(key, 3));
  root.name = j.kind + (j.item_ids.size() == 1 ? " item" : " batch");
  root.start_unix_nano = UnixNano(o.start_unix_ms, 0);
  root.end_unix_nano = UnixNano(o.start_unix_ms, std::max(j.call.start_ms, j.call.end_ms));
  root.attributes = {Str("foldback.job_id", j.job_id), Str("foldback.job_kind", j.kind),
                     Int("foldback.items", static_cast<int64_t>(j.item_ids.size())),
                     Int("foldback.attempt", j.attempt)};
  if (j.item_ids.size() == 1) root.attributes.push_back(Str("foldback.item_id", j.item_ids.front()));
  // The call, as a question's calls are.
  Trace t;
  t.trace_id = key;
  t.calls = {j.call};
  std::vector<Span> call = SpansFromTrace(t, o);
  Span s = call.back();
  s.trace_id = root.trace_id;
  s.span_id = Hex64(Fnv1a(key, 4));
  s.parent_span_id = root.span_id;
  if (s.error) {
    root.error = true;
    root.status_message = s.status_message;
  }
  return {root, s};
}

std::string OtlpTracesJson(const std::vector<Span>& spans, const std::string& service_name,
                           const std::vector<Attribute>& resource) {
  std::vector<Attribute> attributes = {Str("service.name", service_name.empty() ? "foldback" : service_name),
                                       Str("telemetry.sdk.name", "foldback"),
                                       Str("telemetry.sdk.language", "cpp"),
                                       Str("telemetry.sdk.version", FOLDBACK_VERSION_STRING)};
  for (const Attribute& a : resource) {
    if (a.key != "service.name") attributes.push_back(a);
  }
  ojson list = ojson::array();
  for (const Span& s : spans) {
    ojson j = {{"traceId", s.trace_id}, {"spanId", s.span_id}};
    if (!s.parent_span_id.empty()) j["parentSpanId"] = s.parent_span_id;
    j["name"] = s.name;
    j["kind"] = static_cast<int>(s.kind);
    j["startTimeUnixNano"] = fmt::to_string(s.start_unix_nano);
    j["endTimeUnixNano"] = fmt::to_string(s.end_unix_nano);
    j["attributes"] = AttributesJson(s.attributes);
    if (s.error) j["status"] = {{"code", 2}, {"message", s.status_message}};
    list.push_back(std::move(j));
  }
  ojson body = {{"resourceSpans",
                 ojson::array({{{"resource", {{"attributes", AttributesJson(attributes)}}},
                                {"scopeSpans", ojson::array({{{"scope", {{"name", "foldback"},
                                                                         {"version", FOLDBACK_VERSION_STRING}}},
                                                              {"spans", std::move(list)}}})}}})}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace telemetry
}  // namespace foldback
