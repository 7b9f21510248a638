// Fuzz target: metadata extraction (dates, amounts, parties, citations).
#include <cstddef>
#include <cstdint>
#include <string>

#include "text/metadata.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = foldback::text::RepairUtf8(
      std::string_view(reinterpret_cast<const char*>(data), size));
  foldback::Metadata meta;
  foldback::text::ExtractMetadata(text, foldback::DocKind::kDocument, &meta);
  for (const auto& [field, values] : meta) {
    if (values.size() > foldback::text::kMaxValuesPerField) __builtin_trap();
    for (const auto& v : values) {
      if (!foldback::text::IsValidUtf8(v)) __builtin_trap();
    }
  }
  return 0;
}
