// LLM-written training questions from the CLI, against the loopback test
// server (which writes deterministic questions for a GenerateQuestions
// prompt): `foldback jobs submit --kind synthesize` -> `jobs work` -> `jobs
// results` (pairs) -> `foldback train --pairs` changes the model; the same
// from the store (--synthetic-from-job) and inline (--generate-questions);
// walls, redaction, the key never written, a lying endpoint, bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"
#include "llm_test_server.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::CliRun;
using foldback::testing::ScriptedReply;
using nlohmann::json;

const char kCanary[] = "sk-synth-canary-7Yh3Qw9Xe2Rt5Uo1Pa8Sd";
const char kKeyVar[] = "FOLDBACK_SYNTH_TEST_KEY";

CliRun Cli(const std::string& args) {
  return foldback::testing::RunCli(args, foldback::testing::Stderr::kSeparate);
}
std::string Shell(const std::string& s) { return foldback::testing::ShellQuote(s); }

std::vector<json> Lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    out.push_back(j);
  }
  return out;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Contracts of generated clauses, so that the index has a corpus-trained
// embedder (a handful of sentences is too few to build one).
std::map<std::string, std::string> Filler(int docs) {
  static const std::vector<std::vector<const char*>> kTopics = {
      {"supplier", "deliver", "goods", "purchase", "order", "business", "days", "buyer"},
      {"terminate", "convenience", "notice", "written", "ninety", "accrued", "payment", "party"},
      {"governed", "laws", "state", "courts", "exclusive", "jurisdiction", "dispute", "arising"},
      {"invoice", "pay", "thirty", "delivery", "fees", "interest", "late", "amount"},
      {"confidential", "disclose", "recipient", "protect", "information", "board", "memo", "bid"}};
  std::mt19937_64 rng(11);
  std::map<std::string, std::string> out;
  for (int d = 0; d < docs; ++d) {
    std::string text;
    for (int s = 0; s < 5; ++s) {
      const auto& t = kTopics[(d + s) % kTopics.size()];
      text += std::to_string(s + 1) + ". ";
      for (int w = 0; w < 14; ++w) text += std::string(w ? " " : "") + t[rng() % t.size()];
      text += ".\n\n";
    }
    out["filler" + std::to_string(d) + ".txt"] = text;
  }
  return out;
}

