// Snapshots of earlier formats, made from this build's (format 4): its
// dense pieces joined into the one Dense message of arrays formats 1-3
// wrote (AsFormat3), and for format 2 also its lexical part rewritten as
// format 2 wrote it — one Lexical message of fixed-width arrays, from
// LexicalIndex::Serialize, the old writer path — each under its version's
// envelope. Lets tests and benchmarks check that snapshots of earlier
// formats still load (tests/data/snapshots holds ones written by earlier
// builds) and compare the formats' load times.
#ifndef FOLDBACK_TESTS_SUPPORT_SNAPSHOT_FORMAT2_H_
#define FOLDBACK_TESTS_SUPPORT_SNAPSHOT_FORMAT2_H_

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "foldback/index.h"
#include "index/index_internal.h"
#include "snapshot.pb.h"
#include "snapshot_envelope.h"

namespace foldback::testing {

// This build's snapshot of `index` as one message, its dense pieces joined
// into Dense's arrays as formats 1-3 held them. False when the snapshot
// fails or does not parse as one message (past 2 GiB).
inline bool WholeWithDenseArrays(const Index& index, pb::Snapshot* snap) {
  auto bytes = index.Snapshot();
  if (!bytes.ok()) return false;
  const std::string_view payload = SnapshotPayload(*bytes);
  if (payload.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !snap->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return false;
  }
  pb::Dense* dense = snap->mutable_dense();
  for (const pb::DensePiece& p : snap->dense_pieces()) {
    dense->mutable_labels()->append(p.labels());
    dense->mutable_levels()->append(p.levels());
    dense->mutable_vectors()->append(p.vectors());
    dense->mutable_links()->append(p.links());
    dense->mutable_deleted()->append(p.deleted());
  }
  dense->clear_node_count();
  if (dense->dimension() == 0) snap->clear_dense();
  snap->clear_dense_pieces();
  return true;
}

// Empty when the index's snapshot fails or does not parse as one message.
inline std::string AsFormat3(const Index& index) {
  pb::Snapshot snap;
  if (!WholeWithDenseArrays(index, &snap)) return {};
  snap.set_format_version(3);
  std::string payload;
  if (!snap.SerializeToString(&payload)) return {};
  return SealSnapshot(3, payload);
}

// Empty when the index's snapshot fails or does not parse as one message
// (past 2 GiB: format 2 could not hold it either).
inline std::string AsFormat2(const Index& index) {
  pb::Snapshot snap;
  if (!WholeWithDenseArrays(index, &snap)) return {};
  snap.set_format_version(2);
  snap.clear_lexical_terms();
  snap.clear_lexical_chunks();
  snap.clear_lexical_words();
  // Chunk numbers as the snapshot writes them: live chunks, document by document.
  const Index::Rep& r = *index.rep();
  std::vector<uint32_t> renumber(r.chunks.size(), std::numeric_limits<uint32_t>::max());
  uint32_t next = 0;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    for (uint32_t c : d.chunks) renumber[c] = next++;
  }
  pb::Lexical* lex = snap.mutable_lexical();
  lex->Clear();
  std::vector<std::string> terms;
  index::PositionData positions;
  r.lexical.Serialize(renumber, &terms, lex->mutable_offsets(), lex->mutable_postings(),
                      lex->mutable_lengths(), &positions);
  for (auto& t : terms) lex->add_terms(std::move(t));
  if (positions.present) {
    lex->set_has_positions(true);
    lex->set_positions(std::move(positions.streams));
    lex->set_position_offsets(std::move(positions.offsets));
    for (auto& w : positions.words) lex->add_words(std::move(w));
    lex->set_word_terms(std::move(positions.word_terms));
  }
  std::string payload;
  if (!snap.SerializeToString(&payload)) return {};
  return SealSnapshot(2, payload);
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_SNAPSHOT_FORMAT2_H_
