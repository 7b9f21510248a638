// foldback.toml parsing (native/host/config.h) and the log lines
// (native/host/log.h) as units: the schema's strictness, merging by
// precedence, the [[user]] file, JSON lines that parse whatever the text,
// and the trace ids they carry equal to the spans' (foldback/telemetry.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "foldback/telemetry.h"
#include "host/config.h"
#include "host/log.h"

namespace foldback::host {
namespace {

using nlohmann::json;

TEST(Config, ParsesEveryTypeAsFlagStrings) {
  auto c = Config::Parse(
      "[ask]\nhops = 3\ndeadline_ms = 1500.5\n[llm]\nstructured_output = false\n"
      "[walls]\nallowed_matters = [\"a\", \"b\"]\n[retry]\nmax_delay_ms = 8000\n",
      "f.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Find("ask.hops")->values, std::vector<std::string>{"3"});
  EXPECT_EQ(c->Find("ask.deadline_ms")->values, std::vector<std::string>{"1500.5"});
  EXPECT_EQ(c->Find("retry.max_delay_ms")->values, std::vector<std::string>{"8000"});
  EXPECT_EQ(c->Find("llm.structured_output")->values, std::vector<std::string>{"false"});
  EXPECT_EQ(c->Find("walls.allowed_matters")->values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->Find("walls.allowed_matters")->where(), "f.toml:7");
  EXPECT_EQ(c->Find("llm.endpoint"), nullptr);
}

TEST(Config, RefusesWhatItDoesNotUnderstand) {
  struct Case {
    const char* toml;
    const char* message;
  } cases[] = {
      {"[ask]\nhops = -1\n", "f.toml:2: 'ask.hops' must be an integer >= 0"},
      {"[ask]\nhops = 1.5\n", "f.toml:2: 'ask.hops' must be an integer >= 0"},
      {"[ask]\ndeadline_ms = nan\n", "f.toml:2: 'ask.deadline_ms' must be a number >= 0"},
      {"hops = 2\n", "f.toml:1: unknown section 'hops'"},
      {"[ask]\n[ask.extra]\nx = 1\n", "f.toml:2: unknown key 'ask.extra'"},
      {"token = \"abc\"\n", "f.toml:1: 'token': foldback.toml never holds a key"},
      {"[embed]\npassword = \"x\"\n",
       "f.toml:2: 'embed.password': foldback.toml never holds a key"},
      {"[llm]\nprovider = \"bard\"\n", "f.toml:2: 'llm.provider' must be openai"},
      {"[log]\nformat = \"xml\"\n", "f.toml:2: 'log.format' must be text or json"},
      {"[walls]\nallowed_matters = [\"a,b\"]\n",
       "f.toml:2: 'walls.allowed_matters' holds matter names"},
      {"[search]\nmode = \"fuzzy\"\n", "f.toml:2: 'search.mode' must be bm25, dense or hybrid"},
      {"[llm]\nprovider = \"ollama\"\nendpoint = \"http://u:secretpw@localhost:11434\"\n",
       "f.toml:3: 'llm.endpoint': "},
      {"user = 3\n", "f.toml:1: 'user' must be [[user]] tables"},
  };
  for (const Case& k : cases) {
    auto c = Config::Parse(k.toml, "f.toml");
    ASSERT_FALSE(c.ok()) << k.toml;
    EXPECT_TRUE(c.status().IsInvalidArgument());
    EXPECT_NE(c.status().message().find(k.message), std::string::npos) << c.status().message();
    EXPECT_EQ(c.status().message().find("secretpw"), std::string::npos);
    EXPECT_EQ(c.status().message().find("\"abc\""), std::string::npos)
        << "a secret's value is not repeated";
  }
}

TEST(Config, MergesByPrecedenceKeyByKeyAndFindsUsers) {
  auto high = Config::Parse("[walls]\nallowed_matters = [\"x\"]\n", "high.toml");
  auto low = Config::Parse(
      "[walls]\nallowed_matters = [\"y\", \"z\"]\n[search]\ntop_k = 4\n\n[[user]]\nname = \"a\"\n",
      "low.toml");
  ASSERT_TRUE(high.ok() && low.ok());
  EXPECT_EQ(low->users_file(), "low.toml");
  high->MergeUnder(*low);
  EXPECT_EQ(high->Find("walls.allowed_matters")->values, std::vector<std::string>{"x"})
      << "arrays replaced";
  EXPECT_EQ(high->Find("search.top_k")->file, "low.toml");
  EXPECT_EQ(high->files(), (std::vector<std::string>{"high.toml", "low.toml"}));
  EXPECT_EQ(high->users_file(), "low.toml");
}

TEST(Config, UserConfigDir) {
  auto env = [](const char* xdg, const char* home) {
    return [=](const char* n) -> const char* {
      return std::string(n) == "XDG_CONFIG_HOME" ? xdg : home;
    };
  };
  EXPECT_EQ(UserConfigDir(env("/x", "/h")), "/x/foldback");
  EXPECT_EQ(UserConfigDir(env("", "/h")), "/h/.config/foldback");
  EXPECT_EQ(UserConfigDir(env(nullptr, nullptr)), "");
}

TEST(Log, TextLinesAreTheClisAndJsonLinesAlwaysParse) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kWarning, "trace not saved", {}, 0),
            "warning: trace not saved");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kInfo, "no endpoint", {}, 0),
            "note: no endpoint");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kInfo, "draining", {"serve", "", {}}, 0),
            "serve: draining");
  const std::string hostile =
      std::string("quote \" backslash \\ newline \n tab \t bad utf8 \xff\xfe end");
  std::string line = FormatLogLine(LogFormat::kJson, LogLevel::kError, hostile,
                                   {"ask", "", {{"field \"x\"", "v\n"}}}, 1796512054444.0);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  json j = json::parse(line, nullptr, false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j["ts"], "2026-12-05T23:07:34.444Z");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["component"], "ask");
  EXPECT_EQ(j["field \"x\""], "v\n");
  EXPECT_NE(j["msg"].get<std::string>().find("quote \" backslash"), std::string::npos);
  EXPECT_FALSE(j.contains("trace_id"));
}