class SynthesizeCli : public foldback::testing::EndpointCliTest {
 protected:
  SynthesizeCli() : EndpointCliTest("synth", kKeyVar, kCanary) {}
  void SetUp() override {
    Prepare({{"other", Filler(40)},
             {"acme",
              {{"supply.txt",
                "The supplier shall deliver the goods within ten business days of each purchase "
                "order, and the buyer shall pay invoice 4411 within thirty days of delivery."},
               {"term.txt",
                "Either party may terminate this agreement for convenience on ninety days "
                "written notice; termination does not release accrued payment obligations."},
               {"law.txt",
                "This agreement is governed by the laws of the State of New York and the courts "
                "of Manhattan have exclusive jurisdiction over any dispute arising from it."},
               {"tiny.txt", "Signed."}}},
             {"beta",
              {{"secret.txt",
                "Beta walled memo: the zebra pineapple strategy for the hostile bid is shared "
                "with the board only and never with opposing counsel."}}}});
    // The echo server: deterministic questions for a GenerateQuestions prompt.
    server_->Stop();
    foldback::testing::LlmTestServerOptions o;
    o.echo = true;
    auto s = foldback::testing::LlmTestServer::Start(o);
    ASSERT_TRUE(s.ok());
    server_ = std::move(*s);
    store_ = (dir_ / "jobs.sqlite").string();
  }
  std::string Store() const { return "--store " + Shell("sqlite:" + store_); }
  std::string Submit(const std::string& extra) {
    CliRun r = Cli("jobs submit " + Store() + " --index " + Index() + " " + Endpoint() +
                   " --kind synthesize --min-words 5 " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Trimmed(r.out);
  }
  json Status(const std::string& job) {
    CliRun r = Cli("jobs status " + Store() + " " + job + " --json");
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Json(r);
  }
  fs::path ResultsFile(const std::string& job, const std::string& extra = "") {
    fs::path out = dir_ / ((extra.empty() ? "pairs-" : "raw-") + job + ".jsonl");
    CliRun r =
        Cli("jobs results " + Store() + " " + job + " --out " + Shell(out.string()) + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return out;
  }
  void ExpectNoKey() {
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      EXPECT_EQ(foldback::testing::ReadFile(e.path()).find(kCanary), std::string::npos) << e.path();
    }
  }
  size_t ChatRequests() {
    size_t n = 0;
    for (const auto& r : server_->requests())
      n += r.path.find("/chat/completions") != std::string::npos;
    return n;
  }
  std::string DenseTop(const std::string& index, const std::string& q) {
    CliRun r = Cli("search --index " + Shell(index) + " --mode dense --top-k 4 --json " + Shell(q));
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return r.out;
  }
  std::string store_;
};

TEST_F(SynthesizeCli, JobPairsTrainTheEmbedderBehindWallsWithRedaction) {
  std::string job = Submit(
      "--allowed-matters acme --sample 10 --questions-per-passage 2 "
      "--redact " +
      Shell("\\b4411\\b"));
  ASSERT_EQ(job.size(), 36u) << job;
  json st = Status(job);
  EXPECT_EQ(st["kind"], "synthesize");
  EXPECT_EQ(st["total"], 3) << "tiny passage excluded, beta behind the wall";

  CliRun w = Cli("jobs work " + Store() + " --concurrency 2 --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  st = Status(job);
  EXPECT_EQ(st["done"], 3);
  EXPECT_EQ(ChatRequests(), 3u);
  for (const auto& r : server_->requests()) {
    EXPECT_EQ(r.body.find("zebra"), std::string::npos) << "a walled passage was sent";
    EXPECT_EQ(r.body.find("4411"), std::string::npos) << "redaction not applied";
    EXPECT_EQ(r.body.find(kCanary), std::string::npos);
    EXPECT_EQ(r.Header("authorization"), std::string("Bearer ") + kCanary);
  }

  fs::path pairs_file = ResultsFile(job);
  auto pairs = Lines(foldback::testing::ReadFile(pairs_file));
  ASSERT_EQ(pairs.size(), 6u);
  std::set<std::string> docs;
  for (const json& p : pairs) {
    EXPECT_EQ(p["source"], "llm");
    EXPECT_EQ(p["job_id"], job);
    EXPECT_EQ(p["model"], "foldback-test-model");
    EXPECT_EQ(p["program_hash"].get<std::string>().size(), 16u);
    EXPECT_FALSE(p["foldback_version"].get<std::string>().empty());
    std::string q = p["query"];
    EXPECT_EQ(q.rfind("What do we know about ", 0), 0u) << q;
    docs.insert(p["doc_id"].get<std::string>());
    EXPECT_EQ(p["chunk_id"].get<std::string>().rfind(p["doc_id"].get<std::string>() + "#", 0), 0u);
  }
  EXPECT_EQ(docs, (std::set<std::string>{"supply", "term", "law"}));
  // Deterministic: a second job over the same sample writes the same pairs.
  std::string again = Submit(
      "--allowed-matters acme --sample 10 --questions-per-passage 2 "
      "--redact " +
      Shell("\\b4411\\b"));
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  auto pairs2 = Lines(foldback::testing::ReadFile(ResultsFile(again)));
  ASSERT_EQ(pairs2.size(), pairs.size());
  std::multiset<std::string> q1, q2;
  for (size_t i = 0; i < pairs.size(); ++i) {
    q1.insert(pairs[i]["chunk_id"].get<std::string>() + pairs[i]["query"].get<std::string>());
    q2.insert(pairs2[i]["chunk_id"].get<std::string>() + pairs2[i]["query"].get<std::string>());
  }
  EXPECT_EQ(q1, q2);
  auto raw = Lines(foldback::testing::ReadFile(ResultsFile(job, "--raw")));
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0]["questions"].size(), 2u);

