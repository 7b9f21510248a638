// Security of the command-line tool, driven as a user drives it, against the
// OpenAI-compatible test server on loopback:
//   - a canary API key used end to end (ask, a failing ask whose error
//     echoes the key, feedback, exports, compaction, search, a second ask
//     folding feedback back) is nowhere but in the Authorization header:
//     not in stdout or stderr of any command, not in any file the tool
//     writes (traces, feedback log, exports, snapshot), not even in part;
//   - --redact: what a pattern matches never reaches the server, and the
//     trace says which pattern fired; a pattern that makes backtracking
//     matchers explode finishes;
//   - terminal control sequences planted in documents or sent by a model
//     are printed inert;
//   - exports honour --allowed-matters.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"
#include "llm_test_server.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::CliRun;
using foldback::testing::LlmTestServer;
using foldback::testing::ScriptedReply;
using nlohmann::json;
// stdout and stderr apart: the tests check each for leaks.
CliRun Cli(const std::string& args) {
  return foldback::testing::RunCli(args, foldback::testing::Stderr::kSeparate);
}
std::string ReadAll(const fs::path& p) { return foldback::testing::ReadFile(p); }
void Write(const fs::path& p, const std::string& data) { foldback::testing::WriteFile(p, data); }
std::string Shell(const std::string& s) { return foldback::testing::ShellQuote(s); }

const char kCanary[] = "sk-canary-HARDEN-9f3Kq7Zx2Lm5Np8Rt4Vw6Yb1";
const char kKeyVar[] = "FOLDBACK_SECURITY_TEST_KEY";
const char kSsn[] = "078-05-1120";

std::string Markers(const std::string& field, const std::string& value) {
  return "[[ ## " + field + " ## ]]\n" + value + "\n\n[[ ## completed ## ]]";
}

ScriptedReply Reply(const std::string& content) {
  ScriptedReply r;
  r.path = "/chat/completions";
  r.content = content;
  return r;
}

// Pieces of the key a leak could show: the whole, and every 12 characters.
std::vector<std::string> KeyPieces() {
  std::string k = kCanary;
  std::vector<std::string> out = {k};
  for (size_t i = 0; i + 12 <= k.size(); ++i) out.push_back(k.substr(i, 12));
  return out;
}

class SecurityCli : public foldback::testing::EndpointCliTest {
 protected:
  SecurityCli() : EndpointCliTest("sec", kKeyVar, kCanary) {}
  void SetUp() override {
    Prepare(
        {{"acme",
          {{"msa.txt",
            "12. Termination. 12.1 Either party may terminate this Agreement for convenience upon "
            "sixty (60) days "
            "prior written notice. 12.2 Payroll questions: employee SSN " +
                std::string(kSsn) + " must never be disclosed."},
           {"lease.txt",
            "8. Early termination. The Tenant may end the lease early by paying three months of "
            "rent as a "
            "termination fee."}}},
         {"beta",
          {{"nda.txt",
            "3. Confidentiality. Project Quokkafield is secret. Termination for convenience is "
            "not permitted "
            "during the initial term of the Quokkafield agreement."}}}});
  }

  CliRun Run(const std::string& args) {
    CliRun r = Cli(args);
    runs_.push_back(r);
    return r;
  }

  std::vector<CliRun> runs_;
};

