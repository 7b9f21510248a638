// Fuzz target: the WordPiece tokenizer on arbitrary bytes — as text to
// tokenize (a fixed vocabulary, uncased and cased, short max_length), and as
// a vocabulary (vocab.txt / JSON shapes) that must be refused or work.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "embed/wordpiece.h"

namespace {

const char kVocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nparty\n##s\nshall\nun\n##aff\n##able\n,\n.\n!\n"
    "a\n##b\n##c\n日\n本\nпривет\ne\n##\xCC\x81\n";

void Check(const foldback::embed::WordPieceTokenizer& t, std::string_view text) {
  auto e = t.Encode(text);
  if (e.ids.size() < 2 || e.ids.size() > t.options().max_length) __builtin_trap();
  if (e.attention_mask.size() != e.ids.size() || e.type_ids.size() != e.ids.size()) __builtin_trap();
  for (int32_t id : e.ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.vocabulary_size()) __builtin_trap();
  }
  for (const std::string& w : t.BasicTokenize(text)) {
    if (w.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const auto uncased = [] {
    foldback::embed::WordPieceOptions o;
    o.max_length = 16;
    return foldback::embed::WordPieceTokenizer::Create(kVocab, o).value().release();
  }();
  static const auto cased = [] {
    foldback::embed::WordPieceOptions o;
    o.lowercase = false;
    o.max_input_chars_per_word = 8;
    return foldback::embed::WordPieceTokenizer::Create(kVocab, o).value().release();
  }();
  Check(*uncased, input);
  Check(*cased, input);
  auto own = foldback::embed::WordPieceTokenizer::Create(input, foldback::embed::WordPieceOptions());
  if (own.ok()) Check(**own, input);
  return 0;
}
