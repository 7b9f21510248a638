// The reranker stage: names, the interface, and search + rerank.
#include <algorithm>

#include "foldback/rerank.h"

namespace foldback {

const char* RerankerKindName(RerankerKind kind) {
  switch (kind) {
    case RerankerKind::kNone:
      return "none";
    case RerankerKind::kLearned:
      return "learned";
    case RerankerKind::kLlm:
      return "llm";
  }
  return "none";
}

bool ParseRerankerKind(const std::string& name, RerankerKind* kind) {
  for (RerankerKind k : {RerankerKind::kNone, RerankerKind::kLearned, RerankerKind::kLlm}) {
    if (name == RerankerKindName(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

Reranker::~Reranker() = default;

Result<std::vector<SearchHit>> SearchAndRerank(const Index& index, const FoldBack* fold_back,
                                               std::string_view query, const SearchOptions& options,
                                               const Reranker* reranker,
                                               const RerankOptions& rerank_options,
                                               RerankReport* report) {
  if (report) *report = RerankReport();
  if (!reranker || rerank_options.depth == 0) {
    if (report) report->note = "no reranker";
    return fold_back ? fold_back->Search(index, query, options) : index.Search(query, options);
  }
  if (rerank_options.depth > 10000) {
    return Status::InvalidArgument("rerank depth is larger than 10000");
  }
  SearchOptions first = options;
  first.top_k = std::max(options.top_k, rerank_options.depth);
  first.hit_text = true;  // a reranker reads the passages
  first.hit_ids = true;
  auto hits = fold_back ? fold_back->Search(index, query, first) : index.Search(query, first);
  if (!hits.ok()) return hits.status();
  size_t n = std::min(rerank_options.depth, hits->size());
  std::vector<SearchHit> head(hits->begin(), hits->begin() + static_cast<std::ptrdiff_t>(n));
  auto reranked = reranker->Rerank(index, query, head, options, report);
  if (!reranked.ok()) return reranked.status();
  std::vector<SearchHit> out = std::move(reranked.value());
  for (size_t i = n; i < hits->size(); ++i) out.push_back(std::move((*hits)[i]));
  if (out.size() > options.top_k) out.resize(options.top_k);
  return out;
}

}  // namespace foldback
