#include "serve/metrics.h"

#include <iterator>

#include <fmt/format.h>

namespace foldback::serve {

void Metrics::Observe(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += seconds;
}

std::string Metrics::Render(uint64_t documents, uint64_t chunks) const {
  std::string out;
  auto to = std::back_inserter(out);
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP foldback_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE foldback_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    fmt::format_to(to,
                   FMT_STRING("foldback_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n"),
                   key.first, key.second, n);
  }
  out +=
      "# HELP foldback_http_request_duration_seconds Time from a request read to its response.\n";
  out += "# TYPE foldback_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      fmt::format_to(
          to,
          FMT_STRING(
              "foldback_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{:g}\"}} {}\n"),
          route, kBuckets[i], h.counts[i]);
    }
    fmt::format_to(
        to,
        FMT_STRING("foldback_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n"
                   "foldback_http_request_duration_seconds_sum{{route=\"{}\"}} {:.6f}\n"
                   "foldback_http_request_duration_seconds_count{{route=\"{}\"}} {}\n"),
        route, h.count, route, h.sum, route, h.count);
  }
  fmt::format_to(
      to,
      FMT_STRING("# HELP foldback_llm_calls_total LLM HTTP attempts made for asks.\n"
                 "# TYPE foldback_llm_calls_total counter\nfoldback_llm_calls_total {}\n"),
      llm_calls_.load());
  fmt::format_to(
      to,
      FMT_STRING("# HELP foldback_model_builds_total Models built from the feedback log (cache "
                 "misses): fold-backs and learned rerankers.\n"
                 "# TYPE foldback_model_builds_total counter\n"
                 "foldback_model_builds_total{{kind=\"fold_back\"}} {}\n"
                 "foldback_model_builds_total{{kind=\"learned_reranker\"}} {}\n"),
      fold_back_builds_.load(), learned_builds_.load());
  fmt::format_to(
      to,
      FMT_STRING("# HELP foldback_model_updates_total Models brought up to date without a build: "
                 "feedback records folded into the kept fold-backs, query adapters retrained in "
                 "the background.\n"
                 "# TYPE foldback_model_updates_total counter\n"
                 "foldback_model_updates_total{{kind=\"fold_back\"}} {}\n"
                 "foldback_model_updates_total{{kind=\"adapter\"}} {}\n"),
      fold_back_updates_.load(), adapter_updates_.load());
  fmt::format_to(to,
                 FMT_STRING("# HELP foldback_http_in_flight Requests being handled.\n"
                            "# TYPE foldback_http_in_flight gauge\nfoldback_http_in_flight {}\n"),
                 in_flight_.load());
  fmt::format_to(to,
                 FMT_STRING("# HELP foldback_index_documents Documents in the index.\n"
                            "# TYPE foldback_index_documents gauge\nfoldback_index_documents {}\n"
                            "# HELP foldback_index_chunks Chunks in the index.\n"
                            "# TYPE foldback_index_chunks gauge\nfoldback_index_chunks {}\n"),
                 documents, chunks);
  return out;
}

}  // namespace foldback::serve
