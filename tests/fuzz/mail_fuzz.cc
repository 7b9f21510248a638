// Fuzz target: mail as it arrives — one message (.eml) or an mbox — through
// GMime and foldback's MIME walk (ingest::ExtractBytes, the entry point
// attachments and in-memory hosts use). Anything may be refused, nothing may
// crash, and what is accepted keeps the invariants below.
//
// Input starting with "From " is an mbox, anything else one message (so
// the seeds are real files, unchanged). The limits are tightened (nesting 8, parts
// 64, header fields 64) so that inputs of a few KiB reach them: a message
// that exceeds one must be refused or lose that part, never be indexed past
// it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/extract.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool mbox = bytes.substr(0, 5) == "From ";
  ingest::ExtractOptions o;
  o.max_mime_depth = 8;
  o.max_mime_parts = 64;
  o.max_header_fields = 64;
  o.max_header_line_bytes = 4096;
  o.max_header_field_bytes = 16384;
  o.max_addresses_kept = 16;
  auto ex = ingest::ExtractBytes(bytes, mbox ? "fuzz.mbox" : "fuzz.eml", "fuzz", o);
  if (!ex.ok()) {
    if (ex.status().message().empty()) __builtin_trap();  // refusals say why
    return 0;
  }
  // Messages plus their attachments: never more than the part limit allows
  // per message (each attachment is a part).
  for (const Document& d : ex->documents) {
    if (d.id.empty()) __builtin_trap();
    if (!text::IsValidUtf8(d.text) || !text::IsValidUtf8(d.title)) __builtin_trap();
    for (const auto& [field, values] : d.metadata) {
      for (const std::string& v : values) {
        if (!text::IsValidUtf8(v)) __builtin_trap();
      }
      if ((field == "to" || field == "cc" || field == "from") && values.size() > o.max_addresses_kept) {
        __builtin_trap();
      }
    }
  }
  if (!mbox && ex->documents.size() > o.max_mime_parts + 1u) __builtin_trap();
  return 0;
}
