// foldback.toml and --log-format json, driven as a user drives the CLI:
// the file found in the index folder, given by --config, or in the user's
// config folder ($XDG_CONFIG_HOME), their precedence and the flags' over
// them; strict files (unknown keys, wrong types, bad endpoints and patterns
// named by file and line; a key's value refused and never repeated); the
// file's endpoint, model, key variable and retries used by a real ask
// against the loopback LLM server; JSON-lines logs whose lines about the
// question carry its OpenTelemetry trace id.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "endpoint_cli_fixture.h"

namespace foldback::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kKey = "sk-config-canary-5f0e1d2c3b4a";

class ConfigCli : public EndpointCliTest {
 protected:
  ConfigCli() : EndpointCliTest("config", "FOLDBACK_CONFIG_TEST_KEY", kKey) {}
  void SetUp() override {
    Prepare(
        {{"acme",
          {{"acme-msa.txt", "The supplier may terminate this agreement on ninety days notice."}}},
         {"beta",
          {{"beta-msa.txt", "Either party may terminate this agreement on thirty days notice."}}}});
    // No user's real ~/.config/foldback in these tests.
    xdg_ = (dir_ / "xdg").string();
    fs::create_directories(xdg_);
    ::setenv("XDG_CONFIG_HOME", xdg_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("XDG_CONFIG_HOME");
    EndpointCliTest::TearDown();
  }

  // The matters of a `search --json` run's results.
  std::set<std::string> Matters(const CliRun& r) {
    std::set<std::string> out;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out << r.err;
    if (!j.is_array()) return out;
    for (const auto& hit : j) out.insert(hit.value("matter", ""));
    return out;
  }
  CliRun Search(const std::string& extra = "") {
    return RunCli("search --index " + Index() + " --json " + extra + " 'terminate notice'",
                  Stderr::kSeparate);
  }
  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    WriteFile(p, text);
    return p.string();
  }

  std::string xdg_;
};

TEST_F(ConfigCli, NoFileSearchesEveryMatter) {
  CliRun r = Search();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme", "beta"}));
}

TEST_F(ConfigCli, IndexFolderFileGivesTheWallAndDefaults) {
  Write("idx/foldback.toml",
        "[walls]\nallowed_matters = [\"acme\"]\n\n[search]\nmode = \"bm25\"\ntop_k = 1\n");
  CliRun r = Search();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme"}));
  EXPECT_EQ(json::parse(r.out).size(), 1u) << "top_k = 1 from the file";
}

TEST_F(ConfigCli, UserConfigFolderFromXdgConfigHome) {
  Write("xdg/foldback/foldback.toml", "[walls]\nallowed_matters = [\"beta\"]\n");
  CliRun r = Search();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"beta"}));
  // The index folder's file wins over the user's.
  Write("idx/foldback.toml", "[walls]\nallowed_matters = [\"acme\"]\n");
  r = Search();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme"}));
  // ... key by key: a key the index folder's file does not set still comes from the user's.
  Write("xdg/foldback/foldback.toml",
        "[walls]\nallowed_matters = [\"beta\"]\n[search]\ntop_k = 1\n");
  r = Search();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 1u);
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme"}));
}

TEST_F(ConfigCli, ExplicitConfigWinsOverIndexFolderAndFlagsWinOverAll) {
  Write("idx/foldback.toml", "[walls]\nallowed_matters = [\"acme\"]\n");
  std::string given =
      Write("given.toml", "[walls]\nallowed_matters = [\"beta\"]\n[search]\ntop_k = 1\n");
  CliRun r = Search("--config " + given);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"beta"}));
  // Before the subcommand too.
  r = RunCli("--config " + given + " search --index " + Index() + " --json 'terminate notice'",
             Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"beta"}));
  // Flags override every file.
  r = Search("--config " + given + " --allowed-matters acme --top-k 5");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme"}));
  // A --config that does not exist is an error, not a silent default.
  r = Search("--config " + (dir_ / "missing.toml").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("--config: no such file"), std::string::npos) << r.err;
}

// examples/foldback.toml (every key, as docs/config.md shows it) is valid.
TEST_F(ConfigCli, TheShippedExampleIsValid) {
  const std::string example =
      (fs::path(FOLDBACK_DEMO_CORPUS) / ".." / ".." / "foldback.toml").string();
  ASSERT_TRUE(fs::exists(example)) << example;
  CliRun r = Search("--config " + example);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Matters(r), (std::set<std::string>{"acme", "beta"}));
}

