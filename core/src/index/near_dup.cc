#include "index/near_dup.h"

#include <algorithm>
#include <vector>

#include "rewrite/ask_internal.h"
#include "store/bytes.h"

namespace foldback::index {

DupSketch DupSketch::Of(std::string_view text) {
  DupSketch s;
  const std::vector<uint64_t> sh = rewrite::Shingles(text);
  s.shingles = static_cast<uint32_t>(sh.size());
  for (uint64_t h : sh) {
    // The shingle hashes' low bits are weak (FNV then shifts and adds): mix
    // before taking the top 8 bits.
    const uint32_t bit = static_cast<uint32_t>((h * 0x9E3779B97F4A7C15ull) >> 56);
    s.bits[bit >> 6] |= uint64_t{1} << (bit & 63);
  }
  return s;
}

void DupSketch::AppendTo(std::string* out) const {
  store::PutU32(out, shingles);
  for (uint64_t w : bits) {
    store::PutU32(out, static_cast<uint32_t>(w));
    store::PutU32(out, static_cast<uint32_t>(w >> 32));
  }
}

DupSketch DupSketch::Decode(std::string_view in, size_t at) {
  DupSketch s;
  std::string_view b = in.substr(at, kEncodedSize);
  s.shingles = store::GetU32(b, 0);
  for (int i = 0; i < kWords; ++i) {
    s.bits[i] = static_cast<uint64_t>(store::GetU32(b, 1 + 2 * i)) |
                static_cast<uint64_t>(store::GetU32(b, 2 + 2 * i)) << 32;
  }
  return s;
}

// Debian's x86-64 baseline has no POPCNT: without a clone for it, every
// popcount was a call into libgcc (__popcountdi2, 2.7 % of a scoped search
// natively; docs/benchmarks.md). The loader picks the clone the CPU runs.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
uint32_t MaxOverlap(const DupSketch& a, const DupSketch& b) {
  uint32_t a_only = 0, b_only = 0;
  for (int i = 0; i < DupSketch::kWords; ++i) {
    a_only += static_cast<uint32_t>(__builtin_popcountll(a.bits[i] & ~b.bits[i]));
    b_only += static_cast<uint32_t>(__builtin_popcountll(b.bits[i] & ~a.bits[i]));
  }
  return std::min(a.shingles - std::min(a.shingles, a_only),
                  b.shingles - std::min(b.shingles, b_only));
}

bool MayBeNearDuplicate(const DupSketch& a, const DupSketch& b, double t) {
  const double lo = std::min(a.shingles, b.shingles), hi = std::max(a.shingles, b.shingles);
  if (lo < t * hi) return false;
  // rewrite::JaccardAtLeast's own test: |A ∩ B| >= t / (1 + t) * (|A| + |B|).
  const double need = t / (1 + t) * (lo + hi) - 1e-9;
  return static_cast<double>(MaxOverlap(a, b)) >= need;
}

}  // namespace foldback::index