TEST_F(SecurityCli, CanaryKeyIsNowhereButInTheAuthorizationHeader) {
  // 1. An ask whose model echoes the key in its query and its answer.
  server_->Script(Reply(Markers("query", std::string("terminate for convenience ") + kCanary)));
  server_->Script(Reply(Markers("query", "termination notice days")));
  server_->Script(
      Reply(Markers("answer", std::string("Yes, on sixty days' notice [1]. Key: ") + kCanary)));
  CliRun ask =
      Run("ask --index " + Index() + " " + Endpoint() +
          " --hops 2 --answer --allowed-matters acme --json 'Can we terminate for convenience?'");
  ASSERT_EQ(ask.code, 0) << ask.out << ask.err;
  json j = Json(ask);
  std::string trace_id = j["trace_id"];
  ASSERT_FALSE(j["results"].empty());
  std::string chunk = j["results"][0]["chunk_id"];

  // 2. An ask the endpoint refuses, echoing the key in its error (as
  //    OpenAI's 401 does, partly masked — here whole), then a 500 that does
  //    the same on every retry.
  ScriptedReply unauthorized;
  unauthorized.path = "/chat/completions";
  unauthorized.status = 401;
  unauthorized.body = std::string(R"({"error": {"message": "Incorrect API key provided: )") +
                      kCanary +
                      R"(.", "type": "invalid_request_error", "code": "invalid_api_key"}})";
  server_->Script(unauthorized);
  CliRun refused = Run("ask --index " + Index() + " " + Endpoint() + " --hops 1 'termination fee'");
  EXPECT_EQ(refused.code, 0) << refused.out << refused.err;  // RM3 fallback, reported
  ScriptedReply broken;
  broken.path = "/chat/completions";
  broken.status = 500;
  broken.times = -1;
  broken.body = std::string("upstream failed for key ") + kCanary;
  server_->Script(broken);
  CliRun failing = Run("ask --index " + Index() + " " + Endpoint() +
                       " --hops 1 --answer --json 'termination fee'");
  EXPECT_EQ(failing.code, 0) << failing.out << failing.err;
  server_->ClearScript();
  EXPECT_NE(refused.out.find("401"), std::string::npos) << refused.out << refused.err;

  // 3. Feedback on the first trace, exports of every format, compaction,
  //    a search with feedback, and an ask folding the feedback back in.
  CliRun fb = Run("feedback --index " + Index() + " --trace " + trace_id +
                  " --rating up --relevant " + Shell(chunk) +
                  " --correction 'Yes, on sixty days notice [1].' --preferred-rewrite 'terminate "
                  "convenience notice'"
                  " --consent");
  ASSERT_EQ(fb.code, 0) << fb.out << fb.err;
  fs::create_directories(dir_ / "exports");
  for (const char* format : {"triplets", "dpo", "sft", "demos"}) {
    CliRun e = Run("export --index " + Index() + " --format " + format + " --out " +
                   (dir_ / "exports" / (std::string(format) + ".out")).string());
    EXPECT_EQ(e.code, 0) << e.out << e.err;
  }
  EXPECT_EQ(Run("compact --index " + Index()).code, 0);
  EXPECT_EQ(Run("search --index " + Index() + " --feedback termination").code, 0);
  EXPECT_EQ(Run("info --index " + Index()).code, 0);
  server_->Script(Reply(Markers("query", "termination for convenience notice")));
  CliRun again =
      Run("ask --index " + Index() + " " + Endpoint() +
          " --hops 1 --allowed-matters acme --feedback 'May we terminate for convenience?'");
  EXPECT_EQ(again.code, 0) << again.out << again.err;

  // Scan everything.
  size_t files = 0;
  for (const std::string& piece : KeyPieces()) {
    for (const CliRun& r : runs_) {
      ASSERT_EQ(r.out.find(piece), std::string::npos) << piece << " in stdout:\n" << r.out;
      ASSERT_EQ(r.err.find(piece), std::string::npos) << piece << " in stderr:\n" << r.err;
    }
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      if (piece == kCanary) ++files;
      ASSERT_EQ(ReadAll(e.path()).find(piece), std::string::npos) << piece << " in " << e.path();
    }
    for (const auto& req : server_->requests()) {
      ASSERT_EQ(req.body.find(piece), std::string::npos) << piece << " in a request body";
      for (const auto& [name, value] : req.headers) {
        if (name != "authorization") {
          ASSERT_EQ(value.find(piece), std::string::npos) << name;
        }
      }
    }
  }
  // What was scanned: the snapshot, the feedback log, traces, exports.
  EXPECT_GE(files, 10u);
  EXPECT_TRUE(fs::exists(dir_ / "idx" / "index.fbsnap"));
  EXPECT_TRUE(fs::exists(dir_ / "idx" / "traces" / (trace_id + ".json")));
  EXPECT_GT(fs::file_size(dir_ / "exports" / "sft.out"), 0u);
  for (const auto& req : server_->requests())
    EXPECT_EQ(req.Header("authorization"), std::string("Bearer ") + kCanary);
}

