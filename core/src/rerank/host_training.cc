// TrainSearchReranker: the learned reranker every host searches with,
// trained as `foldback eval --feedback-queries` trains it — within the lists
// it will reorder (HeldOutLists), each in the scope its question was asked
// in, behind the asker's walls.
#include <set>
#include <string>

#include "feedback/walls.h"
#include "foldback/rerank.h"
#include "text/metadata.h"

namespace foldback {
namespace {

using Walls = walls::Wall;
using walls::Inside;
using walls::Intersect;

// The record's own matters as recorded: the cheap half of the check
// LearnedReranker::Train makes (which also asks the index).
bool RecordInside(const FeedbackRecord& r, const Walls& walls) {
  if (!Inside(walls, r.matter)) return false;
  for (const ShownResult& s : r.results) {
    if (!Inside(walls, s.matter)) return false;
  }
  return true;
}

// Fields Index::Search accepts in a filter now: the index's own, and the
// ones ExtractMetadata may write (valid even when no document has them).
std::set<std::string> KnownFields(const Index& index) {
  std::vector<std::string> fields = index.FilterFields();
  std::set<std::string> out(fields.begin(), fields.end());
  for (const char* f : {text::kFieldDate, text::kFieldAmount, text::kFieldDefinedTerm,
                        text::kFieldParty, text::kFieldCitation}) {
    out.insert(f);
  }
  return out;
}

}  // namespace

Result<RerankTrainingLists> SearchRerankLists(const Index& index,
                                              const std::vector<FeedbackRecord>& records,
                                              const Walls& walls,
                                              const SearchRerankTraining& training) {
  FoldBackOptions fb = training.fold_back_options;
  if (!training.fold_back) fb.rocchio = fb.adapter = false;  // the plain search
  // The fold-back that ranks a list learns only from records inside the
  // walls (FoldBack::Search walls its feedback too; this also keeps the
  // other records out of its adapter).
  fb.allowed_matters = Intersect(fb.allowed_matters, walls);
  const std::set<std::string> known = KnownFields(index);
  auto options_for = [&](const FeedbackRecord& r) -> std::optional<SearchOptions> {
    if (!RecordInside(r, walls)) return std::nullopt;  // Train refuses it
    SearchOptions so = training.search;
    so.query_vector.clear();  // each list's question is its own
    so.allowed_matters = walls;
    so.filters.clear();
    bool scoped = true;
    for (const Filter& f : r.filters) scoped = scoped && known.count(f.field) > 0;
    // A field the index no longer has would fail the search: the record is
    // ranked over its matters alone, as a record without filters is.
    if (scoped) so.filters = r.filters;
    return so;
  };
  return HeldOutLists(index, records, fb, training.depth, options_for);
}

Result<std::unique_ptr<LearnedReranker>> TrainSearchReranker(
    const Index& index, const std::vector<FeedbackRecord>& records, const Walls& walls,
    const SearchRerankTraining& training, RerankTrainStats* stats) {
  LearnedRerankerOptions o = training.reranker;
  o.allowed_matters = Intersect(o.allowed_matters, walls);  // the training wall
  auto lists = SearchRerankLists(index, records, o.allowed_matters, training);
  if (!lists.ok()) return lists.status();
  return LearnedReranker::Train(index, records, o, stats, &*lists);
}

}  // namespace foldback
