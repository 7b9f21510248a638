// The lexical part of a snapshot in pieces (format 3, core/proto/snapshot.proto):
// postings delta- and varint-coded by term range, chunk lengths and word
// streams by chunk range, the surface dictionary by word range. Each piece
// is a protobuf message of its own, closed once it holds about
// `piece_bytes`, so no message comes near protobuf's 2 GiB and the snapshot
// has no size limit but memory. In memory the index is unchanged: loading
// decodes the pieces into LexicalIndex's arrays.
#ifndef FOLDBACK_STORE_LEXICAL_PIECES_H_
#define FOLDBACK_STORE_LEXICAL_PIECES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/status.h"
#include "index/lexical_index.h"
#include "store/field_writer.h"

namespace foldback::pb {
class Lexical;
}

namespace foldback::store {

// The default size at which a piece is closed. Small enough that a
// reader's peak holds one piece's protobuf copy at a time, large enough
// that pieces are few (a 10-million-passage index writes about 40).
constexpr size_t kPieceBytes = size_t{64} << 20;

// Snapshot field numbers of the pieces.
constexpr uint32_t kLexicalTermsField = 16;
constexpr uint32_t kLexicalChunksField = 17;
constexpr uint32_t kLexicalWordsField = 18;

// One slice of a posting list (ascending chunks): per posting the varint
// gap << 1 | (tf > 1), then the varint tf - 2 when that bit is set. The
// first gap is the chunk number, each later one chunk - previous - 1.
void EncodePostings(const index::Posting* postings, size_t n, std::string* out);
// Decodes `n` postings from the front of *in (advanced past them) into
// *out (appended). False when the bytes end early, a varint is malformed,
// or a chunk number or tf does not fit in 32 bits.
bool DecodePostings(std::string_view* in, size_t n, std::vector<index::Posting>* out);

// Fills the header (`lexical`: has_positions and the counts) from the plan.
void WriteLexicalHeader(const index::LexicalIndex::SnapshotPlan& plan, pb::Lexical* lexical);
// Appends the pieces as Snapshot fields 16-18 to *out. Internal when a
// piece cannot be serialized (a single term longer than 2 GiB); the sink's
// error when it fails.
Status AppendLexicalPieces(const index::LexicalIndex& lexical,
                           const index::LexicalIndex::SnapshotPlan& plan,
                           const std::vector<uint32_t>& renumber, size_t piece_bytes,
                           FieldWriter* out);

// The pieces' values (each a serialized message), in snapshot order.
struct LexicalPieceFields {
  std::vector<std::string_view> terms;
  std::vector<std::string_view> chunks;
  std::vector<std::string_view> words;
};
// Loads format 3's lexical part into *lexical (replacing its contents).
// Corruption when a piece does not parse or the pieces disagree with the
// header, with each other or with the chunk count.
Status LoadLexicalPieces(const pb::Lexical& header, const LexicalPieceFields& pieces,
                         uint32_t chunk_count, index::LexicalIndex* lexical);

}  // namespace foldback::store

#endif  // FOLDBACK_STORE_LEXICAL_PIECES_H_
