// Walled statistics: with allowed_matters, BM25's statistics (collection
// size, average length, document frequencies, pruning bounds) come from the
// documents the user may see, so documents behind the wall change no score
// the walled user sees — bit for bit, on every search path (exhaustive and
// MaxScore, per chunk and one per document, with and without filters).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo_contracts.h"
#include "foldback/index.h"
#include "index/index_internal.h"

namespace foldback {
namespace {

// The demo contracts (20 CUAD contracts), as documents numbered in file order.
std::vector<Document> DemoDocs() {
  std::vector<Document> out;
  for (auto& docs : testing::DemoContracts()) {
    for (auto& d : docs) out.push_back(std::move(d));
  }
  EXPECT_GE(out.size(), 12u);
  return out;
}

std::unique_ptr<Index> NewIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  return std::move(index.value());
}

const std::vector<std::string>& Queries() {
  static const std::vector<std::string> q = {
      "termination for convenience upon written notice",
      "limitation of liability",
      "governing law",
      "indemnify and hold harmless third party claims",
      "assignment without prior written consent of the other party",
      "exclusive license territory royalty",
      "insurance coverage",
      "confidential information return or destroy",
  };
  return q;
}

struct Shape {
  size_t top_k;
  bool one_per_document;
  bool filter;  // an extra filter besides the wall
};

// chunk id -> score, for every query and search shape.
using Seen = std::map<std::string, std::map<std::string, double>>;

Seen WalledScores(const Index& index, const std::set<std::string>& allowed) {
  Seen seen;
  const Shape shapes[] = {{5, false, false},  {10, true, false}, {100, false, false},
                          {100, true, false}, {10, false, true}, {200, true, true}};
  using Strategy = index::LexicalIndex::Strategy;
  for (Strategy strategy : {Strategy::kExhaustive, Strategy::kMaxScore}) {
    index.rep()->lexical.set_strategy(strategy);
    for (const auto& q : Queries()) {
      for (const Shape& s : shapes) {
        SearchOptions o;
        o.mode = SearchMode::kBm25;
        o.top_k = s.top_k;
        o.one_per_document = s.one_per_document;
        o.allowed_matters = allowed;
        if (s.filter) o.filters.push_back({"kind", Filter::Op::kEq, "document"});
        auto hits = index.Search(q, o);
        EXPECT_TRUE(hits.ok()) << hits.status().ToString();
        std::string key = std::to_string(static_cast<int>(strategy)) + "|" + q + "|" +
                          std::to_string(s.top_k) + "|" + std::to_string(s.one_per_document) + "|" +
                          std::to_string(s.filter);
        auto& m = seen[key];
        for (const auto& h : *hits) {
          EXPECT_NE(h.matter, "other") << "wall breached";
          m[h.chunk_id] = h.score;
        }
        EXPECT_FALSE(m.empty()) << key;
      }
    }
  }
  index.rep()->lexical.set_strategy(Strategy::kAuto);
  return seen;
}

void ExpectSame(const Seen& a, const Seen& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, scores] : a) {
    const auto& other = b.at(key);
    ASSERT_EQ(scores.size(), other.size()) << key;
    for (const auto& [chunk, score] : scores) {
      auto it = other.find(chunk);
      ASSERT_NE(it, other.end()) << key << " lost " << chunk;
      EXPECT_EQ(it->second, score) << key << " " << chunk;  // bit-identical
    }
  }
}