TEST(Log, TraceIdsAreTheSpans) {
  Trace t;
  t.trace_id = "0190f2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
  auto spans = telemetry::SpansFromTrace(t, {});
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(telemetry::OtelTraceId(t.trace_id), spans[0].trace_id);
  json j =
      json::parse(FormatLogLine(LogFormat::kJson, LogLevel::kInfo, "m", {"", t.trace_id, {}}, 0));
  EXPECT_EQ(j["trace_id"], spans[0].trace_id);
  EXPECT_EQ(j["foldback_trace_id"], t.trace_id);
  // An id that is not a UUID gets the same hash the spans use.
  Trace other;
  other.trace_id = "question-7";
  EXPECT_EQ(telemetry::OtelTraceId(other.trace_id),
            telemetry::SpansFromTrace(other, {})[0].trace_id);
  // A job request's id is its spans'.
  telemetry::JobCall jc;
  jc.job_id = "job-1";
  jc.kind = "map";
  jc.item_ids = {"doc-1"};
  jc.attempt = 2;
  jc.call.operation = "chat";
  auto job_spans = telemetry::SpansFromJobCall(jc, {});
  ASSERT_FALSE(job_spans.empty());
  EXPECT_EQ(telemetry::JobCallTraceId(jc), job_spans[0].trace_id);
  json jl = json::parse(
      FormatLogLine(LogFormat::kJson, LogLevel::kInfo, "m", {"", job_spans[0].trace_id, {}}, 0));
  EXPECT_EQ(jl["trace_id"], job_spans[0].trace_id);
  EXPECT_FALSE(jl.contains("foldback_trace_id")) << "an OTel id is carried as is";
}

}  // namespace
}  // namespace foldback::host
