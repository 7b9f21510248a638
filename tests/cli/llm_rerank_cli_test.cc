// `--rerank llm` on `search`, `ask` and `eval`, run as a user runs them,
// against the loopback test server, which ranks the numbered passages by
// word overlap with the question (EchoRanking) so the order is known: the
// reranked order, the walls (a walled passage never reaches a request
// body), redaction, an endpoint that is down (the first-stage order, a
// warning, exit 0) and a missing endpoint (an error).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "endpoint_cli_fixture.h"

namespace foldback::testing {
namespace {

using json = nlohmann::json;

// The test server counts every question word of 3+ letters, stopwords
// too, which the first stage ignores: overlap b 4, c 3, a 1 (the search
// says c, b, a); d (matter beta) 5, the best of all.
const char kQuestion[] = "termination about these with which";

class LlmRerankCliTest : public EndpointCliTest {
 protected:
  LlmRerankCliTest() : EndpointCliTest("llmrerank", "FOLDBACK_LLMRERANK_KEY", "sk-llmrerank-1") {}
  void SetUp() override {
    Prepare({{"acme",
              {{"a.txt", "Termination. Termination termination of the deal, termination."},
               {"b.txt",
                "About these terms, which both parties agree over many long years of dealing, "
                "termination may follow. Call 555-12-3456."},
               {"c.txt", "Termination notice about these."}}},
             {"beta", {{"d.txt", "Termination about these with which kumquat."}}}});
    // An echo server instead of the fixture's: it answers rerank prompts.
    server_->Stop();
    LlmTestServerOptions so;
    so.echo = true;
    auto s = LlmTestServer::Start(so);
    ASSERT_TRUE(s.ok());
    server_ = std::move(*s);
  }

