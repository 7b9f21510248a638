// Documents as the host hands them to foldback, and the chunks foldback cuts
// them into.
#ifndef FOLDBACK_DOCUMENT_H_
#define FOLDBACK_DOCUMENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace foldback {

enum class DocKind : int {
  kDocument = 0,  // contracts, memos, anything that is not mail or a web page
  kEmail = 1,     // text of one message; quoted replies and signatures are recognised
  kWebPage = 2,
};

// "document" / "email" / "web"; ParseDocKind accepts those and returns false
// on anything else.
const char* DocKindName(DocKind kind);
bool ParseDocKind(const std::string& name, DocKind* kind);

// Metadata: field name -> values. A field may hold several values (a contract
// names several parties, mentions several dates). Filters match a field when
// any of its values matches.
using Metadata = std::map<std::string, std::vector<std::string>>;

struct Document {
  // Unique within an index. Adding a document whose id exists replaces it.
  std::string id;
  std::string title;
  // UTF-8. Invalid sequences are replaced by U+FFFD and counted, never fatal.
  std::string text;
  DocKind kind = DocKind::kDocument;
  // Host-supplied fields (mail headers, DMS profile fields, BEIR extra
  // fields). Extracted metadata (dates, amounts, parties, ...) is added to
  // these under reserved names; see metadata.h.
  Metadata metadata;
  // The matter (client/engagement) the document belongs to. Ethical walls are
  // expressed in matters: a search names the matters its user may see. Empty
  // means "belongs to no matter" and is visible to every search.
  std::string matter;
  // For attachments: the id of the message or document that contains this
  // one. Empty otherwise.
  std::string parent_id;
};

// What part of a document a chunk comes from.
enum class ChunkRole : int {
  kBody = 0,       // the document's own text
  kQuoted = 1,     // quoted reply text in mail ("> ...", "On ... wrote:")
  kSignature = 2,  // a mail signature block
};

struct Chunk {
  // Stable: "<doc id>#<ordinal>-<hash of the chunk text>". Re-ingesting an
  // unchanged document yields the same ids.
  std::string id;
  std::string doc_id;
  // Byte span in the document's (UTF-8 repaired) text: [begin, end).
  uint32_t begin = 0;
  uint32_t end = 0;
  // That span of the document's text, viewed in place: the index holds each
  // passage's text once, in its Document (at 120-token passages a second
  // copy was a fifth of the index's memory). Valid while the document is in
  // the index, like the Chunk itself; copy it into a std::string to keep it.
  std::string_view text;
  // The nearest heading or clause label above the chunk, e.g. "12.3
  // Indemnification" — useful to show the lawyer where the passage sits.
  std::string section;
  ChunkRole role = ChunkRole::kBody;
};

}  // namespace foldback

#endif  // FOLDBACK_DOCUMENT_H_
