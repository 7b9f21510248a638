// Charset decoding shared by the extractors (mail bodies, HTML pages).
#ifndef FOLDBACK_NATIVE_INGEST_CHARSET_H_
#define FOLDBACK_NATIVE_INGEST_CHARSET_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace foldback::ingest {

struct Decoded {
  std::string text;  // UTF-8
  // Sequences that could not be decoded, replaced by U+FFFD.
  uint64_t replaced = 0;
  // Empty, or one line saying how the charset was guessed, e.g. "unknown
  // charset 'x-foo'; read as windows-1252".
  std::string note;
};

// Converts `bytes` from `charset` (a MIME / HTML charset label, any case and
// alias GMime knows; empty when none was declared) to UTF-8.
//   - undeclared, "us-ascii": UTF-8 when the bytes are valid UTF-8, else
//     windows-1252 (what 8-bit mail and old web pages almost always are);
//   - "iso-8859-1" / "latin1": windows-1252 (a superset, as browsers do);
//   - a label iconv does not know: as undeclared, with a note.
// Never fails: undecodable input becomes U+FFFD and is counted.
Decoded DecodeToUtf8(std::string_view bytes, std::string_view charset);

// True when `s` is valid UTF-8 (NUL bytes allowed).
bool IsValidUtf8(std::string_view s);

// GMime's process-wide initialisation, done once (thread-safe). GMime's
// charset tables serve DecodeToUtf8 as well as the mail extractor.
void EnsureGMime();

}  // namespace foldback::ingest

#endif  // FOLDBACK_NATIVE_INGEST_CHARSET_H_
