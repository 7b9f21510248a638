// The learned query adapter: a linear map W on query embeddings, initialised
// to the identity and trained on lawyers' labels so that a question's vector
// moves towards the passages they marked relevant and away from those they
// marked not relevant (and from passages relevant to other questions).
//
// Loss, per (question q, relevant passage p): softmax cross-entropy of
// p among {p} ∪ the trace's negatives ∪ in-batch negatives, with scores
// (W q) · x / temperature — InfoNCE as sentence-transformers'
// MultipleNegativesRankingLoss uses — plus l2 * ||W - I||². Adam, CPU only,
// Eigen. Deterministic for a given seed (own shuffles over mt19937_64).
#ifndef FOLDBACK_FEEDBACK_ADAPTER_H_
#define FOLDBACK_FEEDBACK_ADAPTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "foldback/status.h"

namespace foldback::feedback {

struct AdapterExample {
  std::vector<float> query;                   // unit length
  std::vector<std::vector<float>> positives;  // unit length
  std::vector<std::vector<float>> negatives;  // unit length, from the same trace
  // Examples with the same group (e.g. the same question text) are never
  // used as each other's in-batch negatives.
  std::string group;
};

struct AdapterParams {
  uint32_t epochs = 30;
  double learning_rate = 0.05;
  double temperature = 0.05;
  double l2 = 0.01;
  uint32_t batch = 32;               // pairs per Adam step
  uint32_t in_batch_negatives = 16;  // positives of other groups per pair
  uint64_t seed = 42;
};

struct AdapterModel {
  uint32_t dimension = 0;
  std::vector<float> weights;  // dimension x dimension, row-major
  size_t pairs = 0;
  double loss_before = 0;
  double loss_after = 0;
};

// InvalidArgument on vectors of the wrong size; FailedPrecondition when no
// example has a positive.
Result<AdapterModel> TrainAdapter(const std::vector<AdapterExample>& examples, uint32_t dimension,
                                  const AdapterParams& params);

// out = normalize(W * q). REQUIRES: q has model.dimension floats.
std::vector<float> ApplyAdapter(const AdapterModel& model, const std::vector<float>& q);

}  // namespace foldback::feedback

#endif  // FOLDBACK_FEEDBACK_ADAPTER_H_
