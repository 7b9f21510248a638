// DenseIndex at a size where hnswlib builds several layers with full link
// lists (the shape that exposed hnswlib's prefetch over-read under ASan).
#include "index/dense_index.h"

#include <gtest/gtest.h>

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

TEST(DenseIndex, SerializedIndexAnswersTheSame) {
  auto data = RandomVectors(kCount, kDim, 5);
  auto queries = RandomVectors(20, kDim, 6);
  auto idx = Build(data, 6);
  std::vector<uint32_t> identity(kCount);
  for (uint32_t i = 0; i < kCount; ++i) identity[i] = i;
  pb::Dense saved;
  idx->Serialize(identity, &saved);
  auto loaded = DenseIndex::Deserialize(saved, kCount);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    EXPECT_EQ(idx->Search(&queries[q * kDim], 10, 64, ChunkMask{}),
              (*loaded)->Search(&queries[q * kDim], 10, 64, ChunkMask{}));
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

}  // namespace
}  // namespace foldback::index