TEST_F(SecurityCli, RedactedTextNeverReachesTheServerAndTheTraceSaysSo) {
  server_->Script(Reply(Markers("query", "payroll SSN termination")));
  server_->Script(Reply(Markers("query", "employee SSN disclosed")));
  server_->Script(Reply(Markers("answer", "It must never be disclosed [1].")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 2 --answer --allowed-matters acme" + " --redact " +
                 Shell(R"(\b\d{3}-\d{2}-\d{4}\b)") + " --json " +
                 Shell(std::string("What about employee ") + kSsn + " and termination?"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_GE(server_->requests().size(), 2u);
  for (const auto& req : server_->requests())
    EXPECT_EQ(req.body.find(kSsn), std::string::npos) << req.body;
  json j = Json(r);
  ASSERT_TRUE(j.contains("redactions")) << j.dump();
  std::string lines = j["redactions"].dump();
  EXPECT_NE(lines.find("pattern-1 x"), std::string::npos) << lines;
  EXPECT_EQ(lines.find(kSsn), std::string::npos);
  json trace =
      json::parse(ReadAll(dir_ / "idx" / "traces" / (j["trace_id"].get<std::string>() + ".json")));
  EXPECT_EQ(trace["redactions"], j["redactions"]);

  // A pattern on which a backtracking matcher takes exponential time (and
  // std::regex also overflows its stack on long text): finishes.
  std::string words;
  for (int i = 0; i < 3000; ++i) words += "word" + std::to_string(i % 10) + " ";
  Write(dir_ / "docs" / "acme" / "long.txt", "Termination for convenience. " + words + "end");
  ASSERT_EQ(Cli("ingest --index " + Index() + " --matter acme " +
                (dir_ / "docs" / "acme" / "long.txt").string())
                .code,
            0);
  server_->ClearRequests();
  server_->Script(Reply(Markers("query", "termination convenience word1")));
  CliRun slow =
      Cli("ask --index " + Index() + " " + Endpoint() +
          " --hops 2 --allowed-matters acme --redact " + Shell(R"((\w+\s?)+secret)") +
          " --redact " + Shell(R"([a-z0-9 ]+@x)") + " --json 'termination for convenience word'");
  EXPECT_EQ(slow.code, 0) << slow.out << slow.err;

  // Patterns outside the language are refused clearly.
  CliRun bad = Cli("ask --index " + Index() + " " + Endpoint() + " --redact '(?<=x)y' q");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--redact"), std::string::npos) << bad.err;
}

bool HasControl(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

TEST_F(SecurityCli, TerminalControlSequencesArePrintedInert) {
  // OSC 52 (write the clipboard), OSC 8 (a hyperlink to an outside host),
  // a screen clear, colours, a C1 CSI, a bidi override.
  const std::string hostile =
      "Termination notice. \x1b]52;c;ZXZpbA==\x07 Click \x1b]8;;https://evil.example/\x1b\\here"
      "\x1b]8;;\x1b\\ \x1b[2J\x1b[31mRED\x1b[0m \xC2\x9B"
      "31m \xE2\x80\xAE"
      "desrever end.";
  fs::create_directories(dir_ / "docs" / "hostile");
  Write(dir_ / "docs" / "hostile" / ("notice\x1b[2J.txt"), hostile);
  ASSERT_EQ(
      Cli("ingest --index " + Index() + " --matter acme " + (dir_ / "docs" / "hostile").string())
          .code,
      0);
  CliRun search = Cli("search --index " + Index() + " --mode bm25 'termination notice'");
  ASSERT_EQ(search.code, 0) << search.err;
  EXPECT_NE(search.out.find("Termination notice."), std::string::npos) << search.out;
  EXPECT_FALSE(HasControl(search.out)) << search.out;
  EXPECT_EQ(search.out.find("\xE2\x80\xAE"), std::string::npos);
  CliRun extract =
      Cli("extract " + Shell((dir_ / "docs" / "hostile" / "notice\x1b[2J.txt").string()));
  EXPECT_FALSE(HasControl(extract.out)) << extract.out;
  EXPECT_FALSE(HasControl(extract.err)) << extract.err;
  // The same bytes from a model: its query and its answer.
  server_->Script(Reply(Markers("query", "termination \x1b]52;c;AAAA\x07 notice")));
  server_->Script(Reply(
      Markers("answer", "Yes \x1b[2J\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ [1]")));
  CliRun ask =
      Cli("ask --index " + Index() + " " + Endpoint() + " --hops 1 --answer 'termination notice'");
  ASSERT_EQ(ask.code, 0) << ask.out << ask.err;
  EXPECT_NE(ask.out.find("answer:"), std::string::npos) << ask.out;
  EXPECT_FALSE(HasControl(ask.out)) << ask.out;
  EXPECT_FALSE(HasControl(ask.err)) << ask.err;
  // JSON output escapes them (\u001b): machine readers get the exact text.
  CliRun js = Cli("search --index " + Index() + " --mode bm25 --json 'termination notice'");
  EXPECT_FALSE(HasControl(js.out));
  EXPECT_NE(js.out.find("\\u001b]52"), std::string::npos);
  json hits = Json(js);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["text"].get<std::string>(), hostile);  // same text once parsed
}

TEST_F(SecurityCli, ExportsHonourTheWall) {
  std::vector<std::string> traces;
  for (const char* matter : {"acme", "beta"}) {
    server_->Script(Reply(Markers("query", "termination for convenience")));
    CliRun a = Cli("ask --index " + Index() + " " + Endpoint() + " --hops 1 --allowed-matters " +
                   matter + " --json 'termination for convenience'");
    ASSERT_EQ(a.code, 0) << a.err;
    json j = Json(a);
    ASSERT_FALSE(j["results"].empty()) << matter;
    CliRun f = Cli("feedback --index " + Index() + " --trace " + j["trace_id"].get<std::string>() +
                   " --rating up --relevant " + Shell(j["results"][0]["chunk_id"]) + " --matter " +
                   matter + " --correction 'See [1].' --consent");
    ASSERT_EQ(f.code, 0) << f.out << f.err;
  }
  for (const char* format : {"triplets", "dpo", "sft", "demos"}) {
    fs::path walled = dir_ / (std::string(format) + "-acme.out");
    fs::path all = dir_ / (std::string(format) + "-all.out");
    CliRun w = Cli("export --index " + Index() + " --format " + format +
                   " --allowed-matters acme --out " + walled.string());
    ASSERT_EQ(w.code, 0) << w.out << w.err;
    EXPECT_NE(w.out.find("1 behind the wall"), std::string::npos) << w.out;
    CliRun a = Cli("export --index " + Index() + " --format " + format + " --out " + all.string());
    ASSERT_EQ(a.code, 0) << a.out << a.err;
    EXPECT_EQ(ReadAll(walled).find("Quokkafield"), std::string::npos) << format;
    if (std::string(format) == "sft") {
      EXPECT_NE(ReadAll(all).find("Quokkafield"), std::string::npos) << format;
    }
  }
}

}  // namespace
