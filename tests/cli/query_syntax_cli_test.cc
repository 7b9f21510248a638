// Terms and connectors from the command line: `search` with phrases,
// prefixes and /N, /s; --syntax auto|plain|connectors; the notes on stderr;
// a format-1 index folder (tests/data/snapshots/format1) still searched;
// `ask` hop queries written with connectors by the endpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::CliRun;
using foldback::testing::RunCli;
using foldback::testing::ShellQuote;
using foldback::testing::Stderr;
using foldback::testing::WriteFile;

CliRun Search(const std::string& index, const std::string& query, const std::string& extra = "") {
  return RunCli("search --index " + ShellQuote(index) + " --mode bm25 --top-k 20 --json " + extra +
                    " " + ShellQuote(query),
                Stderr::kSeparate);
}

std::set<std::string> Docs(const CliRun& r) {
  std::set<std::string> out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array()) << r.out << r.err;
  if (!j.is_array()) return out;
  for (const auto& h : j) out.insert(h.at("doc_id").get<std::string>());
  return out;
}

class QuerySyntaxCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = foldback::testing::FreshTempDir("query-syntax", "cli");
    fs::create_directories(dir_ + "/docs");
    WriteFile(dir_ + "/docs/msa.txt",
              "12. Termination. Either party may terminate this Agreement for convenience upon "
              "sixty days notice. Termination for convenience requires payment of fees.\n");
    WriteFile(dir_ + "/docs/lease.txt",
              "8. Early termination. The Tenant may terminate the lease for cause. Convenience "
              "is no ground.\n");
    WriteFile(dir_ + "/docs/supply.txt",
              "The Supplier shall indemnify the Customer against claims of any third party.\n");
    CliRun r = RunCli("ingest --index " + dir_ + "/idx --no-dense " + dir_ + "/docs");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Index() const { return dir_ + "/idx"; }
  std::string dir_;
};

TEST_F(QuerySyntaxCli, PhrasesPrefixesAndConnectors) {
  CliRun r = Search(Index(), "\"termination for convenience\"");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"msa"}));
  r = Search(Index(), "terminat* /s convenience");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"msa"}));
  r = Search(Index(), "terminat* /p convenience");
  EXPECT_EQ(Docs(r), (std::set<std::string>{"msa", "lease"}));
  r = Search(Index(), "indemnif* /10 \"third party\"", "--syntax connectors");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"supply"}));
  // --syntax plain: the quotes are punctuation, every matching passage comes back.
  r = Search(Index(), "\"termination for convenience\"", "--syntax plain");
  EXPECT_EQ(Docs(r), (std::set<std::string>{"msa", "lease"}));
  // Without operators, auto and plain print the same bytes.
  EXPECT_EQ(Search(Index(), "termination convenience notice").out,
            Search(Index(), "termination convenience notice", "--syntax plain").out);
}

TEST_F(QuerySyntaxCli, MalformedQueriesFallBackOrFail) {
  // A lawyer's question with a stray quote mark: results, and a note.
  CliRun r = Search(Index(), "Can we terminate for \"convenience?");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(Docs(r).empty());
  EXPECT_NE(r.err.find("searched as plain words: unbalanced quote"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, Search(Index(), "Can we terminate for \"convenience?", "--syntax plain").out);
  // Strict: an error that says what is wrong.
  r = Search(Index(), "terminate /0 convenience", "--syntax connectors");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("connectors count from /1"), std::string::npos) << r.err;
  r = Search(Index(), "*", "--syntax connectors");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("lone '*'"), std::string::npos) << r.err;
  r = Search(Index(), "x", "--syntax lexis");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--syntax must be auto, plain or connectors"), std::string::npos) << r.err;
  // A prefix that expands to nothing is noted.
  r = Search(Index(), "zzq*");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("no indexed word starts with 'zzq'"), std::string::npos) << r.err;
}

TEST(QuerySyntaxCliOld, FormatOneIndexStillSearches) {
  std::string dir = foldback::testing::FreshTempDir("query-syntax", "format1");
  fs::create_directories(dir + "/idx");
  fs::copy_file(fs::path(FOLDBACK_TEST_DATA) / "snapshots/format1/index.fbsnap",
                dir + "/idx/index.fbsnap");
  CliRun r = Search(dir + "/idx", "termination convenience");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"a", "b"}));
  // Connectors need positions: auto says so and searches plain words...
  r = Search(dir + "/idx", "\"termination for convenience\"");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"a", "b"}));
  EXPECT_NE(r.err.find("rebuild the index"), std::string::npos) << r.err;
  // ...strict refuses.
  r = Search(dir + "/idx", "\"termination for convenience\"", "--syntax connectors");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("rebuild the index"), std::string::npos) << r.err;
  // Re-ingested into a new index, the phrase works.
  fs::create_directories(dir + "/docs");
  WriteFile(dir + "/docs/a.txt", "Termination for convenience requires payment of all fees.\n");
  r = RunCli("ingest --index " + dir + "/new --no-dense " + dir + "/docs");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Search(dir + "/new", "\"termination for convenience\"", "--syntax connectors");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Docs(r), (std::set<std::string>{"a"}));
  fs::remove_all(dir);
}

const char kKeyVar[] = "FOLDBACK_SYNTAX_TEST_KEY";

class QuerySyntaxAskCli : public foldback::testing::EndpointCliTest {
 protected:
  QuerySyntaxAskCli() : EndpointCliTest("syntax-ask", kKeyVar, "sk-syntax-test") {}
  void SetUp() override {
    Prepare({{"acme",
              {{"msa.txt",
                "Either party may terminate this Agreement for convenience upon sixty days notice. "
                "Termination for convenience requires payment of fees."},
               {"lease.txt",
                "The Tenant may terminate the lease for cause. Convenience is no ground."}}}});
  }
};

foldback::testing::ScriptedReply Hop(const std::string& query) {
  foldback::testing::ScriptedReply r;
  r.path = "/chat/completions";
  r.content = "[[ ## query ## ]]\n" + query + "\n\n[[ ## completed ## ]]";
  return r;
}

TEST_F(QuerySyntaxAskCli, HopQueriesMayUseConnectors) {
  server_->Script(Hop("\"termination for convenience\" fees"));
  CliRun r = RunCli("ask --index " + Index() + " " + Endpoint() +
                        " --hops 1 --mode bm25 --json 'Can we leave early?'",
                    Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  nlohmann::json j = Json(r);
  ASSERT_EQ(j["hops"].size(), 1u);
  EXPECT_EQ(j["hops"][0]["query"], "\"termination for convenience\" fees");
  std::set<std::string> docs;
  for (const auto& h : j["hops"][0]["results"]) docs.insert(h["doc_id"].get<std::string>());
  EXPECT_EQ(docs, (std::set<std::string>{"msa"}));
  // --syntax plain reads the same hop query as words.
  server_->Script(Hop("\"termination for convenience\" fees"));
  r = RunCli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 1 --mode bm25 --syntax plain --json 'Can we leave early?'",
             Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  j = Json(r);
  docs.clear();
  for (const auto& h : j["hops"][0]["results"]) docs.insert(h["doc_id"].get<std::string>());
  EXPECT_EQ(docs, (std::set<std::string>{"msa", "lease"}));
}

}  // namespace
