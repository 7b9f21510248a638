// TopGroups: the k best groups of a pruned BM25 search (MaxScore, block-max
// MaxScore), in the exhaustive path's order.
#ifndef FOLDBACK_INDEX_TOP_GROUPS_H_
#define FOLDBACK_INDEX_TOP_GROUPS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace foldback::index {

// A min-heap of the k best groups by score, with a position index so that
// a group already in the heap can improve in place. The index is a flat
// array by group number (a thread's own, left all zero again by Take), not
// a hash map: pruned searches ask it for a group's score per candidate.
class TopGroups {
 public:
  explicit TopGroups(size_t k) : k_(k), pos_(Slots()) {}
  TopGroups(const TopGroups&) = delete;
  TopGroups& operator=(const TopGroups&) = delete;
  ~TopGroups() {
    for (const Entry& e : heap_) pos_[e.group] = 0;
  }
  // Threshold a new score must beat: the k-th best, or 0 while not full.
  float threshold() const { return heap_.size() < k_ ? 0.0f : heap_.front().score; }
  // What a chunk of `group` must beat to change the result: the threshold,
  // or the group's own score when it is in the heap (a better chunk of it).
  float Floor(uint32_t group) const {
    float t = threshold();
    if (group < pos_.size() && pos_[group]) {
      float s = heap_[pos_[group] - 1].score;
      return s > t ? s : t;
    }
    return t;
  }
  void Offer(uint32_t group, uint32_t chunk, float score) {
    if (group >= pos_.size()) pos_.resize(group + 1024, 0);
    if (uint32_t at = pos_[group]) {
      Entry& e = heap_[at - 1];
      if (score > e.score || (score == e.score && chunk < e.chunk)) {
        e.score = score;
        e.chunk = chunk;
        Down(at - 1);
      }
      return;
    }
    if (heap_.size() < k_) {
      heap_.push_back({score, group, chunk});
      pos_[group] = static_cast<uint32_t>(heap_.size());
      Up(heap_.size() - 1);
    } else if (Worse(heap_.front(), {score, group, chunk})) {
      pos_[heap_.front().group] = 0;
      heap_.front() = {score, group, chunk};
      pos_[group] = 1;
      Down(0);
    }
  }
  // The chunks and scores, best first (higher score, then lower chunk).
  std::vector<std::pair<uint32_t, double>> Take() const {
    std::vector<std::pair<uint32_t, double>> out;
    for (const Entry& e : heap_) out.emplace_back(e.chunk, e.score);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    return out;
  }

 private:
  struct Entry {
    float score;
    uint32_t group;
    uint32_t chunk;
  };
  static std::vector<uint32_t>& Slots() {
    thread_local std::vector<uint32_t> slots;  // group -> heap position + 1
    return slots;
  }
  void Swap(size_t a, size_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a].group] = static_cast<uint32_t>(a + 1);
    pos_[heap_[b].group] = static_cast<uint32_t>(b + 1);
  }
  // The exhaustive path's order: higher score first, then lower chunk.
  static bool Worse(const Entry& a, const Entry& b) {
    return a.score != b.score ? a.score < b.score : a.chunk > b.chunk;
  }
  void Up(size_t i) {
    while (i > 0 && Worse(heap_[i], heap_[(i - 1) / 2])) {
      Swap(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void Down(size_t i) {
    while (true) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < heap_.size() && Worse(heap_[l], heap_[m])) m = l;
      if (r < heap_.size() && Worse(heap_[r], heap_[m])) m = r;
      if (m == i) return;
      Swap(i, m);
      i = m;
    }
  }
  size_t k_;
  std::vector<Entry> heap_;
  std::vector<uint32_t>& pos_;
};

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_TOP_GROUPS_H_
