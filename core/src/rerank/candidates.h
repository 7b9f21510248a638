// The candidates a second stage may see: shared by the rerankers that hand
// passages to something outside the core (an LLM, a host's model).
#ifndef FOLDBACK_RERANK_CANDIDATES_H_
#define FOLDBACK_RERANK_CANDIDATES_H_

#include <optional>
#include <set>
#include <string>

#include "foldback/index.h"
#include "foldback/search.h"

namespace foldback::rerank {

enum class Admission { kKept, kWalled, kGone };

// Whether first-stage hit `h` may be shown behind `walls`: kWalled when the
// matter the index gives its document, or the matter the hit claims, lies
// outside them; kGone when its chunk or document is no longer indexed. For
// kKept, `*kept` is the hit with the index's text, document id and matter
// (and title and section when the hit lacks them): what leaves the core is
// what the index holds, whoever handed the hit in.
Admission Admit(const Index& index, const SearchHit& h,
                const std::optional<std::set<std::string>>& walls, SearchHit* kept);

}  // namespace foldback::rerank

#endif  // FOLDBACK_RERANK_CANDIDATES_H_
