// Rerankers whose scores come from the host (foldback/rerank.h, "external
// scores"), and the admission of candidates shared with the LLM reranker.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "foldback/rerank.h"
#include "rerank/candidates.h"

namespace foldback {
namespace rerank {

Admission Admit(const Index& index, const SearchHit& h,
                const std::optional<std::set<std::string>>& walls, SearchHit* kept) {
  const Chunk* c = index.FindChunk(h.chunk_id);
  const Document* d = c ? index.FindDocument(c->doc_id) : nullptr;
  const std::string& matter = d ? d->matter : h.matter;
  if (walls && ((!matter.empty() && !walls->count(matter)) ||
                (!h.matter.empty() && !walls->count(h.matter)))) {
    return Admission::kWalled;
  }
  if (!c || !d) return Admission::kGone;
  *kept = h;
  kept->text = c->text;
  kept->doc_id = d->id;
  kept->matter = d->matter;
  if (kept->title.empty()) kept->title = d->title;
  if (kept->section.empty()) kept->section = c->section;
  return Admission::kKept;
}

}  // namespace rerank

ExternalRerankInput PrepareExternalRerank(const Index& index, const std::vector<SearchHit>& hits,
                                          const SearchOptions& options,
                                          const RerankOptions& rerank_options) {
  ExternalRerankInput in;
  for (const SearchHit& h : hits) {
    SearchHit kept;
    switch (rerank::Admit(index, h, options.allowed_matters, &kept)) {
      case rerank::Admission::kWalled:
        ++in.walled;
        break;
      case rerank::Admission::kGone:
        ++in.gone;
        break;
      case rerank::Admission::kKept:
        (in.candidates.size() < rerank_options.depth ? in.candidates : in.rest)
            .push_back(std::move(kept));
        break;
    }
  }
  return in;
}

Result<std::vector<SearchHit>> ApplyExternalScores(ExternalRerankInput input,
                                                   const std::vector<double>& scores,
                                                   RerankReport* report) {
  if (scores.size() != input.candidates.size()) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("{} scores for {} candidates"), scores.size(),
                    input.candidates.size()));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      return Status::InvalidArgument(fmt::format(
          FMT_STRING("the score of candidate {} ({}) is not a finite number"), i,
          input.candidates[i].chunk_id));
    }
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<SearchHit> out;
  out.reserve(input.candidates.size() + input.rest.size());
  for (size_t i : order) {
    out.push_back(std::move(input.candidates[i]));
    out.back().score = scores[i];
  }
  for (SearchHit& h : input.rest) out.push_back(std::move(h));
  if (report) {
    *report = RerankReport();
    report->applied = !scores.empty();
    report->candidates = scores.size();
    report->walled = input.walled;
    if (scores.empty()) report->note = "no candidate to score";
  }
  return out;
}

}  // namespace foldback
