// DenseIndex at a size where hnswlib builds several layers with full link
// lists (the shape that exposed hnswlib's prefetch over-read under ASan).
#include "index/dense_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "snapshot.pb.h"

namespace foldback::index {
namespace {

constexpr uint32_t kDim = 16;
constexpr uint32_t kCount = 3000;

std::vector<float> RandomVectors(uint32_t count, uint32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(static_cast<size_t>(count) * dim);
  for (float& x : v) x = g(rng);
  return v;
}

std::unique_ptr<DenseIndex> Build(const std::vector<float>& data, uint32_t m) {
  DenseIndex::Params p;
  p.dimension = kDim;
  p.m = m;
  p.ef_construction = 100;
  auto idx = DenseIndex::Create(p);
  EXPECT_TRUE(idx.ok());
  for (uint32_t i = 0; i < kCount; ++i) EXPECT_TRUE((*idx)->Add(i, &data[size_t{i} * kDim]).ok());
  return std::move(*idx);
}

double RecallAt10(const DenseIndex& idx, const std::vector<float>& queries, const ChunkMask& mask) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    auto approx = idx.Search(&queries[q * kDim], 10, 100, mask);
    auto exact = idx.SearchExact(&queries[q * kDim], 10, mask);
    std::set<uint32_t> truth;
    for (auto& [label, score] : exact) truth.insert(label);
    for (auto& [label, score] : approx) hit += truth.count(label);
    total += exact.size();
  }
  return total == 0 ? 0 : static_cast<double>(hit) / total;
}

TEST(DenseIndex, ManyLayersBuildAndSearch) {
  auto data = RandomVectors(kCount, kDim, 1);
  auto queries = RandomVectors(50, kDim, 2);
  auto idx = Build(data, /*m=*/4);  // small M: many upper-layer nodes, full lists
  EXPECT_EQ(idx->size(), kCount);
  EXPECT_GT(RecallAt10(*idx, queries, ChunkMask{}), 0.9);

  // A chunk's own vector finds itself first.
  auto self = idx->Search(&data[size_t{1234} * kDim], 1, 50, ChunkMask{});
  ASSERT_EQ(self.size(), 1u);
  EXPECT_EQ(self[0].first, 1234u);
}

TEST(DenseIndex, FilterAndRemoveHoldAtScale) {
  auto data = RandomVectors(kCount, kDim, 3);
  auto queries = RandomVectors(30, kDim, 4);
  auto idx = Build(data, 8);
  ChunkMask odd;
  odd.all = false;
  odd.allowed.assign(kCount, 0);
  for (uint32_t i = 1; i < kCount; i += 2) odd.allowed[i] = 1;
  for (uint32_t i = 0; i < kCount; i += 3) idx->Remove(i);
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    auto hits = idx->Search(&queries[q * kDim], 10, 100, odd);
    EXPECT_EQ(hits.size(), 10u);
    for (auto& [label, score] : hits) {
      EXPECT_EQ(label % 2, 1u) << "a refused chunk came back";
      EXPECT_NE(label % 3, 0u) << "a removed chunk came back";
    }
  }
  EXPECT_GT(RecallAt10(*idx, queries, odd), 0.85);
}

// The graph written in pieces of any size (down to one node a piece) and
// as formats 1-3 held it (one message of arrays) loads to the same answers.
TEST(DenseIndex, SerializedIndexAnswersTheSame) {
  auto data = RandomVectors(kCount, kDim, 5);
  auto queries = RandomVectors(20, kDim, 6);
  auto idx = Build(data, 6);
  for (uint32_t i = 0; i < kCount; i += 11) idx->Remove(i);
  std::vector<uint32_t> identity(kCount);
  for (uint32_t i = 0; i < kCount; ++i) identity[i] = i;
  for (size_t piece_bytes : {size_t{1}, size_t{5000}, size_t{64} << 20}) {
    pb::Dense header;
    idx->SerializeHeader(&header);
    EXPECT_EQ(header.node_count(), kCount);
    std::vector<std::string> pieces;
    pb::Dense whole = header;  // formats 1-3: the arrays in the header
    whole.clear_node_count();
    DenseIndex::PieceCursor cursor;
    pb::DensePiece piece;
    while (idx->SerializePiece(identity, piece_bytes, &cursor, &piece)) {
      pieces.push_back(piece.SerializeAsString());
      whole.mutable_labels()->append(piece.labels());
      whole.mutable_levels()->append(piece.levels());
      whole.mutable_vectors()->append(piece.vectors());
      whole.mutable_links()->append(piece.links());
      whole.mutable_deleted()->append(piece.deleted());
    }
    if (piece_bytes == 1) EXPECT_EQ(pieces.size(), kCount);
    if (piece_bytes == 5000) EXPECT_GT(pieces.size(), 10u);
    if (piece_bytes > 5000) EXPECT_EQ(pieces.size(), 1u);
    const std::vector<std::string_view> views(pieces.begin(), pieces.end());
    auto loaded = DenseIndex::Deserialize(header, views, /*pieced=*/true, kCount);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    auto old = DenseIndex::Deserialize(whole, {}, /*pieced=*/false, kCount);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    EXPECT_EQ((*loaded)->size(), idx->size());
    for (size_t q = 0; q < queries.size() / kDim; ++q) {
      const auto want = idx->Search(&queries[q * kDim], 10, 64, ChunkMask{});
      EXPECT_EQ((*loaded)->Search(&queries[q * kDim], 10, 64, ChunkMask{}), want);
      EXPECT_EQ((*old)->Search(&queries[q * kDim], 10, 64, ChunkMask{}), want);
    }
    // Each form read as the other is refused.
    EXPECT_TRUE(
        DenseIndex::Deserialize(whole, {}, /*pieced=*/true, kCount).status().IsCorruption());
    EXPECT_TRUE(
        DenseIndex::Deserialize(header, views, /*pieced=*/false, kCount).status().IsCorruption());
  }
}