TEST(WalledStats, OtherMattersChangeNoWalledScore) {
  auto docs = DemoDocs();
  auto index = NewIndex();
  // The user's matter ("ours") and documents of no matter, which every user
  // sees; behind the wall: "other".
  for (size_t i = 0; i < docs.size(); ++i) {
    Document d = docs[i];
    d.matter = i < 6 ? "ours" : i < 8 ? "" : i < 12 ? "other" : "later";
    if (d.matter == "later") continue;
    ASSERT_TRUE(index->Add(d).ok());
  }
  const std::set<std::string> allowed = {"ours"};
  Seen before = WalledScores(*index, allowed);
  SearchOptions open;
  open.mode = SearchMode::kBm25;
  open.top_k = 20;
  auto open_before = index->Search("limitation of liability", open);
  ASSERT_TRUE(open_before.ok());

  // More documents behind the wall (new ones, and a copy of a visible
  // contract, which would change that contract's terms' frequencies), and
  // one of the walled documents removed.
  for (size_t i = 12; i < docs.size(); ++i) {
    Document d = docs[i];
    d.matter = "other";
    ASSERT_TRUE(index->Add(d).ok());
  }
  Document copy = docs[0];
  copy.id = "copy-of-doc0";
  copy.matter = "other";
  ASSERT_TRUE(index->Add(copy).ok());
  ASSERT_TRUE(index->Remove(docs[8].id).ok());
  Seen after = WalledScores(*index, allowed);
  ExpectSame(before, after);

  // The test can fail: the same documents move unwalled scores.
  auto open_after = index->Search("limitation of liability", open);
  ASSERT_TRUE(open_after.ok());
  ASSERT_FALSE(open_before->empty());
  bool moved = false;
  for (const auto& a : *open_after) {
    for (const auto& b : *open_before) moved |= a.chunk_id == b.chunk_id && a.score != b.score;
  }
  EXPECT_TRUE(moved) << "unwalled scores should depend on every matter";
}

TEST(WalledStats, SameScoresAsAnIndexOfTheVisibleDocumentsAlone) {
  auto docs = DemoDocs();
  auto shared = NewIndex();
  auto alone = NewIndex();
  for (size_t i = 0; i < docs.size(); ++i) {
    Document d = docs[i];
    d.matter = i % 3 == 0 ? "ours" : "other";
    ASSERT_TRUE(shared->Add(d).ok());
    if (d.matter == "ours") {
      ASSERT_TRUE(alone->Add(d).ok());
    }
  }
  // Chunk numbers differ between the two indexes (interleaved adds): only
  // ties may order differently, scores per chunk must be equal.
  ExpectSame(WalledScores(*shared, {"ours"}), WalledScores(*alone, {"ours"}));
}

TEST(WalledStats, NothingVisibleFindsNothing) {
  auto docs = DemoDocs();
  auto index = NewIndex();
  for (size_t i = 0; i < 4; ++i) {
    Document d = docs[i];
    d.matter = "other";
    ASSERT_TRUE(index->Add(d).ok());
  }
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.allowed_matters = std::set<std::string>{"ours"};
  auto hits = index->Search("governing law", o);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

// The statistics follow the visible documents exactly: BM25 over one
// visible chunk scores what the formula gives with N = 1.
TEST(WalledStats, StatisticsAreTheVisibleOnes) {
  auto index = NewIndex();
  Document mine{"mine", "", "alpha beta gamma delta", DocKind::kDocument, {}, "ours", ""};
  ASSERT_TRUE(index->Add(mine).ok());
  for (int i = 0; i < 30; ++i) {
    Document d{"o" + std::to_string(i),
               "",
               "alpha alpha epsilon zeta eta theta iota kappa lambda",
               DocKind::kDocument,
               {},
               "other",
               ""};
    ASSERT_TRUE(index->Add(d).ok());
  }
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.allowed_matters = std::set<std::string>{"ours"};
  auto hits = index->Search("alpha", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  // N = 1, df = 1, length = average: r = 0.5 / 1.5, under 2, so the
  // (default, Robertson) idf is ln(r / 2 + 1); tf part = 1.
  const Bm25Params p;
  ASSERT_EQ(p.idf, Bm25Idf::kRobertson);
  double idf = std::log(0.5 / 1.5 / 2 + 1);
  double want = idf * 1 * (p.k1 + 1) / (1 + p.k1);
  EXPECT_NEAR((*hits)[0].score, want, 1e-6);
}

}  // namespace
}  // namespace foldback
