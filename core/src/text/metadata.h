// Metadata extraction: dates, monetary amounts, defined terms, contract
// parties and legal citations found in a document's text, added to its
// metadata under reserved field names so that searches can filter on them.
#ifndef FOLDBACK_TEXT_METADATA_H_
#define FOLDBACK_TEXT_METADATA_H_

#include <string_view>

#include "foldback/document.h"

namespace foldback::text {

// Field names written by ExtractMetadata. Host-supplied values under the same
// names are kept; extracted values are appended (without duplicates).
inline constexpr const char* kFieldDate = "date";            // ISO 8601, YYYY-MM-DD
inline constexpr const char* kFieldAmount = "amount";        // "USD 1000000.00"
inline constexpr const char* kFieldDefinedTerm = "defined_term";
inline constexpr const char* kFieldParty = "party";
inline constexpr const char* kFieldCitation = "citation";    // "123 F.3d 456", "15 U.S.C. § 78j"

// Scans `text` and adds what it finds to *metadata. Bounded work: linear in
// the text, at most kMaxValuesPerField values per field.
void ExtractMetadata(std::string_view text, DocKind kind, Metadata* metadata);

inline constexpr size_t kMaxValuesPerField = 256;

}  // namespace foldback::text

#endif  // FOLDBACK_TEXT_METADATA_H_
