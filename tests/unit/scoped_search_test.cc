// Scoped searches (issue 13 item 2): a filter or wall narrow enough becomes
// a ranged chunk mask, and the search enters each posting list at the
// scope's ranges instead of walking it whole. Rankings and scores must be
// the ones the byte-per-chunk mask gives — bit for bit on the exhaustive
// path — for every filter shape, with walls, after removals and updates.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "demo_contracts.h"
#include "foldback/index.h"
#include "index/index_internal.h"

namespace foldback {
namespace {

std::vector<Document> DemoDocs() {
  std::vector<Document> out;
  int n = 0;
  for (auto& docs : testing::DemoContracts()) {
    for (auto& d : docs) {
      d.matter = "m" + std::to_string(n % 4);
      d.metadata["client"].push_back(n % 5 == 0 ? "acme" : "other" + std::to_string(n));
      out.push_back(std::move(d));
    }
    ++n;
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

// Every chunk the mask lets through, by either form.
std::vector<uint32_t> Allowed(const index::ChunkMask& m, size_t n) {
  std::vector<uint32_t> out;
  for (uint32_t c = 0; c < n; ++c) {
    if (m.Allows(c)) out.push_back(c);
  }
  return out;
}

// Random queries over the index's own terms, common ones favoured.
std::vector<std::vector<index::WeightedTerm>> RandomQueries(const index::LexicalIndex& lex, int count,
                                                            uint32_t seed) {
  std::vector<std::string> vocab;
  for (uint32_t t = 0; t < lex.term_count(); ++t) {
    if (lex.Df(lex.term(t)) > 0) vocab.push_back(lex.term(t));
  }
  std::sort(vocab.begin(), vocab.end(),
            [&](const std::string& a, const std::string& b) { return lex.Df(a) > lex.Df(b); });
  std::mt19937 rng(seed);
  std::vector<std::vector<index::WeightedTerm>> out;
  for (int q = 0; q < count; ++q) {
    std::vector<index::WeightedTerm> query;
    int terms = 1 + static_cast<int>(rng() % 10);
    for (int i = 0; i < terms; ++i) {
      size_t pick = rng() % 3 == 0 ? rng() % vocab.size() : rng() % std::min<size_t>(300, vocab.size());
      query.push_back({vocab[pick], 0.5 + (rng() % 4) * 0.5});
    }
    out.push_back(std::move(query));
  }
  return out;
}

// The scopes a host asks for: one document, a metadata value, a matter, a
// wall, a wall with a filter, several filters, an unknown id.
std::vector<SearchOptions> Scopes(const Index::Rep& rep) {
  std::vector<SearchOptions> out;
  for (uint32_t d = 0; d < rep.docs.size(); d += 3) {
    if (!rep.docs[d].live) continue;
    SearchOptions o;
    o.filters.push_back({"id", Filter::Op::kEq, rep.docs[d].doc.id});
    out.push_back(o);
  }
  SearchOptions client;
  client.filters.push_back({"client", Filter::Op::kEq, "acme"});
  out.push_back(client);
  SearchOptions matter;
  matter.filters.push_back({"matter", Filter::Op::kEq, "m2"});
  out.push_back(matter);
  SearchOptions wall;
  wall.allowed_matters = std::set<std::string>{"m1"};
  out.push_back(wall);
  SearchOptions wall_and_doc = wall;
  wall_and_doc.filters.push_back({"id", Filter::Op::kEq, rep.docs[1].doc.id});  // doc1 is in m1
  out.push_back(wall_and_doc);
  SearchOptions wall_hides_doc = wall;
  wall_hides_doc.filters.push_back({"id", Filter::Op::kEq, rep.docs[2].doc.id});  // m2: hidden
  out.push_back(wall_hides_doc);
  SearchOptions two;
  two.filters.push_back({"client", Filter::Op::kEq, "acme"});
  two.filters.push_back({"matter", Filter::Op::kEq, "m0"});
  out.push_back(two);
  SearchOptions unknown;
  unknown.filters.push_back({"id", Filter::Op::kEq, "no-such-document"});
  out.push_back(unknown);
  return out;
}

// Compares the ranged mask's search with the byte mask's over every scope.
// Returns how many scopes were ranged.
int CompareScopes(Index::Rep& rep, uint32_t seed) {
  index::LexicalIndex& lex = rep.lexical;
  auto queries = RandomQueries(lex, 40, seed);
  int ranged = 0;
  for (const SearchOptions& o : Scopes(rep)) {
    index::ChunkMask mask;
    EXPECT_TRUE(rep.BuildMask(o, &mask).ok());
    index::ChunkMask bytes = mask.AsBytes();
    EXPECT_EQ(Allowed(mask, rep.chunks.size()), Allowed(bytes, rep.chunks.size()));
    ranged += mask.ranged;
    for (size_t q = 0; q < queries.size(); ++q) {
      const std::vector<uint32_t>* groups[] = {nullptr, &rep.chunk_doc};
      for (const auto* group : groups) {
        size_t k = 1 + (q * 7) % 100;
        lex.set_strategy(index::LexicalIndex::Strategy::kExhaustive);
        auto want = lex.Search(queries[q], bytes, k, group);
        auto got = lex.Search(queries[q], mask, k, group);
        EXPECT_EQ(got, want) << "query " << q << " ranged " << mask.ranged;
        // The default strategy on the byte mask may prune (MaxScore): same
        // scores up to rounding.
        lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
        auto pruned = lex.Search(queries[q], bytes, k, group);
        EXPECT_EQ(pruned.size(), got.size());
        for (size_t i = 0; i < pruned.size() && i < got.size(); ++i) {
          EXPECT_NEAR(pruned[i].second, got[i].second, 1e-4 * got[i].second);
        }
      }
    }
  }
  lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
  return ranged;
}

TEST(ScopedSearch, RangedMaskGivesTheByteMasksRanking) {
  auto index = NewIndex();
  for (const auto& d : DemoDocs()) ASSERT_TRUE(index->Add(d).ok());
  Index::Rep& rep = *index->rep();
  int ranged = CompareScopes(rep, 11);
  EXPECT_GE(ranged, 5);  // single documents, the unknown id, wall + document
}

TEST(ScopedSearch, RangedMaskAfterRemovalsAndUpdates) {
  auto index = NewIndex();
  auto docs = DemoDocs();
  for (const auto& d : docs) ASSERT_TRUE(index->Add(d).ok());
  // Remove some documents and add others again with new text, so chunk
  // numbers have holes and a document's chunks move to the end.
  for (size_t i = 0; i < docs.size(); i += 4) ASSERT_TRUE(index->Remove(docs[i].id).ok());
  for (size_t i = 1; i < docs.size(); i += 5) {
    Document d = docs[i];
    d.text += "\n\nAmendment. The termination for convenience clause is deleted in its entirety.";
    ASSERT_TRUE(index->Add(d).ok());
  }
  Index::Rep& rep = *index->rep();
  EXPECT_GE(CompareScopes(rep, 12), 3);
}

TEST(ScopedSearch, IndexSearchWithScopeFindsOnlyTheScope) {
  auto index = NewIndex();
  auto docs = DemoDocs();
  for (const auto& d : docs) ASSERT_TRUE(index->Add(d).ok());
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = 50;
  o.filters.push_back({"id", Filter::Op::kEq, docs[5].id});
  index::ChunkMask mask;
  ASSERT_TRUE(index->rep()->BuildMask(o, &mask).ok());
  ASSERT_TRUE(mask.ranged);
  auto hits = index->Search("termination notice agreement party", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  for (const auto& h : *hits) EXPECT_EQ(h.doc_id, docs[5].id);
}

TEST(ScopedSearch, WideScopeStaysAByteMask) {
  auto index = NewIndex();
  for (const auto& d : DemoDocs()) ASSERT_TRUE(index->Add(d).ok());
  SearchOptions o;
  o.allowed_matters = std::set<std::string>{"m0", "m1", "m2"};
  index::ChunkMask mask;
  ASSERT_TRUE(index->rep()->BuildMask(o, &mask).ok());
  EXPECT_FALSE(mask.all);
  EXPECT_FALSE(mask.ranged);
}

}  // namespace
}  // namespace foldback
