// Fuzz target: PDF text extraction (poppler-cpp) through
// ingest::ExtractBytes. poppler itself is not instrumented in this build, so
// coverage guides only foldback's side (document info, page loop, text
// clean-up); the target exists to prove that whatever poppler makes of
// hostile bytes, foldback neither crashes nor passes on invalid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/extract.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ingest::ExtractOptions o;
  o.max_pdf_pages = 64;
  auto ex = ingest::ExtractBytes(bytes, "fuzz.pdf", "fuzz", o);
  if (!ex.ok()) {
    if (ex.status().message().empty()) __builtin_trap();
    return 0;
  }
  for (const Document& d : ex->documents) {
    if (!text::IsValidUtf8(d.text) || !text::IsValidUtf8(d.title)) __builtin_trap();
    for (const auto& [field, values] : d.metadata) {
      for (const auto& v : values) {
        if (!text::IsValidUtf8(v)) __builtin_trap();
      }
    }
  }
  return 0;
}
