// HeldOutLists: the first-stage lists a learned reranker trains within —
// each feedback question's candidates as fold-back ranks them when the
// question is new to it (foldback/rerank.h, RerankTrainingLists).
#include <map>
#include <set>

#include "foldback/rerank.h"

namespace foldback {

Result<RerankTrainingLists> HeldOutLists(
    const Index& index, const std::vector<FeedbackRecord>& records,
    const FoldBackOptions& fold_back, size_t depth,
    const std::function<std::optional<SearchOptions>(const FeedbackRecord&)>& options_for) {
  if (depth == 0 || depth > 10000) {
    return Status::InvalidArgument("training list depth must be in 1..10000");
  }
  // Records by question, in log order: a question's records are held out
  // together, so the fold-back that ranks their list has never seen it.
  std::map<std::string, std::vector<const FeedbackRecord*>> by_question;
  for (const FeedbackRecord& r : records) by_question[r.question].push_back(&r);
  const bool any_method = fold_back.rocchio || fold_back.adapter;
  RerankTrainingLists out;
  std::unique_ptr<FoldBack> plain;  // every method off: one, from no records, serves all
  if (!any_method && !by_question.empty()) {
    auto built = FoldBack::Build(index, {}, fold_back);
    if (!built.ok()) return built.status();
    plain = std::move(built.value());
  }
  for (const auto& [question, mine] : by_question) {
    std::unique_ptr<FoldBack> held_out;
    const FoldBack* fb = plain.get();
    if (any_method) {
      std::vector<FeedbackRecord> others;
      for (const FeedbackRecord& r : records) {
        if (r.question != question) others.push_back(r);
      }
      auto built = FoldBack::Build(index, others, fold_back);
      if (!built.ok()) return built.status();
      held_out = std::move(built.value());
      fb = held_out.get();
    }
    for (const FeedbackRecord* r : mine) {
      std::optional<SearchOptions> so = options_for(*r);
      if (!so) continue;
      so->top_k = depth;
      // Behind the record's own matters (its matter and its shown
      // passages'), inside the host's walls: no other matter's passage
      // enters the list, and no other matter's labels move it — the model
      // of the record's scope learns nothing from outside it.
      std::set<std::string> own;
      if (!r->matter.empty()) own.insert(r->matter);
      for (const ShownResult& s : r->results) {
        if (!s.matter.empty()) own.insert(s.matter);
      }
      if (so->allowed_matters) {
        std::set<std::string> both;
        for (const auto& m : own) {
          if (so->allowed_matters->count(m)) both.insert(m);
        }
        own = std::move(both);
      }
      so->allowed_matters = std::move(own);
      auto hits = fb->Search(index, question, *so);
      if (!hits.ok()) return hits.status();
      out[r->record_id] = std::move(hits.value());
    }
  }
  return out;
}

}  // namespace foldback
