// Pruned BM25 gives the exhaustive ranking for random queries, with and
// without one-per-document grouping, with and without a wall: MaxScore the
// same chunks and scores up to float rounding; block-max MaxScore (windows
// in chunk order, and best first) the same chunks and scores bit for bit,
// also with filters and scattered groups, on an index built by adds, on one
// loaded from a snapshot, after removals and adds, and on an index of
// more documents than the k asked for.
#include <gtest/gtest.h>

#include <random>

#include "demo_contracts.h"
#include "foldback/index.h"
#include "host/files.h"
#include "index/index_internal.h"
#include "ingest/extract.h"

namespace foldback {
namespace {

std::unique_ptr<Index> DemoIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  int n = 0;
  for (auto& docs : testing::DemoContracts()) {
    for (auto& d : docs) {
      d.matter = n % 3 == 0 ? "m0" : "m1";
      EXPECT_TRUE((*index)->Add(d).ok());
    }
    ++n;
  }
  return std::move(index.value());
}

TEST(MaxScore, SameRankingAsExhaustive) {
  auto index = DemoIndex();
  Index::Rep& rep = *index->rep();
  index::LexicalIndex& lex = rep.lexical;
  // Query terms: random draws from the dictionary, weighted toward common
  // terms (long postings lists, where pruning matters).
  std::vector<std::string> vocab;
  for (uint32_t t = 0; t < lex.term_count(); ++t) {
    if (lex.Df(lex.term(t)) > 0) vocab.push_back(lex.term(t));
  }
  std::sort(vocab.begin(), vocab.end(), [&](const std::string& a, const std::string& b) {
    return lex.Df(a) > lex.Df(b);
  });
  std::mt19937 rng(7);
  index::ChunkMask walls;
  SearchOptions so;
  so.allowed_matters = std::set<std::string>{"m1"};
  ASSERT_TRUE(rep.BuildMask(so, &walls).ok());
  size_t compared = 0;
  for (int q = 0; q < 300; ++q) {
    std::vector<index::WeightedTerm> query;
    int terms = 2 + static_cast<int>(rng() % 12);
    for (int i = 0; i < terms; ++i) {
      size_t pick = rng() % 4 == 0 ? rng() % vocab.size() : rng() % std::min<size_t>(200, vocab.size());
      query.push_back({vocab[pick], 0.5 + (rng() % 4) * 0.5});
    }
    size_t k = 1 + rng() % 30;
    const std::vector<uint32_t>* groups[] = {nullptr, &rep.chunk_doc};
    const index::ChunkMask* masks[] = {nullptr, &walls};
    for (const auto* group : groups) {
      for (const auto* mask : masks) {
        index::ChunkMask all;
        const index::ChunkMask& m = mask ? *mask : all;
        lex.set_strategy(index::LexicalIndex::Strategy::kExhaustive);
        auto want = lex.Search(query, m, k, group);
        lex.set_strategy(index::LexicalIndex::Strategy::kMaxScore);
        auto got = lex.Search(query, m, k, group);
        ASSERT_EQ(got.size(), want.size()) << "query " << q;
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_NEAR(got[i].second, want[i].second, 1e-4 * want[i].second) << "query " << q << " rank " << i;
          // Chunks agree unless two scores tie within rounding.
          if (got[i].first != want[i].first) {
            bool tie = (i + 1 < want.size() && std::abs(want[i].second - want[i + 1].second) < 1e-4) ||
                       (i > 0 && std::abs(want[i].second - want[i - 1].second) < 1e-4);
            EXPECT_TRUE(tie) << "query " << q << " rank " << i << " group " << (group != nullptr) << " mask " << (mask != nullptr) << " got " << got[i].first << "/" << got[i].second << " want " << want[i].first << "/" << want[i].second << " doc " << rep.chunk_doc[got[i].first] << " vs " << rep.chunk_doc[want[i].first];
          }
        }
        ++compared;
      }
    }
  }
  lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
  EXPECT_EQ(compared, 1200u);
}

