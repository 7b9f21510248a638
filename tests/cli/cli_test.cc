// The foldback command-line tool, run as a user runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include "cli_test_util.h"

namespace {

using foldback::testing::CliRun;
CliRun Cli(const std::string& args) { return foldback::testing::RunCli(args); }
std::string TempDir(const std::string& name) {
  return foldback::testing::FreshTempDir("cli", name);
}
void Write(const std::string& path, const std::string& data) {
  foldback::testing::WriteFile(path, data);
}

TEST(Cli, HelpForEverySubcommand) {
  for (const char* sub : {"demo", "ingest", "search", "info", "eval", "watch", "extract"}) {
    CliRun r = Cli(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
  EXPECT_NE(Cli("--version").out.find("foldback"), std::string::npos);
}

TEST(Cli, DemoRunsOffline) {
  CliRun r = Cli("demo");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Ethical wall"), std::string::npos);
  EXPECT_NE(r.out.find("0 of"), std::string::npos);  // no result leaks across the wall
  EXPECT_NE(r.out.find("same results after reload: yes"), std::string::npos);
  EXPECT_NE(r.out.find("hop 2 (rm3)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with feedback folded back: 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("name their parties"), std::string::npos) << r.out;
}

// Output that cannot be written (here a full disk) is an error with a
// non-zero exit, not a silent success and not a crash: fmt::print reports the
// failed write, main() says so once.
TEST(Cli, OutputThatCannotBeWrittenIsAnError) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  // The demo corpus's texts are ~550 KB of output, many stdio buffers, so a
  // write fails mid-run.
  CliRun r = foldback::testing::RunCli(
      "extract --json " + foldback::testing::ShellQuote(FOLDBACK_DEMO_CORPUS) + " >/dev/full",
      foldback::testing::Stderr::kSeparate);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("error: cannot write to file: No space left on device"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
}

TEST(Cli, IngestSearchInfoRoundTrip) {
  std::string dir = TempDir("ingest");
  std::string docs = dir + "/docs";
  std::filesystem::create_directories(docs + "/sub");
  Write(docs + "/nda.txt",
        "1. Confidentiality. The Recipient shall keep all Confidential Information secret.\n");
  Write(docs + "/sub/lease.md", "# Lease\n\nThe Tenant shall pay rent monthly in advance.\n");
  Write(docs + "/image.png", "\x89PNG not text");
  CliRun r = Cli("ingest --index " + dir + "/idx --matter m1 " + docs);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ingested 2 files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 files skipped"), std::string::npos) << r.out;

  r = Cli("search --index " + dir + "/idx --mode bm25 --json \"monthly rent\"");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j[0]["doc_id"], "sub/lease");

  // Walls from the command line.
  r = Cli("search --index " + dir +
          "/idx --mode bm25 --json --allowed-matters other \"monthly rent\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(nlohmann::json::parse(r.out).empty());

  r = Cli("search --index " + dir + "/idx --filter colour=blue rent");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("unknown filter field 'colour'"), std::string::npos) << r.out;

  r = Cli("info --index " + dir + "/idx");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents        2"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, SearchWithoutIndexSaysSo) {
  CliRun r = Cli("search --index /nonexistent/foldback-idx query");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("no index"), std::string::npos) << r.out;
}

TEST(Cli, CorruptSnapshotIsReported) {
  std::string dir = TempDir("corrupt");
  Write(dir + "/index.fbsnap", "FBSN garbage");
  CliRun r = Cli("info --index " + dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("Corruption"), std::string::npos) << r.out;

  // A real snapshot cut short (a copy that stopped half way, a full disk):
  // the mapped load refuses it before reading past the end, and a command
  // that would write refuses too, leaving the file as it was.
  std::string docs = dir + "/docs";
  std::filesystem::create_directories(docs);
  Write(docs + "/nda.txt",
        "1. Confidentiality. The Recipient shall keep all Confidential Information secret.\n");
  r = Cli("ingest --index " + dir + "/idx " + docs);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string snap = dir + "/idx/index.fbsnap";
  const auto full = std::filesystem::file_size(snap);
  for (auto size : {full / 2, full - 1}) {
    std::filesystem::resize_file(snap, size);
    r = Cli("info --index " + dir + "/idx");
    EXPECT_NE(r.code, 0) << size;
    EXPECT_NE(r.out.find("Corruption"), std::string::npos) << size << ": " << r.out;
    r = Cli("ingest --index " + dir + "/idx " + docs);
    EXPECT_NE(r.code, 0) << size;
    EXPECT_EQ(std::filesystem::file_size(snap), size) << r.out;
  }
  std::filesystem::remove_all(dir);
}

TEST(Cli, EvalOnATinyDataSet) {
  std::string dir = TempDir("eval");
  Write(dir + "/corpus.jsonl",
        "{\"_id\": \"s1\", \"text\": \"The recipient shall return all confidential information.\", "
        "\"doc_id\": \"n1\"}\n"
        "{\"_id\": \"s2\", \"text\": \"This agreement is governed by Delaware law.\", \"doc_id\": "
        "\"n1\"}\n"
        "{\"_id\": \"s3\", \"text\": \"The recipient shall return all confidential information.\", "
        "\"doc_id\": \"n2\"}\n");
  Write(dir + "/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"return confidential information\", \"doc_id\": \"n1\"}\n"
        "{\"_id\": \"q2\", \"text\": \"governing law\", \"doc_id\": \"n1\"}\n");
  Write(dir + "/qrels.tsv", "query-id\tcorpus-id\tscore\nq1\ts1\t1\nq2\ts2\t1\n");
  CliRun r =
      Cli("eval --corpus " + dir + "/corpus.jsonl --queries " + dir + "/queries.jsonl --qrels " +
          dir + "/qrels.tsv --scope-field doc_id --mode bm25 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["ndcg@10"].get<double>(), 1.0);
  EXPECT_EQ(j["queries"], 2);
  for (const char* k : {"recall@5", "recall@10", "recall@100", "mrr@10", "index_build_s",
                        "query_p50_ms", "query_p95_ms", "qps", "index_bytes"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  // Through the ask session: offline rewriting, hops and RM3 settings.
  r = Cli(
      "eval --corpus " + dir + "/corpus.jsonl --queries " + dir + "/queries.jsonl --qrels " + dir +
      "/qrels.tsv --scope-field doc_id --mode bm25 --rewrite rm3 --hops 2 --fb-docs 2 --fb-terms 5 "
      "--fb-weight 0.7 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["rewrite"], "rm3");
  EXPECT_EQ(j["hops"], 2);
  EXPECT_EQ(j["rm3"]["fb_terms"], 5);
  EXPECT_DOUBLE_EQ(j["ndcg@10"].get<double>(), 1.0);
  r = Cli("eval --corpus " + dir + "/corpus.jsonl --queries " + dir + "/queries.jsonl --qrels " +
          dir + "/qrels.tsv --rewrite llm");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--rewrite must be none or rm3"), std::string::npos) << r.out;
  r = Cli("eval --corpus " + dir + "/corpus.jsonl --queries " + dir + "/queries.jsonl --qrels " +
          dir + "/qrels.tsv --mode bm25 --rewrite none --hops 0");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("hops must be 1..16"), std::string::npos) << r.out;
  // A scope field missing from a query names the line.
  Write(dir + "/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"x\", \"doc_id\": \"n1\"}\n{\"_id\": \"q2\", \"text\": "
        "\"y\"}\n");
  r = Cli("eval --corpus " + dir + "/corpus.jsonl --queries " + dir + "/queries.jsonl --qrels " +
          dir + "/qrels.tsv --scope-field doc_id --mode bm25");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("line 2"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
