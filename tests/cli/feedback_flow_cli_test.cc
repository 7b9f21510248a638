// The feedback loop as a new user runs it, against the loopback LLM server:
// `foldback ask --answer`, then `foldback feedback --correction`, then
// `foldback export --format dpo` — the saved trace carries the answer, so
// the export has a row (answer rejected, correction chosen). And the walls
// the question was asked behind hold for the feedback on it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"
#include "llm_test_server.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::CliRun;
using foldback::testing::ScriptedReply;
using nlohmann::json;

CliRun Cli(const std::string& args) {
  return foldback::testing::RunCli(args, foldback::testing::Stderr::kSeparate);
}

ScriptedReply Reply(const std::string& field, const std::string& value) {
  ScriptedReply r;
  r.path = "/chat/completions";
  r.content = "[[ ## " + field + " ## ]]\n" + value + "\n\n[[ ## completed ## ]]";
  return r;
}

std::vector<json> Lines(const fs::path& p) {
  std::vector<json> out;
  std::istringstream in(foldback::testing::ReadFile(p));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

class FeedbackFlowCli : public foldback::testing::EndpointCliTest {
 protected:
  FeedbackFlowCli() : EndpointCliTest("fbflow", "FOLDBACK_FLOW_TEST_KEY", "sk-flow-test") {}
  void SetUp() override {
    Prepare({{"acme",
              {{"msa.txt",
                "12. Termination. Either party may terminate this Agreement for convenience "
                "upon sixty (60) days prior written notice."},
               {"nda.txt",
                "3. Confidentiality. The Recipient shall keep the information secret and "
                "return it on request."}}},
             {"beta",
              {{"license.txt",
                "6. Termination for convenience is not permitted during the initial term."}}}});
  }

  // `foldback ask --answer --json`, the model writing `answer`.
  json Ask(const std::string& extra, const std::string& answer) {
    server_->Script(Reply("query", "terminate for convenience notice"));
    server_->Script(Reply("answer", answer));
    CliRun r = Cli("ask --index " + Index() + " " + Endpoint() + " --hops 1 --answer --json " +
                   extra + " 'Can we terminate for convenience?'");
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Json(r);
  }

  // The chunk id of the first chunk of a document, as `foldback search` shows it.
  std::string ChunkOf(const std::string& text) {
    CliRun r = Cli("search --index " + Index() + " --mode bm25 --json '" + text + "'");
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    json hits = Json(r);
    EXPECT_FALSE(hits.empty());
    return hits.empty() ? "" : hits[0]["chunk_id"].get<std::string>();
  }
};

TEST_F(FeedbackFlowCli, AskAnswerThenCorrectionGivesADpoRow) {
  const std::string answer = "Yes, on sixty days' written notice [1].";
  json asked = Ask("", answer);
  ASSERT_EQ(asked["answer"], answer);
  std::string trace_id = asked["trace_id"];
  // The saved trace carries the answer.
  json trace =
      json::parse(foldback::testing::ReadFile(fs::path(Index()) / "traces" / (trace_id + ".json")));
  EXPECT_EQ(trace["answer"], answer);

  const std::string correction = "Yes, but only on sixty days' prior written notice [1].";
  CliRun r = Cli("feedback --index " + Index() + " --trace " + trace_id + " --correction " +
                 foldback::testing::ShellQuote(correction) + " --consent");
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  fs::path out = dir_ / "dpo.jsonl";
  r = Cli("export --index " + Index() + " --format dpo --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  std::vector<json> rows = Lines(out);
  ASSERT_EQ(rows.size(), 1u) << r.out << r.err;
  EXPECT_EQ(rows[0]["chosen"], correction);
  EXPECT_EQ(rows[0]["rejected"], answer);
  EXPECT_NE(rows[0]["prompt"].get<std::string>().find("Can we terminate for convenience?"),
            std::string::npos);
}

TEST_F(FeedbackFlowCli, TheWallOfTheQuestionHoldsForItsFeedback) {
  std::string beta = ChunkOf("initial term permitted");
  std::string acme = ChunkOf("sixty days prior written notice");
  ASSERT_NE(beta, acme);
  json asked = Ask("--allowed-matters acme", "Yes [1].");
  std::string trace_id = asked["trace_id"];
  uint64_t before = fs::exists(fs::path(Index()) / "feedback.log")
                        ? fs::file_size(fs::path(Index()) / "feedback.log")
                        : 0;
  const std::string base = "feedback --index " + Index() + " --trace " + trace_id + " ";
  // A label on a passage of a matter behind the question's wall: refused as
  // an unknown chunk would be, nothing written.
  CliRun r = Cli(base + "--relevant '" + beta + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("unknown chunk '" + beta + "'"), std::string::npos) << r.err;
  // A matter behind the wall.
  r = Cli(base + "--rating up --matter beta");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("ethical wall"), std::string::npos) << r.err;
  // The user's own wall narrows it further.
  r = Cli(base + "--rating up --allowed-matters beta");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("ethical wall"), std::string::npos) << r.err;
  uint64_t after = fs::exists(fs::path(Index()) / "feedback.log")
                       ? fs::file_size(fs::path(Index()) / "feedback.log")
                       : 0;
  EXPECT_EQ(after, before) << "a refused record was written";
  // Inside the wall: recorded, and its matter is the wall's one matter.
  r = Cli(base + "--relevant '" + acme + "' --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(Json(r)["matter"], "acme");
  // Forgotten matters stay forgotten: new feedback on them is refused.
  ASSERT_EQ(Cli("feedback --index " + Index() + " --forget-matter acme").code, 0);
  r = Cli(base + "--rating up");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("forgotten"), std::string::npos) << r.err;
}

}  // namespace
