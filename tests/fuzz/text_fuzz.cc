// Fuzz target: UTF-8 repair, word splitting, analysis and chunking of
// arbitrary bytes, as mail and as documents.
#include <cstddef>
#include <cstdint>
#include <string>

#include "foldback/index.h"
#include "text/analyzer.h"
#include "text/chunker.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw(reinterpret_cast<const char*>(data), size);
  std::string text = foldback::text::RepairUtf8(raw);
  if (!foldback::text::IsValidUtf8(text)) __builtin_trap();
  static const foldback::text::Analyzer analyzer{foldback::TextOptions{}};
  size_t terms = 0;
  analyzer.ForEachTerm(text, [&](std::string_view t) {
    if (t.empty() || t.size() > 4 * foldback::text::kMaxWordBytes) __builtin_trap();
    ++terms;
  });
  foldback::ChunkerOptions small;
  small.target_tokens = 8;
  small.max_tokens = 16;
  small.overlap_tokens = 4;
  for (auto kind : {foldback::DocKind::kDocument, foldback::DocKind::kEmail}) {
    for (const auto& o : {foldback::ChunkerOptions(), small}) {
      uint32_t prev_begin = 0;
      for (const auto& s : foldback::text::ChunkText(text, kind, o)) {
        if (s.begin >= s.end || s.end > text.size() || s.begin < prev_begin) __builtin_trap();
        prev_begin = s.begin;
      }
    }
  }
  return 0;
}
