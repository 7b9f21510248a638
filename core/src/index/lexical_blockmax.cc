// Block-max MaxScore over windows of chunk numbers: the lexical index's
// pruned top-k search, with rankings and scores bit-identical to the
// exhaustive term-at-a-time path.
//
// The chunk numbers are cut into windows of 2^window_bits_. In each window a
// term's bound is local: 0 when it has no posting there, else (for a term
// with window blocks) the largest score among its postings there, else its
// bound over the whole list. Terms are sorted by these local bounds; the
// weakest ones whose bounds add up to no more than the k-th best score so
// far are non-essential *in this window* (MaxScore, Turtle & Flood 1995,
// with Lucene's per-window partition). A window whose terms are all
// non-essential is skipped without reading a posting. Otherwise the
// essential terms' postings in the window are accumulated term at a time
// into a small array (no per-posting cursor selection), and each chunk
// they touch whose partial score plus the non-essential bounds can reach
// the threshold looks its non-essential terms up (strongest first, stopping
// as soon as the bound falls short). A chunk that survives is scored again
// from scratch in the exhaustive path's term order, so its float sum — and
// therefore the ranking, ties included — is the exhaustive path's exactly.
// Every pruning test compares against the threshold lowered by a relative
// margin far wider than float rounding, so no chunk whose exact score could
// enter the top k is ever dropped.
//
// For the top documents (SearchBestFirst: a larger k, the best chunk of each
// document) the k-th best document's score stays low and almost no window
// can be skipped: on CUAD's 41 category descriptions even the final
// threshold, known from the start, leaves every 2^11 window and about half
// the postings to read. There the same windows are ranked by their summed
// bounds and visited best first (the threshold rises sooner; the first
// window below it ends the search), a window holding no chunk the mask lets
// through is left out, refused postings are never scored, and a window
// whose terms are all essential sums in query order and needs no rescoring.
#include <algorithm>
#include <cmath>
#include <limits>

#include "index/lexical_index.h"
#include "index/top_groups.h"