// `foldback config` shows IT which file and line each setting comes from.
TEST_F(ConfigCli, ConfigCommandShowsEachSettingsSource) {
  Write("idx/foldback.toml", "[search]\ntop_k = 3\n\n[walls]\nallowed_matters = [\"acme\"]\n");
  std::string given = Write(
      "given.toml",
      "[walls]\nallowed_matters = [\"beta\"]\n[llm]\napi_key_env = \"FOLDBACK_CONFIG_TEST_KEY\"\n");
  CliRun r =
      RunCli("config --index " + Index() + " --config " + given + " --json", Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["files"], json({given, Index() + "/foldback.toml"}));
  std::map<std::string, json> by_key;
  for (const auto& s : j["settings"]) by_key[s["key"]] = s;
  EXPECT_EQ(by_key["walls.allowed_matters"]["value"], json({"beta"}));
  EXPECT_EQ(by_key["walls.allowed_matters"]["file"], given);
  EXPECT_EQ(by_key["walls.allowed_matters"]["line"], 2);
  EXPECT_EQ(by_key["search.top_k"]["file"], Index() + "/foldback.toml");
  EXPECT_EQ(by_key["search.top_k"]["line"], 2);
  EXPECT_EQ(by_key["llm.api_key_env"]["variable_set"], true);
  EXPECT_EQ(r.out.find(kKey), std::string::npos) << "the variable's name, never its value";
}

TEST_F(ConfigCli, UnknownKeyIsAnErrorWithFileAndLine) {
  std::string f = Write("typo.toml", "# the firm's settings\n[search]\ntopk = 3\n");
  CliRun r = Search("--config " + f);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty()) << "nothing searched";
  EXPECT_NE(r.err.find(f + ":3: unknown key 'search.topk'"), std::string::npos) << r.err;
  f = Write("section.toml", "[wall]\nallowed_matters = [\"acme\"]\n");
  r = Search("--config " + f);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":1: unknown section 'wall'"), std::string::npos) << r.err;
  f = Write("syntax.toml", "[search]\ntop_k = = 3\n");
  r = Search("--config " + f);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":2:"), std::string::npos) << r.err;
}

TEST_F(ConfigCli, WrongTypeIsAnErrorWithTheLine) {
  std::string f = Write("types.toml", "[ask]\nhops = 2\ndepth = \"five\"\n");
  CliRun r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":3: 'ask.depth' must be an integer >= 0"), std::string::npos) << r.err;
  f = Write("types2.toml", "[walls]\nallowed_matters = \"acme\"\n");
  r = Search("--config " + f);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":2: 'walls.allowed_matters' must be an array of strings"),
            std::string::npos)
      << r.err;
}

TEST_F(ConfigCli, AKeyIsRefusedAndNeverRepeated) {
  std::string f =
      Write("key.toml", "[llm]\nendpoint = \"https://api.openai.com/v1\"\napi_key = \"" +
                            std::string(kKey) + "\"\n");
  CliRun r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":3: 'llm.api_key': foldback.toml never holds a key"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("api_key_env"), std::string::npos) << "the way out is named: " << r.err;
  EXPECT_EQ((r.out + r.err).find(kKey), std::string::npos);
  // A key pasted where the variable's name goes.
  f = Write("env.toml", "[llm]\napi_key_env = \"" + std::string(kKey) + "\"\n");
  r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":2: 'llm.api_key_env' names the environment variable"),
            std::string::npos)
      << r.err;
  EXPECT_EQ((r.out + r.err).find(kKey), std::string::npos);
}

TEST_F(ConfigCli, InvalidEndpointAndPatternAreErrorsWithTheLine) {
  std::string f =
      Write("ep.toml", "[llm]\nmodel = \"m\"\nendpoint = \"ftp://llm.firm.example/v1\"\n");
  CliRun r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":3: 'llm.endpoint': "), std::string::npos) << r.err;
  f = Write("cred.toml", "[llm]\nendpoint = \"https://alice:hunter2pw@llm.firm.example/v1\"\n");
  r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":2: 'llm.endpoint': "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2pw"), std::string::npos)
      << "credentials are not repeated: " << r.err;
  f = Write("re.toml", "[redact]\npatterns = [\"\\\\d{3}\", \"(unclosed\"]\n");
  r = RunCli("ask --index " + Index() + " --config " + f + " q", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(f + ":2: 'redact.patterns': "), std::string::npos) << r.err;
}

