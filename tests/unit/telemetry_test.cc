// OpenTelemetry spans from a trace (foldback/telemetry.h) and the OTLP
// exporter's configuration from OTEL_* variables (native/host).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "foldback/telemetry.h"
#include "host/otlp_exporter.h"

namespace foldback {
namespace {

using telemetry::Span;
using telemetry::SpanOptions;

Trace SampleTrace() {
  Trace t;
  t.trace_id = "0190f2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
  t.question = "Can the supplier terminate early?";
  t.answer = "Yes, on ninety days notice [1].";
  t.model = "gpt-test";
  t.elapsed_ms = 900;
  TraceHop h1;
  h1.hop = 1;
  h1.query = "supplier termination notice";
  h1.source = "llm";
  h1.start_ms = 0;
  h1.end_ms = 400;
  h1.results = {{"c1", "d1", 1.0}};
  TraceHop h2 = h1;
  h2.hop = 2;
  h2.source = "fallback-rm3";
  h2.start_ms = 400;
  h2.end_ms = 600;
  t.hops = {h1, h2};
  TraceCall c1{1, "rewrite", "chat", 10, 390, 1, "gpt-test-0613", 120, 9, ""};
  TraceCall c2{2, "rewrite", "chat", 410, 590, 3, "", -1, -1, "Unavailable"};
  TraceCall c3{0, "answer", "chat", 600, 890, 1, "gpt-test-0613", 800, 40, ""};
  TraceCall c4{1, "embed-query", "embeddings", 5, 9, 1, "emb", -1, -1, ""};
  t.calls = {c1, c2, c3, c4};
  return t;
}

std::map<std::string, std::string> Attrs(const Span& s) {
  std::map<std::string, std::string> out;
  for (const auto& a : s.attributes) {
    switch (a.value.type) {
      case telemetry::AttributeValue::Type::kInt: out[a.key] = std::to_string(a.value.i); break;
      case telemetry::AttributeValue::Type::kBool: out[a.key] = a.value.b ? "true" : "false"; break;
      default: out[a.key] = a.value.s;
    }
  }
  return out;
}

TEST(Telemetry, SpansFollowTheGenAiConventions) {
  SpanOptions o;
  o.start_unix_ms = 1733400000000.0;
  o.provider = "azure";
  o.request_model = "gpt-test";
  o.server_address = "firm.openai.azure.com";
  o.server_port = 443;
  std::vector<Span> spans = telemetry::SpansFromTrace(SampleTrace(), o);
  ASSERT_EQ(spans.size(), 1u + 2u + 4u);
  const Span& root = spans[0];
  EXPECT_EQ(root.trace_id, "0190f2c45d6e7f809a1b2c3d4e5f6a7b");
  EXPECT_EQ(root.span_id.size(), 16u);
  EXPECT_EQ(root.name, "invoke_agent foldback");
  EXPECT_EQ(root.start_unix_nano, 1733400000000000000ull);
  EXPECT_EQ(root.end_unix_nano, 1733400000900000000ull);
  EXPECT_EQ(Attrs(root)["gen_ai.operation.name"], "invoke_agent");
  EXPECT_EQ(Attrs(root)["foldback.trace_id"], "0190f2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b");
  const Span& hop1 = spans[1];
  const Span& hop2 = spans[2];
  EXPECT_EQ(hop1.name, "hop 1");
  EXPECT_EQ(hop1.parent_span_id, root.span_id);
  EXPECT_EQ(Attrs(hop2)["foldback.fallback"], "true");
  const Span& chat1 = spans[3];
  EXPECT_EQ(chat1.name, "chat gpt-test");
  EXPECT_EQ(chat1.kind, telemetry::SpanKind::kClient);
  EXPECT_EQ(chat1.parent_span_id, hop1.span_id);
  EXPECT_EQ(chat1.start_unix_nano, 1733400000010000000ull);
  auto a = Attrs(chat1);
  EXPECT_EQ(a["gen_ai.operation.name"], "chat");
  EXPECT_EQ(a["gen_ai.provider.name"], "azure.ai.openai");
  EXPECT_EQ(a["gen_ai.system"], "azure.ai.openai");
  EXPECT_EQ(a["gen_ai.request.model"], "gpt-test");
  EXPECT_EQ(a["gen_ai.response.model"], "gpt-test-0613");
  EXPECT_EQ(a["gen_ai.usage.input_tokens"], "120");
  EXPECT_EQ(a["gen_ai.usage.output_tokens"], "9");
  EXPECT_EQ(a["server.address"], "firm.openai.azure.com");
  EXPECT_EQ(a["server.port"], "443");
  EXPECT_EQ(a.count("error.type"), 0u);
  const Span& failed = spans[4];
  EXPECT_EQ(failed.parent_span_id, hop2.span_id);
  EXPECT_TRUE(failed.error);
  EXPECT_EQ(Attrs(failed)["error.type"], "Unavailable");
  EXPECT_EQ(Attrs(failed).count("gen_ai.usage.input_tokens"), 0u);
  const Span& answer = spans[5];
  EXPECT_EQ(answer.parent_span_id, root.span_id);
  EXPECT_EQ(Attrs(answer)["foldback.purpose"], "answer");
  EXPECT_EQ(spans[6].name, "embeddings gpt-test");
  EXPECT_EQ(Attrs(spans[6])["gen_ai.operation.name"], "embeddings");
  // Distinct span ids; no content by default.
  std::set<std::string> ids;
  for (const Span& s : spans) ids.insert(s.span_id);
  EXPECT_EQ(ids.size(), spans.size());
  std::string json = telemetry::OtlpTracesJson(spans, "svc");
  EXPECT_EQ(json.find("terminate"), std::string::npos);
  EXPECT_EQ(json.find("ninety days"), std::string::npos);
  // Content when asked for: question, queries, answer.
  o.capture_content = true;
  json = telemetry::OtlpTracesJson(telemetry::SpansFromTrace(SampleTrace(), o), "svc");
  EXPECT_NE(json.find("Can the supplier terminate early?"), std::string::npos);
  EXPECT_NE(json.find("supplier termination notice"), std::string::npos);
  EXPECT_NE(json.find("ninety days"), std::string::npos);
}

TEST(Telemetry, OtlpJsonShapeAndIdsForAnyTraceId) {
  Trace t = SampleTrace();
  t.trace_id = "trace-canned-1";  // not a UUID: hashed to 32 hex digits
  std::vector<Span> spans = telemetry::SpansFromTrace(t, {});
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(spans[0].trace_id.size(), 32u);
  EXPECT_EQ(spans[0].trace_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(telemetry::SpansFromTrace(t, {})[0].span_id, spans[0].span_id);  // deterministic
  telemetry::Attribute env;
  env.key = "deployment.environment";
  env.value.s = "prod";
  auto j = nlohmann::json::parse(telemetry::OtlpTracesJson(spans, "foldback-x", {env}));
  const auto& rs = j["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "foldback-x");
  EXPECT_NE(rs["resource"].dump().find("deployment.environment"), std::string::npos);
  const auto& scope = rs["scopeSpans"][0];
  EXPECT_EQ(scope["scope"]["name"], "foldback");
  const auto& s0 = scope["spans"][0];
  EXPECT_TRUE(s0["startTimeUnixNano"].is_string());
  EXPECT_EQ(s0["kind"], 1);
  EXPECT_FALSE(s0.contains("parentSpanId"));
  const auto& failed = scope["spans"][4];
  EXPECT_EQ(failed["status"]["code"], 2);
  // Integers are strings, as proto3 JSON writes int64.
  bool saw_int = false;
  for (const auto& a : scope["spans"][3]["attributes"]) {
    if (a["value"].contains("intValue")) saw_int = a["value"]["intValue"].is_string();
  }
  EXPECT_TRUE(saw_int);
}

TEST(OtlpConfig, FromTheStandardVariables) {
  std::map<std::string, std::string> env;
  auto get = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto c = host::OtlpConfigFromEnv(get);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->enabled) << "nothing is sent without an endpoint";
  env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318/";
  env["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=a%20b, x-tenant = firm ";
  env["OTEL_RESOURCE_ATTRIBUTES"] = "service.name=from-resource,deployment.environment=prod";
  env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2500";
  c = host::OtlpConfigFromEnv(get);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->url, "http://collector:4318/v1/traces");
  ASSERT_EQ(c->headers.size(), 2u);
  EXPECT_EQ(c->headers[0].second, "a b");
  EXPECT_EQ(c->headers[1].first, "x-tenant");
  EXPECT_EQ(c->service_name, "from-resource");
  EXPECT_EQ(c->timeout_ms, 2500);
  EXPECT_FALSE(c->capture_content);
  env["OTEL_SERVICE_NAME"] = "svc";
  env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "https://x.example/custom";
  env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "TRUE";
  c = host::OtlpConfigFromEnv(get);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->service_name, "svc");
  EXPECT_EQ(c->url, "https://x.example/custom");
  EXPECT_TRUE(c->capture_content);
  // Errors name the variable, never a header value.
  env["OTEL_EXPORTER_OTLP_HEADERS"] = "token-without-key-sekret";
  c = host::OtlpConfigFromEnv(get);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos);
  EXPECT_EQ(c.status().message().find("sekret"), std::string::npos);
  env.erase("OTEL_EXPORTER_OTLP_HEADERS");
  env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "-3";
  EXPECT_FALSE(host::OtlpConfigFromEnv(get).ok());
  env.erase("OTEL_EXPORTER_OTLP_TIMEOUT");
  env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc";
  EXPECT_FALSE(host::OtlpConfigFromEnv(get).ok());
  env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";  // JSON is sent; receivers take both
  EXPECT_TRUE(host::OtlpConfigFromEnv(get).ok());
  env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "ftp://x";
  EXPECT_FALSE(host::OtlpConfigFromEnv(get).ok());
  env["OTEL_SDK_DISABLED"] = "true";
  c = host::OtlpConfigFromEnv(get);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->enabled);
}

TEST(Telemetry, ServerOfUrl) {
  std::string host;
  int64_t port = 0;
  telemetry::ServerOfUrl("https://api.openai.com/v1", &host, &port);
  EXPECT_EQ(host, "api.openai.com");
  EXPECT_EQ(port, 443);
  telemetry::ServerOfUrl("http://127.0.0.1:8080/v1", &host, &port);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  telemetry::ServerOfUrl("http://[::1]:11434", &host, &port);
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 11434);
  telemetry::ServerOfUrl("not a url", &host, &port);
  EXPECT_EQ(host, "");
}

}  // namespace
}  // namespace foldback
