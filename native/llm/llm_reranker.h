// The LLM listwise reranker (foldback/llm_rerank.h) as a Reranker the
// native host can hand to SearchAndRerank and AskQuestion: each Rerank call
// runs one LlmRerankSession to completion, its needs answered over HTTP by
// an LlmClient, on the host's steady clock. Every decision (prompt, walls,
// redaction, parsing, retries of unusable replies, the deadline, what a
// failure leaves) is the core's; this file only moves bytes and keeps time.
//
// A failed rerank (endpoint down after the client's retries, unusable
// replies, the deadline) is not an error: Rerank returns the first stage's
// order with RerankReport::applied false and a note starting "failed:",
// which the CLI prints as a warning. Errors are bad options and a client
// that refuses a need.
//
// Thread safety: one Rerank at a time (the client and the counters are
// shared), unlike the learned reranker.
#ifndef FOLDBACK_NATIVE_LLM_LLM_RERANKER_H_
#define FOLDBACK_NATIVE_LLM_LLM_RERANKER_H_

#include <string>
#include <vector>

#include "foldback/llm_rerank.h"
#include "foldback/rerank.h"
#include "llm/llm_client.h"

namespace foldback::llm {

class LlmClientReranker final : public Reranker {
 public:
  // `client` must outlive the reranker.
  LlmClientReranker(LlmClient* client, Predictor predictor, LlmRerankOptions options);

  const char* name() const override { return "llm"; }
  Result<std::vector<SearchHit>> Rerank(const Index& index, std::string_view query,
                                        const std::vector<SearchHit>& candidates,
                                        const SearchOptions& options,
                                        RerankReport* report = nullptr) const override;

  // What the calls so far cost and did.
  struct Totals {
    size_t lists = 0;     // Rerank calls that had something to reorder
    size_t applied = 0;   // ... whose order the model set
    size_t failed = 0;    // ... that kept the first stage's order
    size_t requests = 0;  // needs sent (windows + retries)
    size_t windows = 0;
    double ms = 0;  // wall time spent in Rerank (host clock)
  };
  const Totals& totals() const { return totals_; }
  // The last call's result and redaction lines.
  const LlmRerankResult& last() const { return last_; }
  const std::vector<std::string>& last_redactions() const { return last_redactions_; }

 private:
  LlmClient* client_;
  Predictor predictor_;
  LlmRerankOptions options_;
  mutable Totals totals_;
  mutable LlmRerankResult last_;
  mutable std::vector<std::string> last_redactions_;
};

}  // namespace foldback::llm

#endif  // FOLDBACK_NATIVE_LLM_LLM_RERANKER_H_