namespace foldback::index {
namespace {

// A bound is pruned against threshold x kMargin: float sums of a few dozen
// terms in another order differ by far less (about 2^-18 relative).
constexpr float kMargin = 1.0f - 1e-4f;
// Non-essential terms are the weakest whose bounds add up to at most this
// share of the threshold (classic MaxScore: all of it). Accumulating a
// posting term at a time costs far less than looking a term up for a
// candidate, and with the whole threshold most touched chunks stayed
// candidates (84 % on CUAD's 41 category descriptions, top 10); half
// leaves about 3 % (docs/benchmarks.md, "Block-max MaxScore").
constexpr float kNonEssentialShare = 0.5f;
// How many postings ahead the essential loop prefetches a norm.
constexpr std::ptrdiff_t kNormLookahead = 16;

// The first posting at or after `chunk`, galloping from `from`.
const Posting* Seek(const Posting* from, const Posting* end, uint32_t chunk) {
  if (from == end || from->chunk >= chunk) return from;
  size_t step = 1;
  const Posting* lo = from;
  while (lo + step < end && (lo + step)->chunk < chunk) {
    lo += step;
    step *= 2;
  }
  return std::lower_bound(lo + 1, std::min(lo + step + 1, end), chunk,
                          [](const Posting& p, uint32_t c) { return p.chunk < c; });
}

}  // namespace

float LexicalIndex::Saturation(uint32_t tf, uint32_t length, double average) const {
  double t = tf;
  double norm = params_.k1 * (1.0 - params_.b + params_.b * length / average);
  float s = static_cast<float>(t / (t + norm));
  return std::nextafter(s, std::numeric_limits<float>::infinity());  // rounded up: a bound
}

void LexicalIndex::BuildWindows(uint32_t term) {
  std::vector<WindowBlock>& blocks = windows_[term];
  blocks.clear();
  const std::vector<Posting>& list = postings_[term];
  if (list.size() < kWindowMinPostings || window_avg_ <= 0) {
    blocks.shrink_to_fit();
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    uint32_t w = list[i].chunk >> window_bits_;
    float s = Saturation(list[i].tf, lengths_[list[i].chunk], window_avg_);
    if (blocks.empty() || blocks.back().window != w) {
      blocks.push_back({w, static_cast<uint32_t>(i), s});
    } else {
      blocks.back().saturation = std::max(blocks.back().saturation, s);
    }
  }
  blocks.shrink_to_fit();
}

void LexicalIndex::NoteWindowPosting(uint32_t term, size_t index) {
  std::vector<WindowBlock>& blocks = windows_[term];
  const std::vector<Posting>& list = postings_[term];
  if (blocks.empty()) {
    if (list.size() == kWindowMinPostings) BuildWindows(term);
    return;
  }
  const Posting& p = list[index];
  uint32_t w = p.chunk >> window_bits_;
  float s = Saturation(p.tf, lengths_[p.chunk], window_avg_);
  if (blocks.back().window != w) {
    blocks.push_back({w, static_cast<uint32_t>(index), s});
  } else {
    blocks.back().saturation = std::max(blocks.back().saturation, s);
  }
}

void LexicalIndex::RebuildAllWindows() {
  windows_.resize(postings_.size());
  window_avg_ = live_chunks_ ? std::max(average_length(), 1.0) : 0.0;
  for (uint32_t t = 0; t < postings_.size(); ++t) BuildWindows(t);
}

void LexicalIndex::KeepWindowAverage() {
  double avg = std::max(average_length(), 1.0);
  if (live_chunks_ == 0 || (avg >= 0.8 * window_avg_ && avg <= 1.25 * window_avg_)) return;
  RebuildAllWindows();
}

uint64_t LexicalIndex::window_bytes() const {
  uint64_t n = 0;
  for (const auto& w : windows_) n += w.capacity() * sizeof(WindowBlock);
  return n;
}

std::vector<std::pair<uint32_t, double>> LexicalIndex::SearchBlockMax(
    const std::vector<std::pair<uint32_t, double>>& terms, const std::vector<float>& idfs,
    const std::vector<float>& bounds, const Norms& norms, double average, const uint8_t* ok,
    size_t k, const std::vector<uint32_t>* group_of) const {
  struct Cursor {
    const Posting* base;  // the list's first posting
    const Posting* p;     // the first posting at or after the current window
    const Posting* end;
    const Posting* look;  // lookups inside the current window, ascending
    const WindowBlock* block;
    const WindowBlock* blocks_end;
    float idf;
    float ub;     // bound over the whole list
    float scale;  // window block saturation -> bound of a score
    float local;  // bound in the current window
    bool here;    // has a posting in the current window
  };
  const size_t m = terms.size();
  std::vector<Cursor> cur(m);
  const float k1p1 = static_cast<float>(params_.k1 + 1.0);
  // A saturation taken at window_avg_ bounds one at `average` once scaled
  // by max(1, average / window_avg_) (a larger average only shortens the
  // norms, by at most that ratio); a hair above for the float products.
  const double drift = window_avg_ > 0 ? std::max(1.0, average / window_avg_) : 1.0;
  for (size_t i = 0; i < m; ++i) {
    const std::vector<Posting>& list = postings_[terms[i].first];
    Cursor& c = cur[i];
    c.base = c.p = c.look = list.data();
    c.end = list.data() + list.size();
    c.block = c.blocks_end = nullptr;
    if (terms[i].first < windows_.size() && !windows_[terms[i].first].empty()) {
      const std::vector<WindowBlock>& blocks = windows_[terms[i].first];
      c.block = blocks.data();
      c.blocks_end = blocks.data() + blocks.size();
    }
    c.idf = idfs[i];
    c.ub = bounds[i];
    c.scale = static_cast<float>(idfs[i] * (params_.k1 + 1.0) * drift * 1.0001);
    c.local = 0;
  }
  const float* nm = norms.values.data();
  TopGroups top(k);
  auto group = [&](uint32_t c) {
    return group_of ? (c < group_of->size() ? (*group_of)[c] : c) : c;
  };
  auto floor_of = [&](uint32_t c) { return group_of ? top.Floor(group(c)) : top.threshold(); };

  const uint32_t window = uint32_t{1} << window_bits_;
  thread_local std::vector<float> acc;  // the window's essential partial scores
  acc.assign(window, 0.0f);
  thread_local std::vector<uint64_t> touched;  // the chunks they touched
  touched.assign((window + 63) / 64, 0);
  std::vector<uint32_t> order(m);  // term positions by local bound, ascending
  constexpr uint32_t kEnd = std::numeric_limits<uint32_t>::max();
  while (true) {
    // The next window holding a posting of any term.
    uint32_t next = kEnd;
    for (const Cursor& c : cur) {
      if (c.p != c.end) next = std::min(next, c.p->chunk);
    }
    if (next == kEnd) break;
    const uint32_t w = next >> window_bits_;
    const uint32_t w0 = w << window_bits_;
    const uint64_t w1 = static_cast<uint64_t>(w0) + window;
    for (Cursor& c : cur) {
      c.local = 0;
      c.here = c.p != c.end && c.p->chunk < w1;
      if (!c.here) continue;
      if (c.block) {
        while (c.block != c.blocks_end && c.block->window < w) ++c.block;
        c.local = std::min(c.ub, c.block->saturation * c.scale);  // a block exists: a posting does
      } else {
        c.local = c.ub;
      }
    }
    for (uint32_t i = 0; i < m; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return cur[a].local < cur[b].local; });
    // Non-essential: the weakest terms whose bounds together cannot reach
    // the threshold.
    const float theta = top.threshold() * kMargin;
    float rest = 0;  // their bounds' sum
    size_t essential = 0;
    while (essential < m && rest + cur[order[essential]].local <= theta * kNonEssentialShare) {
      rest += cur[order[essential]].local;
      ++essential;
    }
    float all = rest;
    for (size_t j = essential; j < m; ++j) all += cur[order[j]].local;
    if (all <= theta) essential = m;  // nothing here can enter: skip the window
    if (essential < m) {
      // Essential terms, term at a time into the window's array.
      std::fill(touched.begin(), touched.end(), 0);
      float* a = acc.data();
      for (size_t j = essential; j < m; ++j) {
        Cursor& c = cur[order[j]];
        c.look = c.p;
        const Posting* p = c.p;
        const float idf = c.idf;
        for (; p != c.end && p->chunk < w1; ++p) {
          // The norms a list's postings read are scattered over the window
          // and, past a few million passages, rarely in cache: ask for one
          // a few postings ahead (a hint only; no score changes).
          if (c.end - p > kNormLookahead) __builtin_prefetch(nm + p[kNormLookahead].chunk);
          const uint32_t off = p->chunk - w0;
          const float tf = static_cast<float>(p->tf);
          a[off] += idf * tf * k1p1 / (tf + nm[p->chunk]);
          touched[off >> 6] |= uint64_t{1} << (off & 63);
        }
        c.p = p;
      }
      for (size_t j = 0; j < essential; ++j) cur[order[j]].look = cur[order[j]].p;
      // Chunks they touched, ascending.
      for (uint32_t word = 0; word < touched.size(); ++word) {
        for (uint64_t bits = touched[word]; bits; bits &= bits - 1) {
          const uint32_t off = word * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
          const float partial = a[off];
          a[off] = 0.0f;
          const uint32_t chunk = w0 + off;
          if (partial + rest <= top.threshold() * kMargin || !ok[chunk]) continue;
          const float floor = floor_of(chunk) * kMargin;
          if (partial + rest <= floor) continue;
          // Non-essential terms, strongest first, while the bound holds.
          float bound = partial + rest;
          bool dropped = false;
          for (size_t j = essential; j-- > 0;) {
            Cursor& c = cur[order[j]];
            if (!c.here) continue;
            bound -= c.local;
            c.look = Seek(c.look, c.end, chunk);
            if (c.look != c.end && c.look->chunk == chunk) {
              const float tf = static_cast<float>(c.look->tf);
              bound += c.idf * tf * k1p1 / (tf + nm[chunk]);
            }
            if (bound <= floor) {
              dropped = true;
              break;
            }
          }
          if (dropped) continue;
          // The exhaustive path's sum: every term, in query order, from 0.
          float score = 0.0f;
          for (Cursor& c : cur) {
            if (!c.here) continue;
            c.look = Seek(c.look, c.end, chunk);
            if (c.look != c.end && c.look->chunk == chunk) {
              const float tf = static_cast<float>(c.look->tf);
              score += c.idf * tf * k1p1 / (tf + nm[chunk]);
            }
          }
          if (score >= top.threshold()) top.Offer(group(chunk), chunk, score);
        }
      }
    }
    // Past the window: non-essential terms (and all, when it was skipped)
    // jump to their next block's first posting.
    for (size_t j = 0; j < std::min(essential, m); ++j) {
      Cursor& c = cur[order[j]];
      if (!c.here) continue;
      if (c.block) {
        const WindowBlock* b = c.block;
        while (b != c.blocks_end && b->window <= w) ++b;
        c.block = b;
        c.p = b == c.blocks_end ? c.end : c.base + b->first;
      } else {
        while (c.p != c.end && c.p->chunk < w1) ++c.p;
      }
    }
  }
  return top.Take();
}

