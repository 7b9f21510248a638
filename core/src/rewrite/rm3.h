// RM3 pseudo-relevance feedback (Lavrenko & Croft's relevance model,
// interpolated with the query, as Anserini implements it) over the index's
// lexical statistics. The expansion is searched with Index::Rep::Search's
// weighted-terms argument.
#ifndef FOLDBACK_REWRITE_RM3_H_
#define FOLDBACK_REWRITE_RM3_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/ask.h"
#include "index/index_internal.h"

namespace foldback::rewrite {

struct Rm3Expansion {
  // The interpolated query: original_query_weight * P(t|query) +
  // (1 - original_query_weight) * P(t|R); weights sum to 1, best first.
  std::vector<index::WeightedTerm> terms;
  // "term^0.2500 term^0.1250 ..." for traces.
  std::string display;
  size_t feedback_docs = 0;  // feedback chunks actually used
};

// The lexical terms of a live chunk as the index counts them (text, plus
// the title's terms x title_weight), sorted by term.
std::vector<std::pair<std::string, uint32_t>> ChunkTermCounts(const Index::Rep& rep,
                                                              uint32_t chunk);

// Expands `query` from `feedback`: chunk numbers, best first, with their
// retrieval scores (only the first params.fb_docs are used). As Anserini:
// feedback terms are the chunks' index terms (text and title) of 2 to 20
// characters held by at most 10% of the live chunks; each chunk's term
// distribution is weighted by its score; the top fb_terms terms are kept
// and normalised. With no feedback the expansion is the query alone.
// `scope` (a walled search's ChunkMask::stats; null: none) makes "the live
// chunks" those the user may see, so no expansion depends on a chunk behind
// the wall.
Rm3Expansion ExpandRm3(const Index::Rep& rep, std::string_view query,
                       const std::vector<std::pair<uint32_t, double>>& feedback,
                       const Rm3Params& params, const index::StatsScope* scope = nullptr);

}  // namespace foldback::rewrite

#endif  // FOLDBACK_REWRITE_RM3_H_
