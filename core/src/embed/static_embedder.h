// StaticEmbedder: word vectors learned from the indexed corpus itself — no
// model file, no network, deterministic for a given seed — so that dense and
// hybrid search work offline from the first document.
//
// Training: positive pointwise mutual information (PPMI) of word/context
// co-occurrences in a sliding window, reduced by randomized truncated SVD
// (Eigen). A text's vector is the idf-weighted mean of its word vectors,
// L2-normalized.
#ifndef FOLDBACK_EMBED_STATIC_EMBEDDER_H_
#define FOLDBACK_EMBED_STATIC_EMBEDDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "foldback/status.h"
#include "text/analyzer.h"

namespace foldback::pb {
class StaticEmbedder;
}  // namespace foldback::pb

namespace foldback::embed {

struct StaticEmbedderParams {
  // Upper bound: small corpora get fewer dimensions (see Train).
  uint32_t dimension = 128;
  uint32_t window = 5;
  uint32_t min_count = 2;        // words rarer than this get no vector
  uint32_t max_vocabulary = 50000;
  uint32_t max_contexts = 10000;  // context words kept (most frequent)
  uint64_t seed = 42;
};

class StaticEmbedder {
 public:
  // Trains on `texts` (analyzed with `analyzer`, the index's analyzer).
  // FailedPrecondition when the corpus is too small to learn anything.
  static Result<std::unique_ptr<StaticEmbedder>> Train(const std::vector<std::string_view>& texts,
                                                       const text::Analyzer& analyzer,
                                                       const StaticEmbedderParams& params);
  static Result<std::unique_ptr<StaticEmbedder>> Deserialize(const pb::StaticEmbedder& in);
  void Serialize(pb::StaticEmbedder* out) const;

  uint32_t dimension() const { return dimension_; }
  size_t vocabulary_size() const { return words_.size(); }

  // The vector of `text` (dimension() floats, unit length, or all zeros when
  // no word of the text is known).
  std::vector<float> Embed(std::string_view text, const text::Analyzer& analyzer) const;

 private:
  uint32_t dimension_ = 0;
  std::vector<std::string> words_;
  std::unordered_map<std::string, uint32_t> word_ids_;
  std::vector<float> vectors_;  // words_.size() x dimension_
  std::vector<float> idf_;
};

}  // namespace foldback::embed

#endif  // FOLDBACK_EMBED_STATIC_EMBEDDER_H_
