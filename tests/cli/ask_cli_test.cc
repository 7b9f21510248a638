// `foldback ask`, run as a user runs it, against the OpenAI-compatible test
// server on loopback: canned multi-hop rewrites, endpoint down, a stalled
// endpoint and the deadline, answers and citations, DSPy programs, remote
// embeddings, bad input — and the API key never leaving its header.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"
#include "foldback/index.h"
#include "host/index_dir.h"
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

const char kCanary[] = "sk-cli-canary-7Hq2Lw9Xe4Rt6Yu1Io3Pa5Sd";
const char kKeyVar[] = "FOLDBACK_ASK_TEST_KEY";
const char kFixtureKey[] =
    "sk-fixture-SECRET-do-not-leak";  // in tests/data/dspy/dspy26_multihop.json

// A reply in DSPy's ChatAdapter layout.
std::string Markers(const std::string& field, const std::string& value) {
  return "[[ ## " + field + " ## ]]\n" + value + "\n\n[[ ## completed ## ]]";
}

ScriptedReply Reply(const std::string& content) {
  ScriptedReply r;
  r.path = "/chat/completions";
  r.content = content;
  return r;
}

const char* kDocs[][3] = {
    {"msa", "acme",
     "12. Termination. 12.1 Either party may terminate this Agreement for convenience upon sixty "
     "(60) days "
     "prior written notice to the other party. 12.2 Termination for cause requires thirty days to "
     "cure."},
    {"nda", "acme",
     "3. Confidentiality. The Recipient shall keep the Confidential Information of Project "
     "Nightingale secret "
     "and return it on request. 4. Term. This Agreement lasts three years."},
    {"lease", "acme",
     "7. Rent. The Tenant shall pay rent monthly in advance. 8. Early termination. The Tenant may "
     "end the lease "
     "early by paying three months of rent as a termination fee."},
    {"supply", "beta",
     "9. Force majeure. Neither party is liable for delay caused by events beyond its reasonable "
     "control. "
     "10. Governing law. This Agreement is governed by the laws of Delaware."},
    {"license", "beta",
     "5. Assignment. Licensee may not assign this Agreement without consent, except to an "
     "affiliate. "
     "6. Termination for convenience is not permitted during the initial term."},
};

class AskCli : public foldback::testing::EndpointCliTest {
 protected:
  AskCli() : EndpointCliTest("ask", kKeyVar, kCanary) {}
  void SetUp() override {
    std::map<std::string, std::map<std::string, std::string>> docs;
    for (const auto& d : kDocs) docs[d[1]][std::string(d[0]) + ".txt"] = d[2];
    Prepare(docs);
  }

  json Trace(const std::string& trace_id) {
    fs::path p = dir_ / "idx" / "traces" / (trace_id + ".json");
    EXPECT_TRUE(fs::exists(p)) << p;
    return json::parse(ReadAll(p), nullptr, false);
  }

  // The canary key is nowhere but in the requests' Authorization header.
  void ExpectNoKeyLeak(const CliRun& r) {
    for (const std::string& secret : {std::string(kCanary), std::string(kFixtureKey)}) {
      EXPECT_EQ(r.out.find(secret), std::string::npos);
      EXPECT_EQ(r.err.find(secret), std::string::npos);
      for (const auto& e : fs::recursive_directory_iterator(dir_ / "idx")) {
        if (e.is_regular_file()) {
          EXPECT_EQ(ReadAll(e.path()).find(secret), std::string::npos) << e.path();
        }
      }
      for (const auto& req : server_->requests()) {
        EXPECT_EQ(req.body.find(secret), std::string::npos);
        for (const auto& [name, value] : req.headers) {
          if (name != "authorization") {
            EXPECT_EQ(value.find(secret), std::string::npos) << name;
          }
        }
      }
    }
    for (const auto& req : server_->requests()) {
      EXPECT_EQ(req.Header("authorization"), std::string("Bearer ") + kCanary);
    }
  }
};

