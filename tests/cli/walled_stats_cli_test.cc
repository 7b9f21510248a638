// Walled statistics through the command-line tool: `foldback search
// --allowed-matters` gives the same scores, bit for bit, before and after
// documents are ingested into (or removed from) another matter, while an
// unwalled search's scores move.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::RunCli;
using foldback::testing::ShellQuote;
using foldback::testing::Stderr;

std::vector<fs::path> DemoContracts() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(FOLDBACK_DEMO_CORPUS)) {
    if (e.path().extension() == ".txt") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// chunk id -> score of `foldback search --json`.
std::map<std::string, double> Scores(const std::string& index, const std::string& query,
                                     const std::string& extra) {
  auto r = RunCli("search --index " + ShellQuote(index) + " --mode bm25 --top-k 50 --json " +
                      extra + " " + ShellQuote(query),
                  Stderr::kSeparate);
  EXPECT_EQ(r.code, 0) << r.err;
  std::map<std::string, double> out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array()) << r.out;
  if (!j.is_array()) return out;
  for (const auto& h : j) out[h.at("chunk_id").get<std::string>()] = h.at("score").get<double>();
  return out;
}

TEST(WalledStatsCli, AnotherMattersDocumentsChangeNoWalledScore) {
  std::string dir = foldback::testing::FreshTempDir("walled-stats", "cli");
  auto contracts = DemoContracts();
  ASSERT_GE(contracts.size(), 10u);
  fs::path ours = fs::path(dir) / "ours", other = fs::path(dir) / "other",
           more = fs::path(dir) / "more";
  fs::create_directories(ours);
  fs::create_directories(other);
  fs::create_directories(more);
  for (size_t i = 0; i < 10; ++i) {
    fs::path to = (i < 4 ? ours : i < 7 ? other : more) / contracts[i].filename();
    fs::copy_file(contracts[i], to);
  }
  std::string index = dir + "/idx";
  auto ingest = [&](const fs::path& folder, const std::string& matter) {
    // BM25 statistics are the subject: no dense index to build.
    auto r = RunCli("ingest --no-dense --index " + ShellQuote(index) + " --matter " + matter + " " +
                    ShellQuote(folder.string()));
    ASSERT_EQ(r.code, 0) << r.out;
  };
  ingest(ours, "ours");
  ingest(other, "other");
  const std::vector<std::string> queries = {"termination for convenience",
                                            "limitation of liability",
                                            "governing law and jurisdiction", "assignment consent"};
  std::vector<std::map<std::string, double>> walled, open;
  for (const auto& q : queries) {
    walled.push_back(Scores(index, q, "--allowed-matters ours"));
    open.push_back(Scores(index, q, ""));
    EXPECT_FALSE(walled.back().empty()) << q;
  }
  ingest(more, "other");  // three more contracts behind the wall
  bool open_moved = false;
  for (size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(Scores(index, queries[i], "--allowed-matters ours"), walled[i]) << queries[i];
    auto now = Scores(index, queries[i], "");
    for (const auto& [chunk, score] : now) {
      auto it = open[i].find(chunk);
      open_moved |= it != open[i].end() && it->second != score;
    }
  }
  EXPECT_TRUE(open_moved) << "unwalled scores should depend on every matter";
  fs::remove_all(dir);
}

}  // namespace
