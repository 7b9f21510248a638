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

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
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

  // Builds an embedder from its parts (a trained model): `vectors` holds
  // words.size() x dimension floats, `weights` one pooling weight per word.
  // InvalidArgument on inconsistent sizes, repeated words or non-finite
  // values.
  static Result<std::unique_ptr<StaticEmbedder>> FromParts(std::vector<std::string> words,
                                                           uint32_t dimension,
                                                           std::vector<float> vectors,
                                                           std::vector<float> weights);

  uint32_t dimension() const { return dimension_; }
  size_t vocabulary_size() const { return words_.size(); }

  // The model's parts (see FromParts): word i's vector is
  // vectors()[i * dimension() .. (i + 1) * dimension()), its pooling weight
  // weights()[i] (the idf when trained by Train).
  const std::vector<std::string>& words() const { return words_; }
  const std::vector<float>& vectors() const { return vectors_; }
  const std::vector<float>& weights() const { return idf_; }
  // Word id of an analyzed term, or -1.
  int32_t WordId(std::string_view term) const;
  // The known words of `text` with their counts, ordered by word id: the
  // bag Embed pools (vector = normalize(sum count * weight * vector)).
  std::vector<std::pair<uint32_t, uint32_t>> Bag(std::string_view text,
                                                 const text::Analyzer& analyzer) const;

  // Model version: 1 for a model trained by Train; every model installed
  // after it (contrastive training, a retrain) gets the previous one's
  // version + 1. `training` says how it was made ("ppmi-svd", or the
  // contrastive training's sources, epochs, seed and pairs).
  uint32_t version() const { return version_; }
  const std::string& training() const { return training_; }
  void set_version(uint32_t v) { version_ = v; }
  void set_training(std::string t) { training_ = std::move(t); }
  // The matters whose lawyers' labels trained the model (sorted; none for
  // a corpus model and for labels of no matter).
  const std::vector<std::string>& feedback_matters() const { return feedback_matters_; }
  void set_feedback_matters(std::vector<std::string> m) { feedback_matters_ = std::move(m); }
  bool LearnedFrom(const std::string& matter) const {
    return std::binary_search(feedback_matters_.begin(), feedback_matters_.end(), matter);
  }

  // The vector of `text` (dimension() floats, unit length, or all zeros when
  // no word of the text is known).
  std::vector<float> Embed(std::string_view text, const text::Analyzer& analyzer) const;

 private:
  uint32_t dimension_ = 0;
  std::vector<std::string> words_;
  std::unordered_map<std::string, uint32_t> word_ids_;
  std::vector<float> vectors_;  // words_.size() x dimension_
  std::vector<float> idf_;
  uint32_t version_ = 1;
  std::string training_ = "ppmi-svd";
  std::vector<std::string> feedback_matters_;
};

}  // namespace foldback::embed

#endif  // FOLDBACK_EMBED_STATIC_EMBEDDER_H_
