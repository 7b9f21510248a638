// Word positions for phrase and proximity operators (docs/ARCHITECTURE.md,
// "Query syntax" in README.md).
//
// Each chunk keeps its *word stream*: one code per word of its text, in
// order, as a varint (protobuf's coded-stream codec) —
//
//   0            a word the index does not keep (a stopword): it still takes
//                a position, so "termination for convenience" needs exactly
//                one word between its two terms;
//   1            a sentence ends here (takes no position);
//   2            a paragraph ends here (a blank line; also ends the sentence);
//   term id + 3  an indexed word.
//
// A word's position is its ordinal among the chunk's words (stopwords
// included, markers not). Term ids of frequent words are small, so most
// codes take one byte; a phrase or proximity query first intersects the
// postings of its terms, then decodes the candidate chunks' streams.
// Title words are not in the stream: phrases match the passage text.
#ifndef FOLDBACK_INDEX_POSITIONS_H_
#define FOLDBACK_INDEX_POSITIONS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace foldback::index {

constexpr uint32_t kCodeUnindexed = 0;
constexpr uint32_t kCodeSentence = 1;
constexpr uint32_t kCodeParagraph = 2;
constexpr uint32_t kCodeTermBase = 3;

// Appends `code` as a varint.
void AppendCode(std::string* stream, uint32_t code);
// Decodes a whole stream into *codes (cleared first). False when the bytes
// are not a sequence of varint32s.
bool DecodeStream(std::string_view stream, std::vector<uint32_t>* codes);

// What separates two consecutive words of a text: 0 (nothing), kCodeSentence
// or kCodeParagraph. `gap` is the text between them; `prev_word` the first
// word folded; `prev_raw` it as written. Heuristics: a blank line ends a
// paragraph; '.', '!' or '?' followed by white space ends a sentence, unless
// the word before is a common abbreviation ("Inc.", "No.", "e.g.", "Sec."),
// a single letter or a dotted abbreviation ("U.S.C.").
uint32_t BreakBetween(std::string_view gap, std::string_view prev_word, std::string_view prev_raw);

// A resolved operand of a positional clause: words at fixed offsets (a
// phrase; a single word or prefix is a phrase of one). Each element is the
// sorted set of term ids that may stand at that offset (one stem, or a
// prefix's expansions); an empty set matches nothing.
struct PositionalOperand {
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> elements;  // (offset, ids)
};

struct Connector {
  enum class Kind : int { kWords = 0, kSentence = 1, kParagraph = 2 };
  Kind kind = Kind::kWords;
  uint32_t n = 0;  // kWords: at most n positions apart (n >= 1)
};

// operands[0] connectors[0] operands[1] ... — evaluated left to right over
// spans: a connector joins every span of what is on its left with every
// span of the next operand that it allows, into their covering span.
// REQUIRES: connectors.size() + 1 == operands.size().
struct PositionalClause {
  std::vector<PositionalOperand> operands;
  std::vector<Connector> connectors;
};

// One chunk's stream, decoded for matching: per position its term id
// (UINT32_MAX when unindexed), sentence and paragraph numbers.
struct DecodedChunk {
  std::vector<uint32_t> term;
  std::vector<uint32_t> sentence;
  std::vector<uint32_t> paragraph;
  // False when the stream is malformed or names a term >= term_count.
  bool Decode(std::string_view stream, size_t term_count);
};

// Whether the chunk satisfies the clause.
bool ClauseMatches(const PositionalClause& clause, const DecodedChunk& chunk);

// True when `clause` is a single word or prefix: one operand of one element
// and no connector. Such a clause holds exactly when the chunk's stream
// names one of the element's terms (StreamHasTerm), without decoding it.
bool IsSingleElement(const PositionalClause& clause);

// Whether the stream holds a word whose term id is in `ids` (sorted), read
// straight from the varints: the same answer as decoding the stream and
// matching a single-element clause. REQUIRES: a well-formed stream (as
// DecodedChunk::Decode accepts; the lexical index checks streams at load)
// of shortest-form varints, as AppendCode writes them (a longer form of a
// single term's code, which only a hand-made snapshot could hold, is not
// found by the byte search).
bool StreamHasTerm(std::string_view stream, const std::vector<uint32_t>& ids);

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_POSITIONS_H_
