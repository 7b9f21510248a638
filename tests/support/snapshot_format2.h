// A format-2 snapshot of an index: this build's snapshot with its lexical
// part rewritten as format 2 wrote it — one Lexical message of fixed-width
// arrays, from LexicalIndex::Serialize, the old writer path — under a
// version-2 envelope. Lets tests and benchmarks check that snapshots of
// the previous format still load (tests/data/snapshots/format2 holds one
// written by a format-2 build) and compare the two formats' load times.
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

// Empty when the index's snapshot fails or does not parse as one message
// (past 2 GiB: format 2 could not hold it either).
inline std::string AsFormat2(const Index& index) {
  auto bytes = index.Snapshot();
  if (!bytes.ok() || bytes->size() - 20 > static_cast<size_t>(std::numeric_limits<int>::max()))
    return {};
  pb::Snapshot snap;
  if (!snap.ParseFromArray(bytes->data() + 20, static_cast<int>(bytes->size() - 20))) return {};
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
