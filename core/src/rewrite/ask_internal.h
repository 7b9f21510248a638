// Pieces of the ask session that tests reach directly: the data block that
// carries retrieved passages into prompts, near-duplicate detection and
// citation checking.
#ifndef FOLDBACK_REWRITE_ASK_INTERNAL_H_
#define FOLDBACK_REWRITE_ASK_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/search.h"

namespace foldback::rewrite {

// The `context` field of a prompt: a note that passages are data, then one
// block per passage,
//
//   <passage n="1" title="..." section="...">
//   text
//   </passage>
//
// in the order given, while their whitespace tokens fit `token_budget` (the
// passage that crosses it is cut, marked "[...]", when at least 16 tokens
// fit). In the text, title and section, invisible formatting characters
// (zero-width characters, bidirectional controls, Unicode tags) are
// dropped, '<' '>' '&' become entities and "[[" / "]]" are split, so
// nothing inside a block can close it, open another, forge a field marker
// or say to the model what the lawyer cannot see. `*shown` receives the number of passages
// that made it in (they are numbered 1..*shown). No passages: a line saying
// none were retrieved yet.
std::string FormatPassages(const std::vector<const SearchHit*>& passages, uint32_t token_budget,
                           uint32_t* shown);

// A feedback demo's question or query as it may enter a prompt (outside any
// data block): one line, no control or invisible characters, "[[" / "]]"
// split, at most `max_bytes` (cut at a UTF-8 boundary).
std::string DemoText(std::string_view text, size_t max_bytes);

// Sorted, unique hashes of the word 3-shingles of `text` (ASCII case folded; texts
// of fewer than 3 words give their words).
std::vector<uint64_t> Shingles(std::string_view text);
// |a ∩ b| / |a ∪ b| of sorted unique sets (1 when both are empty).
double Jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// Jaccard(a, b) >= t, stopping early once it cannot be.
bool JaccardAtLeast(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b, double t);

// The [n] / [n, m] markers of an answer (n: any run of digits). Markers in
// 1..valid_count are kept (each once, in order of appearance, in *kept);
// others are removed from the returned text and listed in *dropped (values
// past UINT32_MAX as UINT32_MAX).
std::string CheckCitations(std::string_view answer, uint32_t valid_count,
                           std::vector<uint32_t>* kept, std::vector<uint32_t>* dropped);

}  // namespace foldback::rewrite

#endif  // FOLDBACK_REWRITE_ASK_INTERNAL_H_
