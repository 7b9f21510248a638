// Pieces the extractors share with each other (not for other callers).
#ifndef FOLDBACK_NATIVE_INGEST_FORMATS_INTERNAL_H_
#define FOLDBACK_NATIVE_INGEST_FORMATS_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "foldback/document.h"
#include "foldback/status.h"
#include "ingest/extract.h"

namespace foldback::ingest {

// An HTML page reduced to text (html.cc).
struct HtmlPage {
  std::string text;
  std::string title;
  Metadata metadata;  // description, author, keywords, language
  uint32_t hidden_skipped = 0;
};

// Converts HTML `bytes` to text. `declared_charset` is the charset given
// outside the page (a MIME part's charset parameter); empty means: byte-order
// mark, then <meta charset>, then UTF-8 if valid, then windows-1252.
// Decoding notes go to *warnings, replacements to *replaced.
// OutOfRange when the page nests deeper than options.max_html_depth.
Status HtmlToText(std::string_view bytes, std::string_view declared_charset,
                  const ExtractOptions& options, HtmlPage* page, Extraction* report);

// The format name for a file name and its first bytes ("" when unknown).
std::string FormatFor(const std::string& name, std::string_view head);

}  // namespace foldback::ingest

#endif  // FOLDBACK_NATIVE_INGEST_FORMATS_INTERNAL_H_