std::vector<std::pair<uint32_t, double>> LexicalIndex::SearchBestFirst(
    const std::vector<std::pair<uint32_t, double>>& terms, const std::vector<float>& idfs,
    const std::vector<float>& bounds, const Norms& norms, double average, const uint8_t* ok,
    size_t k, const std::vector<uint32_t>* group_of) const {
  const uint32_t m = static_cast<uint32_t>(terms.size());
  const float k1p1 = static_cast<float>(params_.k1 + 1.0);
  const double drift = window_avg_ > 0 ? std::max(1.0, average / window_avg_) : 1.0;
  const float* nm = norms.values.data();
  const uint32_t bits = window_bits_;
  const uint32_t window = uint32_t{1} << bits;
  const uint32_t chunk_count = static_cast<uint32_t>(lengths_.size());
  const uint32_t n_windows = (chunk_count >> bits) + 1;
  const bool masked = ok != live_.data();

  // Slices: one term's postings inside one window and the term's bound
  // there, gathered by window (a counting sort), each window's in query
  // order.
  struct Slice {
    uint32_t window;
    uint32_t term;   // position in `terms`
    uint32_t begin;  // its postings there: [begin, end) of the term's list
    uint32_t end;
    float local;
  };
  thread_local std::vector<Slice> raw, slices;
  thread_local std::vector<uint32_t> start, fill;
  raw.clear();
  for (uint32_t i = 0; i < m; ++i) {
    const uint32_t id = terms[i].first;
    const std::vector<Posting>& list = postings_[id];
    const float idf = idfs[i];
    if (id < windows_.size() && !windows_[id].empty()) {
      const std::vector<WindowBlock>& blocks = windows_[id];
      const float scale = static_cast<float>(idf * (params_.k1 + 1.0) * drift * 1.0001);
      for (size_t b = 0; b < blocks.size(); ++b) {
        const uint32_t end =
            b + 1 < blocks.size() ? blocks[b + 1].first : static_cast<uint32_t>(list.size());
        raw.push_back({blocks[b].window, i, blocks[b].first, end,
                       std::min(bounds[i], blocks[b].saturation * scale)});
      }
      continue;
    }
    // A short list (no window blocks): per window, the largest contribution
    // among the postings the search may return (none: no slice).
    for (uint32_t p = 0; p < list.size();) {
      const uint32_t w = list[p].chunk >> bits;
      uint32_t q = p;
      float best = 0;
      for (; q < list.size() && (list[q].chunk >> bits) == w; ++q) {
        if (!ok[list[q].chunk]) continue;
        const float tf = static_cast<float>(list[q].tf);
        best = std::max(best, idf * tf * k1p1 / (tf + nm[list[q].chunk]));
      }
      if (best > 0) raw.push_back({w, i, p, q, best});
      p = q;
    }
  }
  start.assign(n_windows + 1, 0);
  for (const Slice& s : raw) ++start[s.window + 1];
  for (uint32_t w = 0; w < n_windows; ++w) start[w + 1] += start[w];
  fill.assign(start.begin(), start.end() - 1);
  slices.resize(raw.size());
  for (const Slice& s : raw) slices[fill[s.window]++] = s;

  // Windows by their summed bounds, best first, leaving out those where
  // the search may return no chunk (a wall's other matters).
  struct Ranked {
    float bound;
    uint32_t window;
  };
  thread_local std::vector<Ranked> ranked;
  ranked.clear();
  for (uint32_t w = 0; w < n_windows; ++w) {
    if (start[w] == start[w + 1]) continue;
    const uint32_t w0 = w << bits;
    const uint32_t w1 =
        static_cast<uint32_t>(std::min<uint64_t>(uint64_t{w0} + window, chunk_count));
    if (masked && std::find(ok + w0, ok + w1, uint8_t{1}) == ok + w1) continue;
    float sum = 0;
    for (uint32_t j = start[w]; j < start[w + 1]; ++j) sum += slices[j].local;
    ranked.push_back({sum, w});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return a.bound != b.bound ? a.bound > b.bound : a.window < b.window;
  });

  TopGroups top(k);
  auto group = [&](uint32_t c) {
    return group_of ? (c < group_of->size() ? (*group_of)[c] : c) : c;
  };
  thread_local std::vector<float> acc;
  acc.assign(window, 0.0f);
  thread_local std::vector<uint64_t> touched;
  touched.assign((window + 63) / 64, 0);
  thread_local std::vector<uint32_t> order;
  thread_local std::vector<uint8_t> essential;
  thread_local std::vector<const Posting*> look;
  for (const Ranked& r : ranked) {
    const float theta = top.threshold() * kMargin;
    if (r.bound <= theta) break;  // nor can any window after it
    const uint32_t w0 = r.window << bits;
    const Slice* sl = slices.data() + start[r.window];
    const uint32_t n = start[r.window + 1] - start[r.window];
    order.resize(n);
    essential.assign(n, 1);
    look.resize(n);
    for (uint32_t j = 0; j < n; ++j) {
      order[j] = j;
      look[j] = postings_[terms[sl[j].term].first].data() + sl[j].begin;
    }
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return sl[a].local < sl[b].local; });
    // Non-essential: the weakest slices, order[0, weak).
    float rest = 0;
    uint32_t weak = 0;
    while (weak < n && rest + sl[order[weak]].local <= theta * kNonEssentialShare) {
      rest += sl[order[weak]].local;
      essential[order[weak]] = 0;
      ++weak;
    }
    // Essential slices term at a time in query order, skipping postings the
    // search may not return: with no slice left out, each sum is already
    // the exhaustive path's.
    float* a = acc.data();
    for (uint32_t j = 0; j < n; ++j) {
      if (!essential[j]) continue;
      const Posting* list = postings_[terms[sl[j].term].first].data();
      const float idf = idfs[sl[j].term];
      for (const Posting* p = list + sl[j].begin; p != list + sl[j].end; ++p) {
        if (masked && !ok[p->chunk]) continue;
        const uint32_t off = p->chunk - w0;
        const float tf = static_cast<float>(p->tf);
        a[off] += idf * tf * k1p1 / (tf + nm[p->chunk]);
        touched[off >> 6] |= uint64_t{1} << (off & 63);
      }
    }
    const bool exact = weak == 0;
    for (uint32_t word = 0; word < touched.size(); ++word) {
      uint64_t left = touched[word];
      touched[word] = 0;
      for (; left; left &= left - 1) {
        const uint32_t off = word * 64 + static_cast<uint32_t>(__builtin_ctzll(left));
        const float partial = a[off];
        a[off] = 0.0f;
        const uint32_t chunk = w0 + off;
        if (!ok[chunk]) continue;
        if (exact) {
          if (partial >= top.threshold()) top.Offer(group(chunk), chunk, partial);
          continue;
        }
        // What this chunk must beat: the threshold, or its group's score
        // when the group is already among the best.
        const float floor = (group_of ? top.Floor(group(chunk)) : top.threshold()) * kMargin;
        if (partial + rest <= floor) continue;
        // Non-essential slices, strongest first, while the bound holds.
        float bound = partial + rest;
        bool dropped = false;
        for (uint32_t j = weak; j-- > 0;) {
          const uint32_t s = order[j];
          bound -= sl[s].local;
          const Posting* end = postings_[terms[sl[s].term].first].data() + sl[s].end;
          look[s] = Seek(look[s], end, chunk);
          if (look[s] != end && look[s]->chunk == chunk) {
            const float tf = static_cast<float>(look[s]->tf);
            bound += idfs[sl[s].term] * tf * k1p1 / (tf + nm[chunk]);
          }
          if (bound <= floor) {
            dropped = true;
            break;
          }
        }
        if (dropped) continue;
        // The exhaustive path's sum: every slice, in query order, from 0.
        float score = 0.0f;
        for (uint32_t s = 0; s < n; ++s) {
          const Posting* end = postings_[terms[sl[s].term].first].data() + sl[s].end;
          look[s] = Seek(look[s], end, chunk);
          if (look[s] != end && look[s]->chunk == chunk) {
            const float tf = static_cast<float>(look[s]->tf);
            score += idfs[sl[s].term] * tf * k1p1 / (tf + nm[chunk]);
          }
        }
        if (score >= top.threshold()) top.Offer(group(chunk), chunk, score);
      }
    }
  }
  return top.Take();
}

}  // namespace foldback::index
