#include "llm/llm_reranker.h"

#include <fmt/format.h>

namespace foldback::llm {

LlmClientReranker::LlmClientReranker(LlmClient* client, Predictor predictor,
                                     LlmRerankOptions options)
    : client_(client), predictor_(std::move(predictor)), options_(std::move(options)) {}

Result<std::vector<SearchHit>> LlmClientReranker::Rerank(const Index& index, std::string_view query,
                                                         const std::vector<SearchHit>& candidates,
                                                         const SearchOptions& options,
                                                         RerankReport* report) const {
  if (report) *report = RerankReport();
  SteadyClock clock;
  LlmRerankOptions o = options_;
  o.depth = std::max<size_t>(1, std::min<size_t>(1000, candidates.size()));
  auto session =
      LlmRerankSession::Start(index, query, candidates, options, predictor_, o, clock.NowMs());
  if (!session.ok()) return session.status();
  LlmRerankSession& s = **session;
  while (!s.done()) {
    for (const Need& n : s.TakeNeeds()) {
      Status started = client_->Start(n);
      if (!started.ok()) {
        client_->Cancel(n.id);
        return started;
      }
    }
    if (s.done()) break;
    if (client_->pending() == 0) {
      return Status::Internal("the rerank session asks for nothing and is not done");
    }
    // Wake every 50 ms so the session sees its deadline pass.
    for (Completion& c : client_->Wait(50)) {
      FB_RETURN_IF_ERROR(s.Provide(c.need_id, std::move(c.result), clock.NowMs()));
    }
    s.Tick(clock.NowMs());
  }
  client_->CancelAll();  // a need abandoned at the deadline
  last_ = s.result();
  last_redactions_ = s.redactions();
  if (last_.candidates >= 2) {
    ++totals_.lists;
    totals_.applied += last_.applied ? 1 : 0;
    totals_.failed += last_.failed ? 1 : 0;
  }
  totals_.requests += last_.requests;
  totals_.windows += last_.windows;
  totals_.ms += clock.NowMs();
  if (report) {
    report->applied = last_.applied;
    report->candidates = last_.candidates;
    report->walled = last_.walled;
    if (last_.failed) {
      report->note = "failed: " + last_.status.ToString() + "; the first-stage order is kept";
    } else if (!last_.applied) {
      report->note = "fewer than two candidates";
    }
  }
  // The head only: SearchAndRerank and AskQuestion append what lies below.
  std::vector<SearchHit> out = last_.hits;
  return out;
}

}  // namespace foldback::llm
