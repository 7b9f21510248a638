// DenseIndex: approximate nearest neighbours over chunk vectors — hnswlib's
// HNSW graph behind foldback's own interface.
//
// - hnswlib's exceptions never leave this class (Status instead).
// - Filtering happens inside the graph search: chunks the mask refuses are
//   traversed but never enter the result list, so walled-off chunks cannot
//   take top-k slots. (Debian ships hnswlib 0.6.2, which predates hnswlib's
//   filter functor; the filtered search runs over its public graph layout.)
// - Serialization is foldback's own, fixed-width little-endian, identical on
//   native and wasm32 — hnswlib's saveIndex writes size_t and is not.
// - Vectors are normalized on insert and query under Metric::kCosine.
#ifndef FOLDBACK_INDEX_DENSE_INDEX_H_
#define FOLDBACK_INDEX_DENSE_INDEX_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/index.h"
#include "index/lexical_index.h"

namespace foldback::pb {
class Dense;
class DensePiece;
}  // namespace foldback::pb

namespace foldback::index {

class DenseIndex {
 public:
  struct Params {
    uint32_t dimension = 0;
    Metric metric = Metric::kCosine;
    uint32_t m = 16;
    uint32_t ef_construction = 200;
    uint64_t seed = 42;
  };

  static Result<std::unique_ptr<DenseIndex>> Create(const Params& params);
  // Loads the graph from a snapshot: `header` and, from format 4 on
  // (`pieced`), its pieces (serialized pb::DensePiece values, in order);
  // before format 4 the nodes are in `header`'s own arrays. `chunk_count`
  // bounds labels. Corruption when the bytes do not make a graph.
  static Result<std::unique_ptr<DenseIndex>> Deserialize(
      const pb::Dense& header, const std::vector<std::string_view>& pieces, bool pieced,
      uint32_t chunk_count);
  ~DenseIndex();

  // Adds (or replaces) the vector of chunk `label`. `v` has dimension() floats.
  Status Add(uint32_t label, const float* v);
  // Marks the chunk deleted (no-op if absent).
  void Remove(uint32_t label);
  bool Contains(uint32_t label) const;
  // The stored vector of chunk `label` (normalized under kCosine) into *out.
  // False when the chunk has no live vector. (Added for feedback's Rocchio
  // and query adapter, which need chunk vectors of external embedders.)
  bool GetVector(uint32_t label, std::vector<float>* out) const;

  // The k nearest allowed chunks, most similar first, with similarity
  // (cosine or inner product; higher is closer).
  std::vector<std::pair<uint32_t, double>> Search(const float* query, size_t k, size_t ef,
                                                  const ChunkMask& mask) const;
  // The most similar of `labels` (a document's chunks) among those the mask
  // allows and that have a live vector: *best gets its label and
  // similarity. `query` must be as this index compares it (unit length
  // under kCosine). False when no label qualifies. The cost is the labels',
  // whatever the index's size.
  bool MostSimilarOf(const float* query, const std::vector<uint32_t>& labels, const ChunkMask& mask,
                     std::pair<uint32_t, double>* best) const;
  // Exact search (brute force) with the same contract, for measuring recall.
  std::vector<std::pair<uint32_t, double>> SearchExact(const float* query, size_t k,
                                                       const ChunkMask& mask) const;

  // The snapshot's form (format 4): the header, then the nodes piece by
  // piece, each closed once it holds about `piece_bytes` (at least one
  // node), so no message nears protobuf's 2 GiB. `renumber` maps labels to
  // snapshot chunk numbers (UINT32_MAX: dropped). The cursor carries a
  // write from one piece to the next; false when every node is written.
  struct PieceCursor {
    uint32_t next = 0;  // the first node of the next piece
    uint32_t dead = 0;  // deleted nodes written so far (their labels count down)
  };
  void SerializeHeader(pb::Dense* out) const;
  bool SerializePiece(const std::vector<uint32_t>& renumber, size_t piece_bytes,
                      PieceCursor* cursor, pb::DensePiece* out) const;

  uint32_t dimension() const;
  size_t size() const;  // live vectors
  size_t memory_bytes() const;

 private:
  struct Impl;
  explicit DenseIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Dot product of two float vectors (SIMD through vector extensions: SSE on
// x86-64, simd128 in wasm).
float Dot(const float* a, const float* b, size_t n);

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_DENSE_INDEX_H_
