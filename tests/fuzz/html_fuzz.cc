// Fuzz target: HTML to text (gumbo's HTML5 tree builder and foldback's walk
// over it: visible text only, hidden elements skipped, charsets), through
// ingest::ExtractBytes as web pages and HTML mail parts arrive. The nesting
// guard is tightened (depth 256) so that small inputs reach it. Output text,
// title and metadata must be valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/extract.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ingest::ExtractOptions o;
  o.max_html_depth = 256;
  o.max_html_nesting_work = 2000000;
  auto ex = ingest::ExtractBytes(bytes, "page.html", "page", o);
  if (!ex.ok()) {
    if (ex.status().message().empty()) __builtin_trap();
    return 0;
  }
  for (const Document& d : ex->documents) {
    if (!text::IsValidUtf8(d.text) || !text::IsValidUtf8(d.title)) __builtin_trap();
    if (d.kind != DocKind::kWebPage) __builtin_trap();
    for (const auto& [field, values] : d.metadata) {
      for (const auto& v : values) {
        if (!text::IsValidUtf8(v)) __builtin_trap();
      }
    }
  }
  return 0;
}