TEST_F(AskCli, HelpListsTheFlags) {
  CliRun r = Cli("ask --help");
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--endpoint", "--api-key-env", "--provider", "--hops", "--depth",
                           "--top-k", "--rewrite", "--answer", "--allowed-matters", "--deadline-ms",
                           "--program", "--embed-endpoint", "--json"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST_F(AskCli, TwoHopsWithCannedRewrites) {
  server_->Script(Reply(Markers("query", "terminate for convenience written notice")));
  server_->Script(Reply(Markers("query", "early termination fee lease")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 2 --depth 3 --top-k 4 --json 'Can we get out of our contracts early?'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  // The documented shape, in order.
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"fallbacks", "hops", "results", "trace_id"}));  // json sorts
  EXPECT_LT(r.out.find("\"trace_id\""), r.out.find("\"hops\""));
  EXPECT_LT(r.out.find("\"hops\""), r.out.find("\"results\""));
  EXPECT_LT(r.out.find("\"results\""), r.out.find("\"fallbacks\""));
  ASSERT_EQ(j["hops"].size(), 2u);
  EXPECT_EQ(j["hops"][0]["query"], "terminate for convenience written notice");
  EXPECT_EQ(j["hops"][1]["query"], "early termination fee lease");
  ASSERT_FALSE(j["hops"][0]["results"].empty());
  for (const char* k : {"chunk_id", "doc_id", "score"})
    EXPECT_TRUE(j["hops"][0]["results"][0].contains(k));
  ASSERT_FALSE(j["results"].empty());
  EXPECT_LE(j["results"].size(), 4u);
  for (const char* k : {"chunk_id", "doc_id", "score", "text"})
    EXPECT_TRUE(j["results"][0].contains(k)) << k;
  EXPECT_TRUE(j["fallbacks"].empty()) << j["fallbacks"].dump();
  EXPECT_FALSE(j.contains("answer"));

  // The trace on disk holds every hop's query.
  std::string id = j["trace_id"];
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '7');  // UUIDv7
  json t = Trace(id);
  ASSERT_EQ(t["hops"].size(), 2u);
  EXPECT_EQ(t["hops"][0]["query"], "terminate for convenience written notice");
  EXPECT_EQ(t["hops"][0]["source"], "llm");
  EXPECT_EQ(t["hops"][1]["query"], "early termination fee lease");
  EXPECT_EQ(t["question"], "Can we get out of our contracts early?");
  EXPECT_EQ(t["model"], "foldback-test-model");

  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].body.find("Can we get out of our contracts early?"), std::string::npos);
  // Hop 2's prompt carries what hop 1 found, as delimited data.
  EXPECT_NE(reqs[1].body.find("<passage"), std::string::npos);
  ExpectNoKeyLeak(r);
}