// The file's endpoint, model, key variable, redaction and retries drive a
// real ask; JSON logs carry the question's OTel trace id.
TEST_F(ConfigCli, AskUsesTheFileAndJsonLogsCarryTheTraceId) {
  // The first chat request fails with a 503; with max_retries = 0 from the
  // file it is not retried, so hop 1 falls back (a log line about the question).
  ScriptedReply fail;
  fail.path = "/chat/completions";
  fail.status = 503;
  fail.body = R"({"error":{"message":"overloaded"}})";
  server_->Script(fail);
  ScriptedReply ok;
  ok.path = "/chat/completions";
  ok.times = -1;
  ok.content = "[[ ## query ## ]]\nsupplier terminate notice\n\n[[ ## completed ## ]]";
  server_->Script(ok);
  Write("idx/foldback.toml",
        "[llm]\nendpoint = \"" + server_->base_url() +
            "\"\nmodel = \"model-from-file\"\n"
            "api_key_env = \"FOLDBACK_CONFIG_TEST_KEY\"\n\n[redact]\npatterns = ['ninety']\n\n"
            "[retry]\nmax_retries = 0\ninitial_delay_ms = 10\n\n[log]\nformat = \"json\"\n");
  CliRun r = RunCli("ask --index " + Index() +
                        " --hops 2 --json 'Can the supplier terminate on ninety days notice?'",
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json out = json::parse(r.out);
  const std::string trace = out["trace_id"];
  std::string otel;
  for (char c : trace) {
    if (c != '-') otel += c;
  }
  ASSERT_EQ(otel.size(), 32u) << trace;

  // The endpoint and model came from the file; the key from the variable
  // it names; the pattern was redacted; the 503 was not retried.
  const auto requests = server_->requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[0].status, 503);
  EXPECT_EQ(requests[1].status, 200) << "the second request is hop 2's, not a retry of hop 1's";
  for (const auto& q : requests) {
    EXPECT_NE(q.body.find("model-from-file"), std::string::npos);
    EXPECT_EQ(q.body.find("ninety"), std::string::npos) << "redacted by the file's pattern";
    auto auth = q.headers.find("authorization");
    ASSERT_NE(auth, q.headers.end());
    EXPECT_EQ(auth->second, std::string("Bearer ") + kKey);
  }

  // Every stderr line is one JSON object with ts, level, msg; lines about
  // the question carry its OTel trace id (and the foldback id beside it).
  std::istringstream lines(r.err);
  std::string line;
  size_t n = 0, with_trace = 0;
  bool fallback = false, answered = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++n;
    json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    EXPECT_EQ(line.find(kKey), std::string::npos);
    if (j.contains("trace_id")) {
      ++with_trace;
      EXPECT_EQ(j["trace_id"], otel) << line;
      EXPECT_EQ(j["foldback_trace_id"], trace) << line;
    }
    if (j.value("component", "") == "fallback") {
      fallback = true;
      EXPECT_EQ(j["level"], "warning");
      EXPECT_TRUE(j.contains("trace_id")) << line;
    }
    if (j["msg"] == "question answered") answered = true;
  }
  EXPECT_GE(n, 2u) << r.err;
  EXPECT_EQ(with_trace, n) << "every line of this run is about the question:\n" << r.err;
  EXPECT_TRUE(fallback) << r.err;
  EXPECT_TRUE(answered) << r.err;
}

TEST_F(ConfigCli, TextLogsStayAsTheyWereAndTheFlagBeatsTheFile) {
  Write("idx/foldback.toml", "[log]\nformat = \"json\"\n");
  // The flag wins: text, the CLI's usual "note:" line.
  CliRun r = RunCli("--log-format text ask --index " + Index() + " --json 'terminate notice'",
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("note: no --endpoint given"), std::string::npos) << r.err;
  // The file alone: JSON (also for an error).
  r = RunCli("search --index " + Index() + " --mode nonsense 'terminate'", Stderr::kSeparate);
  EXPECT_EQ(r.code, 2);
  json j = json::parse(r.err.substr(0, r.err.find('\n')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.err;
  EXPECT_EQ(j["level"], "error");
  EXPECT_NE(j["msg"].get<std::string>().find("--mode"), std::string::npos);
  // A bad --log-format is refused.
  r = RunCli("--log-format yaml search --index " + Index() + " x", Stderr::kSeparate);
  EXPECT_NE(r.code, 0);
}

}  // namespace
}  // namespace foldback::testing
