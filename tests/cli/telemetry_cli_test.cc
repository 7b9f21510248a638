// OpenTelemetry from `foldback ask`: spans in OTLP/HTTP JSON to the
// collector the OTEL_* variables name (the loopback test server records
// them), GenAI attribute names, no question, prompt or key unless content
// capture is turned on, and a collector that is down costs the question
// nothing but a warning.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "endpoint_cli_fixture.h"

namespace foldback::testing {
namespace {

using nlohmann::json;

constexpr const char* kKey = "sk-otel-canary-0123456789abcdef";
constexpr const char* kQuestion = "Zanzibarian termination notice period for the supplier?";

class TelemetryCli : public EndpointCliTest {
 protected:
  TelemetryCli() : EndpointCliTest("telemetry", "FOLDBACK_OTEL_TEST_KEY", kKey) {}
  void SetUp() override {
    Prepare({{"m-a", {{"msa.txt", "Termination. The supplier may terminate on ninety days notice. "
                                  "Zanzibarian law governs the notice period."},
                      {"nda.txt", "Confidentiality survives termination for three years."}}}});
  }
  void TearDown() override {
    for (const char* v : {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME",
                          "OTEL_SDK_DISABLED", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                          "OTEL_EXPORTER_OTLP_PROTOCOL"}) {
      ::unsetenv(v);
    }
    EndpointCliTest::TearDown();
  }
  // The test server as an OTLP/HTTP collector's base URL (its base_url()
  // is the LLM API's, ending in /v1).
  std::string Collector() const {
    std::string url = server_->base_url();
    return url.substr(0, url.rfind("/v1"));
  }
  // The OTLP bodies the server received.
  std::vector<json> Exported() {
    std::vector<json> out;
    for (const auto& r : server_->requests()) {
      if (r.path == "/v1/traces") out.push_back(json::parse(r.body));
    }
    return out;
  }
  static std::string Attr(const json& span, const std::string& key) {
    for (const auto& a : span["attributes"]) {
      if (a["key"] == key) {
        const json& v = a["value"];
        if (v.contains("stringValue")) return v["stringValue"];
        if (v.contains("intValue")) return v["intValue"];
        if (v.contains("boolValue")) return v["boolValue"].get<bool>() ? "true" : "false";
      }
    }
    return "<absent>";
  }
};

TEST_F(TelemetryCli, AskSendsGenAiSpansWithoutContentOrKey) {
  // Two hop queries that find the passages, then an answer.
  for (const char* q : {"supplier terminate notice", "notice period governs"}) {
    ScriptedReply reply;
    reply.path = "/chat/completions";
    reply.content = std::string("[[ ## query ## ]]\n") + q + "\n\n[[ ## completed ## ]]";
    server_->Script(reply);
  }
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", Collector().c_str(), 1);
  ::setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=tok%3Dsecret", 1);
  ::setenv("OTEL_SERVICE_NAME", "foldback-test", 1);
  CliRun r = RunCli("ask --index " + Index() + " " + Endpoint() + " --answer --hops 2 --json " +
                        ShellQuote(kQuestion),
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out;
  std::string trace_id = Json(r)["trace_id"];
  std::vector<json> bodies = Exported();
  ASSERT_EQ(bodies.size(), 1u);
  // The collector got the configured header; the request is JSON.
  for (const auto& q : server_->requests()) {
    if (q.path != "/v1/traces") continue;
    EXPECT_EQ(q.headers.find("x-collector-token")->second, "tok=secret");
    EXPECT_NE(q.headers.find("content-type")->second.find("application/json"), std::string::npos);
    EXPECT_EQ(q.headers.count("authorization"), 0u) << "the LLM key must not travel to the collector";
  }
  const json& rs = bodies[0]["resourceSpans"][0];
  EXPECT_EQ(Attr(rs["resource"], "service.name"), "foldback-test");
  const json& spans = rs["scopeSpans"][0]["spans"];
  ASSERT_GE(spans.size(), 4u);  // root, 2 hops, LLM calls

  // One trace, the foldback trace id's digits; a tree under the root.
  std::string otel_trace = trace_id;
  otel_trace.erase(std::remove(otel_trace.begin(), otel_trace.end(), '-'), otel_trace.end());
  std::set<std::string> ids;
  for (const auto& s : spans) {
    EXPECT_EQ(s["traceId"], otel_trace);
    ids.insert(s["spanId"].get<std::string>());
    EXPECT_LE(std::stoull(s["startTimeUnixNano"].get<std::string>()),
              std::stoull(s["endTimeUnixNano"].get<std::string>()));
  }
  const json& root = spans[0];
  EXPECT_EQ(root["name"], "invoke_agent foldback");
  EXPECT_FALSE(root.contains("parentSpanId"));
  EXPECT_EQ(Attr(root, "gen_ai.operation.name"), "invoke_agent");
  EXPECT_EQ(Attr(root, "foldback.trace_id"), trace_id);
  size_t hops = 0, chats = 0;
  bool answer = false;
  for (size_t i = 1; i < spans.size(); ++i) {
    const json& s = spans[i];
    ASSERT_TRUE(s.contains("parentSpanId"));
    EXPECT_TRUE(ids.count(s["parentSpanId"].get<std::string>()));
    std::string name = s["name"];
    if (name.rfind("hop ", 0) == 0) {
      ++hops;
      EXPECT_EQ(s["kind"], 1);
      EXPECT_EQ(s["parentSpanId"], root["spanId"]);
    } else {
      ++chats;
      EXPECT_EQ(name, "chat test-model");
      EXPECT_EQ(s["kind"], 3);
      EXPECT_EQ(Attr(s, "gen_ai.operation.name"), "chat");
      EXPECT_EQ(Attr(s, "gen_ai.provider.name"), "openai");
      EXPECT_EQ(Attr(s, "gen_ai.request.model"), "test-model");
      EXPECT_EQ(Attr(s, "server.address"), "127.0.0.1");
      EXPECT_NE(Attr(s, "gen_ai.usage.input_tokens"), "<absent>");
      EXPECT_NE(Attr(s, "gen_ai.usage.output_tokens"), "<absent>");
      if (Attr(s, "foldback.purpose") == "answer") {
        answer = true;
        EXPECT_EQ(s["parentSpanId"], root["spanId"]);
      }
    }
  }
  EXPECT_EQ(hops, 2u);
  EXPECT_GE(chats, 2u);
  EXPECT_TRUE(answer);
  // Content is off by default; the key is nowhere.
  std::string text = bodies[0].dump();
  EXPECT_EQ(text.find("Zanzibarian"), std::string::npos) << "the question or a passage leaked";
  EXPECT_EQ(text.find("otel-canary"), std::string::npos);
  EXPECT_EQ(text.find("foldback.question"), std::string::npos);
}

TEST_F(TelemetryCli, ContentOnlyWhenAskedForAndNeverPrompts) {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", (Collector() + "/").c_str(), 1);
  ::setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true", 1);
  CliRun r = RunCli("ask --index " + Index() + " " + Endpoint() + " --hops 1 --json " + ShellQuote(kQuestion));
  ASSERT_EQ(r.code, 0) << r.out;
  std::vector<json> bodies = Exported();
  ASSERT_EQ(bodies.size(), 1u);
  const json& spans = bodies[0]["resourceSpans"][0]["scopeSpans"][0]["spans"];
  EXPECT_EQ(Attr(spans[0], "foldback.question"), kQuestion);
  // Passages (in the prompts) are never exported.
  EXPECT_EQ(bodies[0].dump().find("ninety days"), std::string::npos);
  EXPECT_EQ(bodies[0].dump().find("otel-canary"), std::string::npos);
}

TEST_F(TelemetryCli, CollectorDownOrMisconfiguredNeverFailsTheQuestion) {
  // Nothing listens on port 9 of loopback: a refused connection.
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", 1);
  auto t0 = std::chrono::steady_clock::now();
  CliRun r = RunCli("ask --index " + Index() + " " + Endpoint() + " --hops 1 " + ShellQuote(kQuestion));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: telemetry: spans not delivered to http://127.0.0.1:9/v1/traces"),
            std::string::npos)
      << r.out;
  EXPECT_LT(s, 10.0);
  // A malformed header list: a warning naming the variable, never its value.
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", Collector().c_str(), 1);
  ::setenv("OTEL_EXPORTER_OTLP_HEADERS", "novalue-secret-token", 1);
  r = RunCli("ask --index " + Index() + " " + Endpoint() + " --hops 1 " + ShellQuote(kQuestion));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("novalue-secret-token"), std::string::npos) << r.out;
  ::unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
  // gRPC is refused with the way out; OTEL_SDK_DISABLED sends nothing.
  ::setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
  r = RunCli("ask --index " + Index() + " " + Endpoint() + " --hops 1 " + ShellQuote(kQuestion));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("http/json"), std::string::npos) << r.out;
  ::unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  ::setenv("OTEL_SDK_DISABLED", "true", 1);
  r = RunCli("ask --index " + Index() + " " + Endpoint() + " --hops 1 " + ShellQuote(kQuestion));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Exported().empty());
}

}  // namespace
}  // namespace foldback::testing
