// Prometheus metrics of `foldback serve` (GET /metrics, text format 0.0.4):
// requests by route and status, request latency by route (histogram), LLM
// calls (attempts), requests in flight, models built from the feedback log.
// Thread-safe.
#ifndef FOLDBACK_NATIVE_SERVE_METRICS_H_
#define FOLDBACK_NATIVE_SERVE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace foldback::serve {

class Metrics {
 public:
  // One finished request; `route` is the route's template ("/v1/search",
  // "/v1/documents/{id}", "unknown").
  void Observe(const std::string& route, int status, double seconds);
  void AddLlmCalls(uint64_t n) { llm_calls_ += n; }
  void InFlight(int delta) { in_flight_ += delta; }
  // A model built from the feedback log (serve/feedback_models.h): a cache
  // miss. foldback_model_builds_total{kind="fold_back"|"learned_reranker"}.
  enum class ModelKind { kFoldBack, kLearnedReranker, kAdapter };
  void AddModelBuild(ModelKind kind) {
    (kind == ModelKind::kFoldBack ? fold_back_builds_ : learned_builds_) += 1;
  }
  // A model brought up to date without a build: a feedback record folded
  // into the kept fold-backs (kFoldBack), a fold-back's query adapter
  // retrained in the background (kAdapter).
  // foldback_model_updates_total{kind="fold_back"|"adapter"}.
  void AddModelUpdate(ModelKind kind) {
    (kind == ModelKind::kAdapter ? adapter_updates_ : fold_back_updates_) += 1;
  }
  // The text exposition; `documents` and `chunks` describe the index.
  std::string Render(uint64_t documents, uint64_t chunks) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::atomic<uint64_t> llm_calls_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> fold_back_builds_{0};
  std::atomic<uint64_t> learned_builds_{0};
  std::atomic<uint64_t> fold_back_updates_{0};
  std::atomic<uint64_t> adapter_updates_{0};
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_METRICS_H_