  std::vector<std::string> Docs(const json& hits) {
    std::vector<std::string> out;
    for (const auto& h : hits) out.push_back(h["doc_id"].get<std::string>());
    return out;
  }
  std::vector<std::string> RerankBodies() {
    std::vector<std::string> out;
    for (const auto& r : server_->requests()) {
      if (r.body.find("ranking") != std::string::npos) out.push_back(r.body);
    }
    return out;
  }
};

TEST_F(LlmRerankCliTest, SearchOrdersByTheModelAndNeverSendsAWalledPassage) {
  std::string base = "search --index " + Index() + " --allowed-matters acme --json ";
  CliRun plain = RunCli(base + ShellQuote(kQuestion), Stderr::kSeparate);
  ASSERT_EQ(plain.code, 0) << plain.out << plain.err;
  auto first = Docs(Json(plain));
  ASSERT_EQ(first.size(), 3u) << plain.out;
  EXPECT_NE(first[0], "b") << "the first stage must differ from the model's order";
  EXPECT_EQ(server_->request_count(), 0u);

  CliRun r = RunCli(base + "--rerank llm " + Endpoint() + " --redact '\\d{3}-\\d{2}-\\d{4}' " +
                        ShellQuote(kQuestion),
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto hits = Json(r);
  EXPECT_EQ(Docs(hits), (std::vector<std::string>{"b", "c", "a"})) << r.out;
  auto bodies = RerankBodies();
  ASSERT_EQ(bodies.size(), 1u);  // three passages: one window
  for (const std::string& b : bodies) {
    EXPECT_EQ(b.find("kumquat"), std::string::npos) << "a walled passage was sent";
    EXPECT_EQ(b.find("555-12-3456"), std::string::npos) << "not redacted";
    EXPECT_NE(b.find("[REDACTED]"), std::string::npos);
    EXPECT_EQ(b.find("sk-llmrerank-1"), std::string::npos);
  }
  EXPECT_EQ(server_->requests()[0].Header("authorization"), "Bearer sk-llmrerank-1");
  // Without walls the beta passage is a candidate, and it is ranked first.
  server_->ClearRequests();
  CliRun open = RunCli("search --index " + Index() + " --json --rerank llm " + Endpoint() + " " +
                           ShellQuote(kQuestion),
                       Stderr::kSeparate);
  ASSERT_EQ(open.code, 0) << open.err;
  EXPECT_EQ(Docs(Json(open)), (std::vector<std::string>{"d", "b", "c", "a"})) << open.out;
}

TEST_F(LlmRerankCliTest, AskRerankIsTheSameOrderAndTheSameWalls) {
  CliRun r = RunCli("ask --index " + Index() + " --allowed-matters acme --json --rewrite none " +
                        "--hops 1 --depth 5 --top-k 5 --rerank llm " + Endpoint() + " " +
                        ShellQuote(kQuestion),
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(Docs(Json(r)["results"]), (std::vector<std::string>{"b", "c", "a"})) << r.out;
  ASSERT_EQ(RerankBodies().size(), 1u);
  for (const auto& req : server_->requests())
    EXPECT_EQ(req.body.find("kumquat"), std::string::npos) << "a walled passage was sent";
  // ask --rerank llm without an endpoint is an error, not a silent no-op.
  CliRun none = RunCli("ask --index " + Index() + " --rerank llm " + ShellQuote(kQuestion));
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.out.find("--rerank llm needs --endpoint"), std::string::npos) << none.out;
}

TEST_F(LlmRerankCliTest, EndpointDownKeepsTheFirstStageOrderWithAWarning) {
  std::string base = "search --index " + Index() + " --allowed-matters acme --json ";
  CliRun plain = RunCli(base + ShellQuote(kQuestion), Stderr::kSeparate);
  ASSERT_EQ(plain.code, 0);
  // A port nothing listens on (the stopped server's), no retries wanted.
  const std::string down = server_->base_url();
  server_->Stop();
  CliRun r =
      RunCli(base + "--rerank llm --endpoint " + down + " --model m " + ShellQuote(kQuestion),
             Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(Docs(Json(r)), Docs(Json(plain)));
  EXPECT_NE(r.err.find("not applied (failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("first-stage order is kept"), std::string::npos) << r.err;
  // No endpoint at all: a clear error.
  CliRun none = RunCli(base + "--rerank llm " + ShellQuote(kQuestion));
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.out.find("--rerank llm needs --endpoint"), std::string::npos) << none.out;
  CliRun bad = RunCli(base + "--rerank llm --rerank-window 1 " + Endpoint() + " q");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("window"), std::string::npos) << bad.out;
}

TEST_F(LlmRerankCliTest, EvalRerankCountsRequestsPerQuery) {
  // A BEIR set of the three acme passages and two queries.
  WriteFile(dir_ / "corpus.jsonl",
            "{\"_id\": \"a\", \"text\": \"Termination. Termination termination of the deal, "
            "termination.\"}\n"
            "{\"_id\": \"b\", \"text\": \"About these terms, which both parties agree over many "
            "long years of dealing, termination may follow.\"}\n"
            "{\"_id\": \"c\", \"text\": \"Termination notice about these.\"}\n");
  WriteFile(dir_ / "queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"termination about these with which\"}\n"
            "{\"_id\": \"q2\", \"text\": \"termination with which\"}\n");
  WriteFile(dir_ / "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\tb\t1\nq2\tb\t1\n");
  std::string args = "eval --corpus " + (dir_ / "corpus.jsonl").string() + " --queries " +
                     (dir_ / "queries.jsonl").string() + " --qrels " +
                     (dir_ / "qrels.tsv").string() + " --json";
  CliRun base = RunCli(args, Stderr::kSeparate);
  ASSERT_EQ(base.code, 0) << base.out << base.err;
  CliRun r = RunCli(args + " --rerank llm --rerank-depth 3 " + Endpoint(), Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  ASSERT_TRUE(j.contains("rerank")) << r.out;
  EXPECT_EQ(j["rerank"]["kind"], "llm");
  EXPECT_EQ(j["rerank"]["lists"], 2);
  EXPECT_EQ(j["rerank"]["applied"], 2);
  EXPECT_EQ(j["rerank"]["failed"], 0);
  EXPECT_DOUBLE_EQ(j["rerank"]["requests_per_query"].get<double>(), 1.0);
  EXPECT_EQ(RerankBodies().size(), 2u);
  // The overlap ranking puts b first for both queries; the search does not.
  EXPECT_DOUBLE_EQ(j["mrr@10"].get<double>(), 1.0) << r.out;
  EXPECT_LT(Json(base)["mrr@10"].get<double>(), 1.0) << base.out;
  // With --feedback-queries it is refused (nothing to learn).
  CliRun refused = RunCli(args + " --rerank llm " + Endpoint() + " --feedback-queries " +
                          (dir_ / "queries.jsonl").string());
  EXPECT_NE(refused.code, 0);
}

}  // namespace
}  // namespace foldback::testing
