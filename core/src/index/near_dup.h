// Near-duplicate signatures of passages, computed once when a chunk is added
// or loaded, so that the near-duplicate collapse of a search (search.cc)
// shingles and compares only the pairs that may be near-duplicates.
#ifndef FOLDBACK_INDEX_NEAR_DUP_H_
#define FOLDBACK_INDEX_NEAR_DUP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace foldback::index {

// The number of distinct word 3-shingles of a text (rewrite::Shingles) and a
// 256-bit map of them: shingle s sets bit Mix(s) mod 256. 36 bytes.
struct DupSketch {
  static constexpr int kWords = 4;
  uint32_t shingles = 0;
  uint64_t bits[kWords] = {};

  static DupSketch Of(std::string_view text);

  // How Of() maps text to a sketch: bumped whenever it changes, so that
  // sketches stored by another scheme are recomputed, never trusted.
  static constexpr uint32_t kScheme = 1;
  static constexpr size_t kEncodedSize = 4 + 8 * kWords;
  // Appends the 36-byte little-endian form; Decode reads it from `in` at
  // byte offset `at` (REQUIRES: at + kEncodedSize <= in.size()).
  void AppendTo(std::string* out) const;
  static DupSketch Decode(std::string_view in, size_t at);
};

// An upper bound on |A ∩ B| for the shingle sets A and B of two sketches:
// every bit set in A's map and clear in B's holds at least one shingle of A
// that B lacks (and the other way round).
uint32_t MaxOverlap(const DupSketch& a, const DupSketch& b);

// False only when the texts' shingle sets are certainly *not* near-
// duplicates at threshold t, i.e. when rewrite::JaccardAtLeast(A, B, t) is
// false: either the sizes differ too much (|smaller| < t·|larger|, the
// collapse's size filter) or MaxOverlap is below the intersection
// JaccardAtLeast needs. True means "compare the real shingle sets".
bool MayBeNearDuplicate(const DupSketch& a, const DupSketch& b, double t);

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_NEAR_DUP_H_