// A scope of a few documents (a ranged mask) is searched through its own
// chunks; it must answer exactly as scanning every node against the same
// chunks as bytes, removed chunks and chunks without a vector included.
TEST(DenseIndex, RangedScopeAnswersAsTheExactScan) {
  auto data = RandomVectors(kCount, kDim, 7);
  auto queries = RandomVectors(20, kDim, 8);
  auto idx = Build(data, 8);
  for (uint32_t i = 0; i < kCount; i += 7) idx->Remove(i);
  std::mt19937 rng(9);
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    ChunkMask ranged;
    ranged.all = false;
    ranged.ranged = true;
    // Up to four ranges, some past the last vector (chunks without one).
    uint32_t at = rng() % 500;
    for (int r = 0; r < 1 + static_cast<int>(rng() % 4); ++r) {
      const uint32_t end = at + 1 + rng() % 300;
      ranged.ranges.emplace_back(at, end);
      at = end + 1 + rng() % 900;
    }
    if (q % 5 == 0) ranged.ranges.emplace_back(kCount - 10, kCount + 50);
    const float* v = &queries[q * kDim];
    auto expected = idx->SearchExact(v, 10, ranged.AsBytes());
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(idx->Search(v, 10, 100, ranged), expected) << q;
    EXPECT_EQ(idx->SearchExact(v, 10, ranged), expected) << q;
    for (const auto& [label, score] : expected) EXPECT_NE(label % 7, 0u);
  }
}

// A document's chunks scored by the most similar one (search.cc's
// per-document dense score): the same answer as an exact search over those
// chunks alone, for every kind of mask; chunks the mask refuses, removed
// chunks and chunks without a vector never answer.
TEST(DenseIndex, MostSimilarOfAListKeepsToTheMask) {
  constexpr uint32_t kSmall = 200;
  auto data = RandomVectors(kSmall, kDim, 21);
  auto queries = RandomVectors(10, kDim, 22);
  DenseIndex::Params p;
  p.dimension = kDim;
  auto idx = DenseIndex::Create(p);
  ASSERT_TRUE(idx.ok());
  for (uint32_t i = 0; i < kSmall; ++i) ASSERT_TRUE((*idx)->Add(i, &data[size_t{i} * kDim]).ok());
  (*idx)->Remove(30);
  // A document's chunks: some removed (30) or without a vector (250, 251).
  const std::vector<uint32_t> doc = {10, 11, 12, 30, 31, 32, 33, 120, 121, 250, 251};
  ChunkMask bytes;
  bytes.all = false;
  bytes.allowed.assign(kSmall + 60, 1);
  for (uint32_t c : {11u, 31u, 121u}) bytes.allowed[c] = 0;
  ChunkMask ranged;
  ranged.all = false;
  ranged.ranged = true;
  ranged.ranges = {{10, 12}, {30, 33}, {200, 260}};
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    std::vector<float> v(&queries[q * kDim], &queries[q * kDim] + kDim);
    float n = std::sqrt(Dot(v.data(), v.data(), kDim));
    for (float& x : v) x /= n;
    for (const ChunkMask* m : std::vector<const ChunkMask*>{&bytes, &ranged, nullptr}) {
      ChunkMask only;  // the list's chunks that `m` allows, as bytes
      only.all = false;
      only.allowed.assign(kSmall + 60, 0);
      for (uint32_t c : doc) only.allowed[c] = !m || m->Allows(c);
      auto expected = (*idx)->SearchExact(v.data(), 1, only);
      ASSERT_EQ(expected.size(), 1u);
      std::pair<uint32_t, double> best;
      ASSERT_TRUE((*idx)->MostSimilarOf(v.data(), doc, m ? *m : ChunkMask{}, &best));
      EXPECT_EQ(best.first, expected[0].first) << q;
      EXPECT_NEAR(best.second, expected[0].second, 1e-5) << q;
      EXPECT_NE(best.first, 30u);
      if (m) EXPECT_TRUE(m->Allows(best.first));
    }
  }
  // Nothing allowed, removed or with a vector: no answer.
  std::pair<uint32_t, double> none;
  EXPECT_FALSE((*idx)->MostSimilarOf(queries.data(), {11, 31, 121}, bytes, &none));
  EXPECT_FALSE((*idx)->MostSimilarOf(queries.data(), {30, 250}, ChunkMask{}, &none));
  EXPECT_FALSE((*idx)->MostSimilarOf(queries.data(), {}, ChunkMask{}, &none));
}

}  // namespace
}  // namespace foldback::index