TEST_F(AskCli, HumanOutputShowsEveryHopsQuery) {
  server_->Script(Reply(Markers("query", "terminate for convenience written notice")));
  server_->Script(Reply(Markers("query", "early termination fee lease")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() + " --hops 2 'Can we get out early?'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  size_t q1 = r.out.find("query:   \"terminate for convenience written notice\"");
  size_t q2 = r.out.find("query:   \"early termination fee lease\"");
  ASSERT_NE(q1, std::string::npos) << r.out;
  ASSERT_NE(q2, std::string::npos) << r.out;
  EXPECT_LT(q1, q2);
  EXPECT_NE(r.out.find("msa"), std::string::npos) << r.out;  // passages with their documents
  EXPECT_NE(r.out.find("trace: "), std::string::npos);
  ExpectNoKeyLeak(r);
}

TEST_F(AskCli, EndpointDownFallsBackToRm3AndSaysSo) {
  int port = server_->port();
  server_->Stop();
  CliRun r = Cli("ask --index " + Index() + " --endpoint http://127.0.0.1:" + std::to_string(port) +
                 "/v1 --model m --api-key-env " + kKeyVar +
                 " --hops 2 --json 'termination for convenience'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  ASSERT_EQ(j["fallbacks"].size(), 2u) << j["fallbacks"].dump();
  for (const auto& f : j["fallbacks"]) {
    std::string s = f;
    EXPECT_NE(s.find("RM3"), std::string::npos) << s;
    EXPECT_NE(s.find("could not reach"), std::string::npos) << s;
    EXPECT_NE(s.find("(3 attempts)"), std::string::npos) << s;
  }
  EXPECT_FALSE(j["results"].empty());
  json t = Trace(j["trace_id"]);
  for (const auto& h : t["hops"]) EXPECT_EQ(h["source"], "fallback-rm3");
  EXPECT_FALSE(t["errors"].empty());
  ExpectNoKeyLeak(r);
}

TEST_F(AskCli, StalledEndpointMeetsTheDeadline) {
  ScriptedReply hang;
  hang.fault = ScriptedReply::Fault::kHangAfterHeaders;
  hang.times = -1;
  server_->Script(hang);
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 2 --deadline-ms 800 --json 'termination for convenience'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_LT(r.ms, 800 + 3000);  // loose: process start and index load included
  json j = Json(r);
  ASSERT_FALSE(j["fallbacks"].empty());
  EXPECT_NE(j["fallbacks"][0].get<std::string>().find("the deadline passed"), std::string::npos)
      << j["fallbacks"].dump();
  EXPECT_FALSE(j["results"].empty());
  json t = Trace(j["trace_id"]);
  EXPECT_EQ(t["hops"][0]["source"], "fallback-rm3");
  EXPECT_EQ(server_->request_count(), 1u);  // the stalled request was not retried past the deadline
}

TEST_F(AskCli, RateLimitedThenRecovers) {
  ScriptedReply limited;
  limited.status = 429;
  limited.headers = {{"retry-after-ms", "100"}};
  server_->Script(limited);
  server_->Script(Reply(Markers("query", "termination notice")));
  server_->Script(Reply(Markers("query", "termination fee")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() + " --hops 2 --json 'termination'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  EXPECT_TRUE(j["fallbacks"].empty()) << j["fallbacks"].dump();
  EXPECT_EQ(j["hops"][0]["query"], "termination notice");
  json t = Trace(j["trace_id"]);
  EXPECT_EQ(t["hops"][0]["llm_attempts"], 2);
  EXPECT_EQ(server_->request_count(), 3u);
}

TEST_F(AskCli, WithoutAnEndpointLlmRewritingIsRm3) {
  CliRun r = Cli("ask --index " + Index() + " --hops 2 --json 'termination for convenience'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("RM3"), std::string::npos) << r.err;
  json j = Json(r);
  ASSERT_FALSE(j["fallbacks"].empty());
  EXPECT_NE(j["fallbacks"][0].get<std::string>().find("no LLM endpoint"), std::string::npos);
  json t = Trace(j["trace_id"]);
  ASSERT_FALSE(t["hops"].empty());
  for (const auto& h : t["hops"]) EXPECT_EQ(h["source"], "rm3");
  EXPECT_NE(t["fallbacks"][0].get<std::string>().find("no LLM endpoint"), std::string::npos);
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(AskCli, AnswerWithCitationsToRetrievedPassagesOnly) {
  server_->Script(Reply(Markers("query", "terminate for convenience notice")));
  server_->Script(Reply(Markers("query", "termination fee")));
  server_->Script(Reply(Markers("answer", "Yes, on sixty days' written notice [1]. Also [9].")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 2 --answer --json 'Can we terminate?'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  ASSERT_TRUE(j.contains("answer"));
  EXPECT_NE(j["answer"].get<std::string>().find("sixty days"), std::string::npos);
  ASSERT_EQ(j["citations"].size(), 1u);
  EXPECT_EQ(j["citations"][0]["marker"], 1);
  EXPECT_EQ(j["citations"][0]["chunk_id"], j["results"][0]["chunk_id"]);
  bool dropped = false;
  for (const auto& f : j["fallbacks"])
    dropped = dropped || f.get<std::string>().find("[9]") != std::string::npos;
  EXPECT_TRUE(dropped) << j["fallbacks"].dump();
  ExpectNoKeyLeak(r);
}

TEST_F(AskCli, EthicalWallsHoldThroughRewriting) {
  const std::string walled =
      "governed by the laws of Delaware";  // in matter beta's supply contract
  auto ask = [&](const std::string& walls) {
    server_->ClearRequests();
    server_->Script(Reply(Markers("query", "governing law force majeure")));
    server_->Script(Reply(Markers("query", "laws of the state governing")));
    return Cli("ask --index " + Index() + " " + Endpoint() + " --hops 2 " + walls +
               " --json 'Which law governs?'");
  };
  // Control: without a wall, hop 2's prompt quotes the beta passage.
  CliRun open = ask("");
  ASSERT_EQ(open.code, 0) << open.out << open.err;
  ASSERT_EQ(server_->requests().size(), 2u) << open.out << open.err;
  EXPECT_NE(server_->requests()[1].body.find(walled), std::string::npos);

  CliRun r = ask("--allowed-matters acme");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  for (const auto& h : j["results"]) {
    std::string doc = h["doc_id"];
    EXPECT_TRUE(doc == "msa" || doc == "nda" || doc == "lease") << doc;
  }
  json t = Trace(j["trace_id"]);
  for (const auto& hop : t["hops"]) {
    for (const auto& h : hop["results"]) EXPECT_NE(h["doc_id"], "supply");
  }
  // (Hop 1 may already find every acme passage; then there is no hop 2.)
  ASSERT_GE(server_->requests().size(), 1u);
  for (const auto& req : server_->requests()) EXPECT_EQ(req.body.find(walled), std::string::npos);
}

TEST_F(AskCli, RedactPatternsNeverLeave) {
  server_->Script(Reply(Markers("query", "confidential information return")));
  server_->Script(Reply(Markers("query", "confidentiality term years")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                 " --hops 2 --redact Nightingale --json 'What about Project Nightingale secrets?'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& req : reqs)
    EXPECT_EQ(req.body.find("Nightingale"), std::string::npos) << req.body;
  EXPECT_NE(reqs[1].body.find("Project [REDACTED]"),
            std::string::npos);  // the nda passage, redacted
}

TEST_F(AskCli, DspyProgramRunsAndReportsItsPredictors) {
  std::string program = std::string(FOLDBACK_TEST_DATA) + "/dspy/dspy26_multihop.json";
  server_->Script(Reply("[[ ## reasoning ## ]]\nLook for the clause.\n\n" +
                        Markers("query", "terminate for convenience notice")));
  server_->Script(
      Reply("[[ ## reasoning ## ]]\nNow the fee.\n\n" + Markers("query", "termination fee")));
  CliRun r = Cli("ask --index " + Index() + " " + Endpoint() + " --program " + program +
                 " --hops 2 'Can we terminate?'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("used:    generate_query[0].predict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("used:    generate_answer.predict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2.6.27"), std::string::npos) << r.out;
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].body.find("Prefer the drafter's own words."),
            std::string::npos);  // hop 1's instructions
  EXPECT_NE(reqs[1].body.find("write the next search query"), std::string::npos);  // hop 2's
  EXPECT_NE(r.out.find("\"termination fee\""), std::string::npos);
  ExpectNoKeyLeak(r);  // the key saved in the program's lm block never surfaces

  CliRun mixed = Cli("ask --index " + Index() + " --program " + std::string(FOLDBACK_TEST_DATA) +
                     "/dspy/dspy_mixed.json --rewrite none --json 'termination'");
  ASSERT_EQ(mixed.code, 0) << mixed.out << mixed.err;
  EXPECT_NE(mixed.err.find("ignored: summarize"), std::string::npos) << mixed.err;
}

TEST_F(AskCli, RemoteEmbeddingsAnswerQueryVectors) {
  // An index whose vectors come from "a remote model": the test server's
  // deterministic embeddings.
  foldback::IndexOptions io;
  io.dense.embedder = foldback::EmbedderKind::kExternal;
  io.dense.dimension = 64;
  auto index = foldback::Index::Create(io);
  ASSERT_TRUE(index.ok());
  for (const auto& d : kDocs) {
    foldback::Document doc;
    doc.id = d[0];
    doc.matter = d[1];
    doc.text = d[2];
    ASSERT_TRUE((*index)->Add(doc).ok());
  }
  for (const std::string& id : (*index)->ChunksMissingVectors()) {
    ASSERT_TRUE((*index)
                    ->SetChunkVector(
                        id, foldback::testing::HashEmbedding((*index)->FindChunk(id)->text, 64))
                    .ok());
  }
  ASSERT_TRUE((*index)->BuildDense().ok());
  std::string remote = (dir_ / "remote").string();
  ASSERT_TRUE(foldback::host::SaveIndex(remote, **index).ok());

  CliRun r =
      Cli("ask --index " + remote + " --rewrite none --mode dense --hops 1 --embed-endpoint " +
          server_->base_url() + " --embed-model test-embed --api-key-env " + kKeyVar +
          " --json 'early termination fee lease'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = Json(r);
  EXPECT_TRUE(j["fallbacks"].empty()) << j["fallbacks"].dump();
  ASSERT_FALSE(j["results"].empty());
  EXPECT_EQ(j["results"][0]["doc_id"], "lease");  // nearest by the hashed bag of words
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/embeddings");
  EXPECT_EQ(json::parse(reqs[0].body)["input"][0], "early termination fee lease");

  // No embeddings endpoint: lexical search instead, and the trace says so.
  server_->ClearRequests();
  r = Cli("ask --index " + remote +
          " --rewrite none --mode dense --hops 1 --json 'early termination fee'");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  j = Json(r);
  ASSERT_FALSE(j["fallbacks"].empty());
  EXPECT_FALSE(j["results"].empty());
}

TEST_F(AskCli, FeedbackFoldsBackIntoTheNextAsk) {
  // A question, its rewrite, and the lawyer's thumbs up on it.
  server_->Script(Reply(Markers("query", "terminate for convenience sixty days written notice")));
  CliRun first = Cli("ask --index " + Index() + " " + Endpoint() +
                     " --hops 1 --allowed-matters acme --json 'Can we terminate for convenience?'");
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  json j = Json(first);
  std::string trace_id = j["trace_id"];
  std::string chunk = j["results"][0]["chunk_id"];
  CliRun fb = Cli("feedback --index " + Index() + " --trace " + trace_id +
                  " --rating up --relevant " + Shell(chunk) + " --consent");
  ASSERT_EQ(fb.code, 0) << fb.out << fb.err;

  // A similar question with --feedback: the earlier rewrite is a demo in
  // the query writer's prompt, and the trace says which record it came from.
  server_->ClearRequests();
  server_->Script(Reply(Markers("query", "termination for convenience notice")));
  CliRun second = Cli("ask --index " + Index() + " " + Endpoint() +
                      " --hops 1 --allowed-matters acme --feedback --json 'May the customer "
                      "terminate for convenience?'");
  ASSERT_EQ(second.code, 0) << second.out << second.err;
  json t = Trace(Json(second)["trace_id"]);
  ASSERT_EQ(t["feedback_demos"].size(), 1u) << t.dump();
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].body.find("terminate for convenience sixty days written notice"),
            std::string::npos);

  // Without --feedback nothing is folded back.
  server_->ClearRequests();
  server_->Script(Reply(Markers("query", "termination for convenience notice")));
  CliRun plain =
      Cli("ask --index " + Index() + " " + Endpoint() +
          " --hops 1 --allowed-matters acme --json 'May the customer terminate for convenience?'");
  ASSERT_EQ(plain.code, 0) << plain.out << plain.err;
  EXPECT_TRUE(Trace(Json(plain)["trace_id"])["feedback_demos"].empty());
  EXPECT_EQ(server_->requests().at(0).body.find("sixty days written notice"), std::string::npos);
  ExpectNoKeyLeak(second);
}

TEST_F(AskCli, BadInputGetsClearErrors) {
  struct Case {
    std::string args;
    const char* says;
  } cases[] = {
      {"--index " + Index() + " --endpoint http://x/v1 --provider anthropic q",
       "--provider must be"},
      {"--index " + Index() + " --endpoint http://x/v1 --api-key-env FOLDBACK_NO_SUCH_VAR q",
       "$FOLDBACK_NO_SUCH_VAR"},
      {"--index " + Index() + " --endpoint ftp://x/v1 q", "http:// or https://"},
      {"--index " + Index() + " --endpoint " +
           Shell(std::string("https://u:") + kCanary + "@x/v1") + " q",
       "--api-key-env"},
      {"--index " + Index() + " --provider azure --endpoint https://r.openai.azure.com q",
       "deployment"},
      {"--index " + (dir_ / "nowhere").string() + " q", "no index"},
      {"--index " + Index() + " --program " + (dir_ / "missing.json").string() + " q",
       "missing.json"},
      {"--index " + Index() + " --rewrite magic q", "--rewrite must be"},
      {"--index " + Index() + " --hops 0 q", "hops"},
      {"--index " + Index() + " --endpoint http://x/v1 --redact '(' q", "regular expression"},
      {"--index " + Index() + " --filter nonsense q", "filter"},
      {"--index " + Index() + " --endpoint http://x/v1 --ca-bundle " + (dir_ / "no.pem").string() +
           " q",
       "--ca-bundle"},
  };
  for (const Case& c : cases) {
    CliRun r = Cli("ask " + c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.find(kCanary), std::string::npos) << c.args;
  }
  Write(dir_ / "bad.json", "{\"generate_query\": ");
  CliRun r = Cli("ask --index " + Index() + " --program " + (dir_ / "bad.json").string() + " q");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
}

}  // namespace
