// Chunker: cuts a document's text into passages that follow its structure —
// headings, paragraphs, numbered clauses ("12.3", "(a)", "Section 4.1"), list
// items — with a token-window fallback for long runs of text, and, for mail,
// quoted replies and signatures kept apart from the new text.
#ifndef FOLDBACK_TEXT_CHUNKER_H_
#define FOLDBACK_TEXT_CHUNKER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/document.h"
#include "foldback/index.h"

namespace foldback::text {

// A chunk before it gets its id: a byte span of the text.
struct ChunkSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
  std::string section;  // nearest heading / clause label above, may be empty
  ChunkRole role = ChunkRole::kBody;
};

// Cuts `text` (valid UTF-8, at most 4 GiB). Spans are ordered, never empty,
// and cover every non-blank part of the text exactly once except for window
// overlaps. Deterministic.
std::vector<ChunkSpan> ChunkText(std::string_view text, DocKind kind,
                                 const ChunkerOptions& options);

// Stable chunk id: "<doc_id>#<ordinal>-<8 hex digits of a hash of the text>".
std::string MakeChunkId(std::string_view doc_id, uint32_t ordinal, std::string_view chunk_text);

// Whitespace-separated word count (the chunker's notion of a token).
uint32_t CountTokens(std::string_view text);

}  // namespace foldback::text

#endif  // FOLDBACK_TEXT_CHUNKER_H_
