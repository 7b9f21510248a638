#include "serve/metrics.h"

#include <cstdio>

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
  char buf[256];
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP foldback_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE foldback_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    std::snprintf(buf, sizeof buf,
                  "foldback_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                  key.first.c_str(), key.second, static_cast<unsigned long long>(n));
    out += buf;
  }
  out +=
      "# HELP foldback_http_request_duration_seconds Time from a request read to its response.\n";
  out += "# TYPE foldback_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      std::snprintf(buf, sizeof buf,
                    "foldback_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    route.c_str(), kBuckets[i], static_cast<unsigned long long>(h.counts[i]));
      out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "foldback_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                  "foldback_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "foldback_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  route.c_str(), static_cast<unsigned long long>(h.count), route.c_str(), h.sum,
                  route.c_str(), static_cast<unsigned long long>(h.count));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "# HELP foldback_llm_calls_total LLM HTTP attempts made for asks.\n"
                "# TYPE foldback_llm_calls_total counter\nfoldback_llm_calls_total %llu\n",
                static_cast<unsigned long long>(llm_calls_.load()));
  out += buf;
  std::snprintf(buf, sizeof buf,
                "# HELP foldback_http_in_flight Requests being handled.\n"
                "# TYPE foldback_http_in_flight gauge\nfoldback_http_in_flight %lld\n",
                static_cast<long long>(in_flight_.load()));
  out += buf;
  std::snprintf(buf, sizeof buf,
                "# HELP foldback_index_documents Documents in the index.\n"
                "# TYPE foldback_index_documents gauge\nfoldback_index_documents %llu\n"
                "# HELP foldback_index_chunks Chunks in the index.\n"
                "# TYPE foldback_index_chunks gauge\nfoldback_index_chunks %llu\n",
                static_cast<unsigned long long>(documents),
                static_cast<unsigned long long>(chunks));
  out += buf;
  return out;
}

}  // namespace foldback::serve