// Random queries drawn as above; every (query, k, grouping, mask) compared
// between the exhaustive path and both block-max paths (windows in chunk
// order, windows best first) with EXPECT_EQ on chunks and float scores.
// Groupings: none, by document, and groups scattered over the chunk numbers
// (so that no window holds a single group). Masks: none, the wall of one
// matter (walled statistics), a filter refusing a third of the chunks
// (index statistics). `k_top`: the largest k drawn. Returns the number of
// comparisons.
size_t CompareBlockMax(Index& index, uint32_t seed, int queries, size_t k_top = 100) {
  Index::Rep& rep = *index.rep();
  index::LexicalIndex& lex = rep.lexical;
  std::vector<std::string> vocab;
  for (uint32_t t = 0; t < lex.term_count(); ++t) {
    if (lex.Df(lex.term(t)) > 0) vocab.push_back(lex.term(t));
  }
  std::sort(vocab.begin(), vocab.end(), [&](const std::string& a, const std::string& b) {
    return lex.Df(a) != lex.Df(b) ? lex.Df(a) > lex.Df(b) : a < b;
  });
  std::mt19937 rng(seed);
  index::ChunkMask walls;
  SearchOptions so;
  so.allowed_matters = std::set<std::string>{"m1"};
  EXPECT_TRUE(rep.BuildMask(so, &walls).ok());
  index::ChunkMask filter;
  filter.all = false;
  filter.allowed.assign(rep.chunk_doc.size(), 0);
  for (size_t c = 0; c < filter.allowed.size(); ++c) filter.allowed[c] = (c / 7) % 3 != 0;
  std::vector<uint32_t> scattered(rep.chunk_doc.size());
  for (size_t c = 0; c < scattered.size(); ++c) scattered[c] = static_cast<uint32_t>(c * 7919 % 53);
  using Strategy = index::LexicalIndex::Strategy;
  size_t compared = 0;
  for (int q = 0; q < queries; ++q) {
    std::vector<index::WeightedTerm> query;
    int terms = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < terms; ++i) {
      size_t pick =
          rng() % 4 == 0 ? rng() % vocab.size() : rng() % std::min<size_t>(200, vocab.size());
      query.push_back({vocab[pick], 0.5 + (rng() % 4) * 0.5});
    }
    size_t k = rng() % 3 == 0 ? k_top / 2 + rng() % (k_top / 2 + 1) : 1 + rng() % 30;
    const std::vector<uint32_t>* groups[] = {nullptr, &rep.chunk_doc, &scattered};
    const index::ChunkMask* masks[] = {nullptr, &walls, &filter};
    for (const auto* group : groups) {
      for (const auto* mask : masks) {
        index::ChunkMask all;
        const index::ChunkMask& m = mask ? *mask : all;
        lex.set_strategy(Strategy::kExhaustive);
        auto want = lex.Search(query, m, k, group);
        for (Strategy s : {Strategy::kBlockMax, Strategy::kBestFirst}) {
          lex.set_strategy(s);
          auto got = lex.Search(query, m, k, group);
          const char* grouping = !group                    ? "none"
                                 : group == &rep.chunk_doc ? "document"
                                                           : "scattered";
          const char* masking = !mask ? "none" : mask == &walls ? "wall" : "filter";
          EXPECT_EQ(got, want) << "query " << q << " k " << k << " group " << grouping << " mask "
                               << masking << " best-first " << (s == Strategy::kBestFirst);
          ++compared;
        }
        lex.set_strategy(Strategy::kAuto);
      }
    }
  }
  return compared;
}

// The demo contracts cut into documents of a few paragraphs each (about
// 300): more documents than the largest k, so that the k best documents'
// threshold rises as it does on a collection.
std::unique_ptr<Index> ManyDocumentsIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  for (const auto& docs : testing::DemoContracts("file")) {
    for (const Document& whole : docs) {
      const std::string& text = whole.text;
      size_t at = 0;
      int part = 0;
      while (at < text.size()) {
        size_t end = at;
        for (int p = 0; p < 6 && end != std::string::npos; ++p) end = text.find("\n\n", end + 1);
        if (end == std::string::npos) end = text.size();
        Document d;
        d.id = whole.id + "-" + std::to_string(part);
        d.text = text.substr(at, end - at);
        d.matter = part % 3 == 0 ? "m0" : "m1";
        EXPECT_TRUE((*index)->Add(d).ok());
        at = end;
        ++part;
      }
    }
  }
  return std::move(index.value());
}

TEST(BlockMax, SameRankingAsExhaustiveBitForBit) {
  auto index = ManyDocumentsIndex();
  ASSERT_GT(index->Stats().documents, 250u);
  index::LexicalIndex& lex = index->rep()->lexical;
  size_t compared = 0;
  // About 1,000 chunks: windows of 16 and 128 chunk numbers give many
  // windows to skip or rank, the default two.
  for (uint32_t bits : {4u, 7u, 11u}) {
    lex.set_window_bits(bits);
    compared += CompareBlockMax(*index, 11 + bits, 30, 160);
  }
  // Loaded from a snapshot (window blocks rebuilt at load).
  auto snap = index->Snapshot();
  ASSERT_TRUE(snap.ok());
  auto loaded = Index::FromSnapshot(*snap);
  ASSERT_TRUE(loaded.ok());
  (*loaded)->rep()->lexical.set_window_bits(5);
  compared += CompareBlockMax(**loaded, 29, 30, 160);
  // Then documents removed (their postings stay, skipped) and added again
  // (appended postings extend the window blocks).
  ASSERT_TRUE((*loaded)->Remove("file3-0").ok());
  ASSERT_TRUE((*loaded)->Remove("file7-1").ok());
  auto files = host::ListFiles(FOLDBACK_DEMO_CORPUS);
  ASSERT_TRUE(files.ok());
  std::vector<std::string> txt;
  for (const auto& f : *files) {
    if (ingest::Extension(f) == ".txt") txt.push_back(f);
  }
  ASSERT_GT(txt.size(), 7u);
  auto docs = ingest::ExtractText(txt[3], "file3-again");
  ASSERT_TRUE(docs.ok());
  for (auto& d : *docs) {
    d.matter = "m1";
    ASSERT_TRUE((*loaded)->Add(d).ok());
  }
  compared += CompareBlockMax(**loaded, 31, 30, 160);
  EXPECT_EQ(compared, 2700u);
}

}  // namespace
}  // namespace foldback