  // Train a copy without the questions and the index with them.
  fs::path plain = dir_ / "idx-plain";
  fs::copy(Index(), plain, fs::copy_options::recursive);
  CliRun base = Cli("train --index " + Shell(plain.string()) + " --sources cloze --json");
  ASSERT_EQ(base.code, 0) << base.out << base.err;
  CliRun t = Cli("train --index " + Index() + " --sources cloze --pairs " +
                 Shell(pairs_file.string()) + " --json");
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  json report = Json(t);
  EXPECT_EQ(report["pairs"]["llm"], 6) << report.dump();
  EXPECT_EQ(report["questions"]["pairs_read"], 6);
  EXPECT_NE(report["training"].get<std::string>().find("llm"), std::string::npos);
  EXPECT_NE(DenseTop(plain.string(), "What do we know about goods and purchase here?"),
            DenseTop(Index(), "What do we know about goods and purchase here?"))
      << "the question pairs did not change the model";

  // The same pairs straight from the store.
  fs::path third = dir_ / "idx-third";
  fs::copy(plain, third, fs::copy_options::recursive);
  CliRun fj = Cli("train --index " + Shell(third.string()) + " --sources cloze " +
                  "--synthetic-from-job " + Shell("sqlite:" + store_) + " " + job + " --json");
  ASSERT_EQ(fj.code, 0) << fj.out << fj.err;
  EXPECT_EQ(Json(fj)["pairs"]["llm"], 6);
  ExpectNoKey();
}

TEST_F(SynthesizeCli, ALyingEndpointFailsItemsClearlyAndARetryAsksForJson) {
  // One passage: first a refusal (unusable), then the echo server's questions.
  ScriptedReply refusal;
  refusal.path = "/chat/completions";
  refusal.match = "ninety days";
  refusal.times = 1;
  refusal.content = "I cannot help with that.";
  server_->Script(refusal);
  // Another: never anything usable.
  ScriptedReply copier;
  copier.path = "/chat/completions";
  copier.match = "New York";
  copier.times = -1;
  copier.content =
      "{\"questions\": [\"This agreement is governed by the laws of the State of New York\", "
      "\"\", \"ok\"]}";
  server_->Script(copier);
  std::string job = Submit("--matter acme --sample 10 --questions-per-passage 2 --max-attempts 2");
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  json st = Status(job);
  EXPECT_EQ(st["done"], 2);
  EXPECT_EQ(st["failed"], 1);
  auto lines = Lines(foldback::testing::ReadFile(ResultsFile(job, "--include-failed")));
  bool saw_failure = false;
  for (const json& l : lines) {
    if (!l.contains("error")) continue;
    saw_failure = true;
    std::string e = l["error"];
    EXPECT_NE(e.find("unusable reply: no usable question"), std::string::npos) << e;
    EXPECT_NE(e.find("copies the passage"), std::string::npos) << e;
    EXPECT_EQ(l["attempts"], 2);
  }
  EXPECT_TRUE(saw_failure);
  bool json_retry = false;
  size_t term_requests = 0;
  for (const auto& r : server_->requests()) {
    if (r.body.find("ninety days") == std::string::npos) continue;
    ++term_requests;
    json_retry = json_retry || r.body.find("Respond with a JSON object") != std::string::npos;
  }
  EXPECT_EQ(term_requests, 2u);
  EXPECT_TRUE(json_retry);
}

