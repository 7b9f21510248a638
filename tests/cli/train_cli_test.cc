// `foldback train` and `foldback eval --train corpus`, run as a user runs them
// on a generated folder of contracts.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "cli_test_util.h"

namespace {

using foldback::testing::CliRun;
using foldback::testing::RunCli;
using foldback::testing::Stderr;

const char* kTopics[][9] = {
    {"Termination", "terminate", "notice", "expiry", "breach", "cure", "days", "written", "end"},
    {"Indemnification", "indemnify", "defend", "hold", "harmless", "losses", "claims", "damages",
     "third"},
    {"Confidentiality", "confidential", "disclose", "secret", "proprietary", "recipient", "protect",
     "information", "nondisclosure"},
    {"Governing Law", "governed", "laws", "state", "courts", "jurisdiction", "venue", "construed",
     "exclusive"},
    {"Payment", "invoice", "fees", "pay", "amount", "currency", "due", "interest", "late"},
    {"Insurance", "insurance", "policy", "coverage", "insurer", "liability", "premium",
     "certificate", "maintain"},
};

std::string Contract(std::mt19937_64* rng) {
  std::string text = "SERVICES AGREEMENT\n\n";
  for (int s = 0; s < 4; ++s) {
    const auto& t = kTopics[((*rng)() % 6)];
    text += std::to_string(s + 1) + ". " + t[0] + "\n\n";
    for (int sentence = 0; sentence < 2; ++sentence) {
      std::string sent = "The party";
      for (int w = 0; w < 10; ++w) sent += std::string(" ") + t[1 + (*rng)() % 8];
      text += sent + ". ";
    }
    text += "\n\n";
  }
  return text;
}

std::string MakeCorpus(const std::string& dir, int docs) {
  std::string folder = dir + "/docs";
  std::filesystem::create_directories(folder);
  std::mt19937_64 rng(5);
  for (int d = 0; d < docs; ++d) {
    foldback::testing::WriteFile(folder + "/contract" + std::to_string(d) + ".txt", Contract(&rng));
  }
  return folder;
}

TEST(TrainCli, TrainsStoresRestoresAndReportsBadInput) {
  std::string dir = foldback::testing::FreshTempDir("train", "cli");
  std::string docs = MakeCorpus(dir, 40);
  std::string idx = dir + "/idx";
  CliRun r = RunCli("train --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--sources"), std::string::npos) << r.out;

  // No index yet.
  r = RunCli("train --index " + idx);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;

  r = RunCli("ingest --index " + idx + " " + docs);
  ASSERT_EQ(r.code, 0) << r.out;

  r = RunCli("train --index " + idx + " --dry-run --show-pairs 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("[heading] "), std::string::npos) << r.out;

  r = RunCli("train --index " + idx + " --sources heading,telepathy");
  EXPECT_EQ(r.code, 2);  // bad usage
  EXPECT_NE(r.out.find("unknown training source 'telepathy'"), std::string::npos) << r.out;

  r = RunCli("train --index " + idx + " --sources subject");  // contracts have no mail
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("training pair"), std::string::npos) << r.out;

  r = RunCli("train --index " + idx + " --epochs 2 --seed 3 --json", Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["previous_version"], 1);
  EXPECT_GT(j["pairs"]["heading"].get<int>(), 0);
  EXPECT_LT(j["loss_after"].get<double>(), j["loss_before"].get<double>());
  EXPECT_NE(r.err.find("epoch 2/2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("loss"), std::string::npos) << r.err;

  r = RunCli("info --index " + idx);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("embedder         version 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("version 1 kept"), std::string::npos) << r.out;

  // The stored model serves searches after a reload.
  r = RunCli("search --index " + idx + " --mode dense --json \"Termination\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(r.out).empty());

  r = RunCli("train --index " + idx + " --restore --json");
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["previous_version"], 2);

  // Documents added later; an incremental run continues from the trained model.
  r = RunCli("train --index " + idx + " --restore");
  ASSERT_EQ(r.code, 0) << r.out;
  foldback::testing::WriteFile(docs + "/late.txt",
                               "1. Payment\n\nThe party shall pay the invoice fees.\n");
  r = RunCli("ingest --index " + idx + " " + docs + "/late.txt");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli("train --index " + idx + " --incremental --epochs 1 --json", Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["version"], 3);
  std::filesystem::remove_all(dir);
}

TEST(TrainCli, EvalTrainCorpusKeepsTheReportKeys) {
  std::string dir = foldback::testing::FreshTempDir("train", "eval");
  std::mt19937_64 rng(8);
  std::string corpus, queries, qrels = "query-id\tcorpus-id\tscore\n";
  for (int d = 0; d < 40; ++d) {
    nlohmann::json doc = {
        {"_id", "d" + std::to_string(d)}, {"title", ""}, {"text", Contract(&rng)}};
    corpus += doc.dump() + "\n";
  }
  // Queries and their judgements: which documents mention insurance coverage.
  queries += nlohmann::json({{"_id", "q1"}, {"text", "insurance coverage"}}).dump() + "\n";
  for (int d = 0; d < 40; d += 3) qrels += "q1\td" + std::to_string(d) + "\t1\n";
  foldback::testing::WriteFile(dir + "/corpus.jsonl", corpus);
  foldback::testing::WriteFile(dir + "/queries.jsonl", queries);
  foldback::testing::WriteFile(dir + "/qrels.tsv", qrels);
  std::string args = "eval --corpus " + dir + "/corpus.jsonl --queries " + dir +
                     "/queries.jsonl --qrels " + dir + "/qrels.tsv --json";
  CliRun r = RunCli(args + " --train corpus --train-epochs 1", Stderr::kSeparate);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.contains("ndcg@10"));
  EXPECT_EQ(j["train"]["version"], 2);
  EXPECT_NE(r.err.find("mined"), std::string::npos) << r.err;
  r = RunCli(args + " --train sometimes");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--train must be none or corpus"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