TEST_F(SynthesizeCli, APassageMovedBehindAWallAfterSubmitIsNeverSent) {
  std::string job = Submit("--allowed-matters acme --sample 10");
  EXPECT_EQ(Status(job)["total"], 3);
  // The supply agreement now belongs to matter beta (same id, same passage).
  fs::path moved = dir_ / "moved";
  fs::create_directories(moved);
  fs::copy(dir_ / "docs" / "acme" / "supply.txt", moved / "supply.txt");
  CliRun r = Cli("ingest --index " + Index() + " --matter beta " + Shell(moved.string()));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  json st = Status(job);
  EXPECT_EQ(st["done"], 2);
  EXPECT_EQ(st["failed"], 1);
  for (const auto& req : server_->requests())
    EXPECT_EQ(req.body.find("purchase order"), std::string::npos) << "a walled passage was sent";
  EXPECT_EQ(ChatRequests(), 2u);
  bool named = false;
  for (const json& l : Lines(foldback::testing::ReadFile(ResultsFile(job, "--include-failed")))) {
    if (l.contains("error"))
      named = l["error"].get<std::string>().find("outside the allowed matters") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

TEST_F(SynthesizeCli, InlineGenerationForASmallCorpus) {
  fs::path out = dir_ / "inline-pairs.jsonl";
  CliRun t =
      Cli("train --index " + Index() + " --sources cloze --generate-questions 5 " +
          "--questions-per-passage 2 --min-words 5 --allowed-matters acme " + Endpoint() +
          " --redact " + Shell("ninety") + " --pairs-out " + Shell(out.string()) + " --json");
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  json report = Json(t);
  EXPECT_EQ(report["questions"]["generated"]["passages"], 3);
  EXPECT_EQ(report["questions"]["generated"]["questions"], 6);
  EXPECT_EQ(report["questions"]["generated"]["redactions"], 1);
  EXPECT_EQ(report["pairs"]["llm"], 6);
  EXPECT_EQ(Lines(foldback::testing::ReadFile(out)).size(), 6u);
  EXPECT_EQ(ChatRequests(), 3u);
  for (const auto& r : server_->requests()) {
    EXPECT_EQ(r.body.find("zebra"), std::string::npos);
    EXPECT_EQ(r.body.find("ninety"), std::string::npos);
  }
  ExpectNoKey();
}

TEST_F(SynthesizeCli, EvalTrainsOnPairsOfTheSameCorpus) {
  // A BEIR corpus: ingested for the job, and read by eval, give the same
  // chunk ids, so the job's pairs train eval's index.
  fs::path beir = dir_ / "beir";
  fs::create_directories(beir);
  std::string corpus, queries, qrels = "query-id\tcorpus-id\tscore\n";
  int n = 0;
  for (const auto& [name, text] : Filler(40)) {
    std::string id = "s" + std::to_string(n++);
    corpus +=
        json({{"_id", id}, {"text", text}, {"doc_id", "n" + std::to_string(n % 5)}}).dump() + "\n";
    if (n <= 5) {
      queries += json({{"_id", "q" + id}, {"text", text.substr(3, 40)}}).dump() + "\n";
      qrels += "q" + id + "\t" + id + "\t1\n";
    }
  }
  foldback::testing::WriteFile(beir / "corpus.jsonl", corpus);
  foldback::testing::WriteFile(beir / "queries.jsonl", queries);
  foldback::testing::WriteFile(beir / "qrels.tsv", qrels);
  fs::path idx = dir_ / "beir-idx";
  ASSERT_EQ(
      Cli("ingest --index " + Shell(idx.string()) + " " + Shell((beir / "corpus.jsonl").string()))
          .code,
      0);
  CliRun sub = Cli("jobs submit " + Store() + " --index " + Shell(idx.string()) + " " + Endpoint() +
                   " --kind synthesize --sample 10 --questions-per-passage 2");
  ASSERT_EQ(sub.code, 0) << sub.err;
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  fs::path pairs = ResultsFile(Trimmed(sub.out));
  size_t lines = Lines(foldback::testing::ReadFile(pairs)).size();
  ASSERT_GE(lines, 18u);
  std::string eval = "eval --corpus " + Shell((beir / "corpus.jsonl").string()) + " --queries " +
                     Shell((beir / "queries.jsonl").string()) + " --qrels " +
                     Shell((beir / "qrels.tsv").string()) + " --train corpus --json ";
  CliRun e = Cli(eval + "--train-pairs " + Shell(pairs.string()));
  ASSERT_EQ(e.code, 0) << e.out << e.err;
  json report = Json(e);
  EXPECT_EQ(report["train"]["pairs"]["llm"], lines) << report["train"].dump();
  EXPECT_EQ(report["train"]["generated_pairs_missing"], 0);
  CliRun plain = Cli(eval);
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_FALSE(Json(plain)["train"]["pairs"].contains("llm"));
}

TEST_F(SynthesizeCli, BadInputIsRefusedClearly) {
  auto submit = [&](const std::string& extra) {
    return Cli("jobs submit " + Store() + " --index " + Index() + " " + Endpoint() +
               " --kind synthesize " + extra);
  };
  CliRun zero = submit("--questions-per-passage 0");
  EXPECT_NE(zero.code, 0);
  EXPECT_NE(zero.err.find("questions per passage"), std::string::npos) << zero.err;
  CliRun none = submit("--sample 0");
  EXPECT_NE(none.code, 0);
  CliRun walled = submit("--matter beta --allowed-matters acme");
  EXPECT_NE(walled.code, 0);
  EXPECT_NE(walled.err.find("outside the allowed matters"), std::string::npos) << walled.err;
  fs::path program = dir_ / "summary.json";
  foldback::testing::WriteFile(program, R"({"s.predict": {"demos": [], "signature": {
      "instructions": "Summarize.", "fields": [{"prefix": "Document:", "description": "${document}"},
      {"prefix": "Summary:", "description": "${summary}"}]}}})");
  CliRun prog = submit("--program " + Shell(program.string()));
  EXPECT_NE(prog.code, 0);
  EXPECT_NE(prog.err.find("can write questions"), std::string::npos) << prog.err;

  fs::path bad = dir_ / "bad.jsonl";
  foldback::testing::WriteFile(bad, "{\"query\": \"q one two\", \"chunk_id\": \"x#1\"}\nnope\n");
  CliRun tb = Cli("train --index " + Index() + " --pairs " + Shell(bad.string()));
  EXPECT_NE(tb.code, 0);
  EXPECT_NE(tb.err.find("line 2"), std::string::npos) << tb.err;
  fs::path stale = dir_ / "stale.jsonl";
  foldback::testing::WriteFile(stale, "{\"query\": \"q one two\", \"chunk_id\": \"gone#1-x\"}\n");
  CliRun ts = Cli("train --index " + Index() + " --pairs " + Shell(stale.string()));
  EXPECT_NE(ts.code, 0);
  EXPECT_NE(ts.err.find("names a passage of this index"), std::string::npos) << ts.err;
  CliRun tl = Cli("train --index " + Index() + " --sources llm");
  EXPECT_NE(tl.code, 0);
  EXPECT_NE(tl.err.find("needs questions"), std::string::npos) << tl.err;
  CliRun tg = Cli("train --index " + Index() + " --generate-questions 2");
  EXPECT_NE(tg.code, 0);
  EXPECT_NE(tg.err.find("--endpoint"), std::string::npos) << tg.err;
  // A map job is no source of questions.
  CliRun map = Cli("jobs submit " + Store() + " --index " + Index() + " " + Endpoint() +
                   " --kind map --instructions x");
  ASSERT_EQ(map.code, 0) << map.err;
  CliRun tm = Cli("train --index " + Index() + " --synthetic-from-job " +
                  Shell("sqlite:" + store_) + " " + Trimmed(map.out));
  EXPECT_NE(tm.code, 0);
  EXPECT_NE(tm.err.find("not synthesize"), std::string::npos) << tm.err;
}

}  // namespace
