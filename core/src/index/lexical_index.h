// LexicalIndex: BM25 over chunks, with incremental add and remove.
//
// Chunks are numbered by the owner (Index); the lexical index keeps, per
// term, a postings list of (chunk, term frequency). Removing a chunk lowers
// document frequencies at once and leaves its postings to be skipped; a
// snapshot round trip drops them.
#ifndef FOLDBACK_INDEX_LEXICAL_INDEX_H_
#define FOLDBACK_INDEX_LEXICAL_INDEX_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tsl/robin_map.h>

#include "foldback/index.h"
#include "index/positions.h"
#include "text/analyzer.h"

namespace foldback::index {

struct Posting {
  uint32_t chunk;
  uint32_t tf;
};

// A query term with a weight (1 for plain queries, more for a repeated
// word: Bm25Params::query_saturation; RM3 expansions weight terms
// differently).
struct WeightedTerm {
  std::string term;
  double weight = 1;
};

// BM25's weight of a term's rarity: `df` of `n` chunks (Bm25Idf).
inline double Bm25IdfOf(Bm25Idf form, double n, double df) {
  double r = (n - df + 0.5) / (df + 0.5);
  if (form == Bm25Idf::kPlusOne) return std::log(1.0 + r);
  if (r < 2) r = std::max(r, 1e-6) / 2 + 1;
  return std::log(r);
}

// Weight of a word met `count` times in a plain query (Bm25Params::
// query_saturation: k3; 0 counts each occurrence).
inline double QueryWordWeight(double k3, double count) {
  return k3 > 0 ? (k3 + 1) * count / (k3 + count) : count;
}

// The chunks BM25's statistics are taken from when a search is walled
// (SearchOptions::allowed_matters): the live chunks of the matters its user
// may see. With it, the collection size, the average length, each term's
// document frequency and the pruning bounds are computed over these chunks
// only, so a score never depends on a chunk outside them (walled statistics;
// docs/benchmarks.md states the cost).
struct StatsScope {
  std::vector<uint8_t> visible;  // by chunk number
  uint64_t chunks = 0;           // visible live chunks
  uint64_t total_length = 0;     // their summed lengths
  // A query term's visible postings: how many, their largest tf, their
  // shortest chunk. Filled by LexicalIndex::Search as terms are met, so a
  // scope kept across searches (Index::Rep caches walls' masks) counts each
  // term once; dropped when the index's generation moves.
  struct TermStats {
    uint32_t df = 0;
    uint32_t max_tf = 0;
    uint32_t min_len = 0;
  };
  mutable std::mutex term_mu;
  mutable uint64_t term_generation = 0;
  mutable std::unordered_map<uint32_t, TermStats> term_stats;
};

// Live chunks a search may return: every chunk (`all`), the chunks set in
// `allowed` (a byte per chunk number), or — `ranged` — the chunks inside
// `ranges`. BuildMask gives the ranged form to a narrow scope (one
// contract, one mail thread, a few documents): neither building that mask
// nor searching behind it then costs in proportion to the whole index,
// because a posting list (ordered by chunk number) is entered at each
// range by binary search and left at its end.
struct ChunkMask {
  bool all = true;
  std::vector<uint8_t> allowed;  // by chunk number, when !all && !ranged
  bool ranged = false;
  // When ranged: sorted, disjoint, non-empty [begin, end) chunk ranges.
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  // When set, BM25 statistics come from these chunks only (see StatsScope).
  // REQUIRES: every chunk the mask lets through is visible in it.
  std::shared_ptr<const StatsScope> stats;
  bool Allows(uint32_t chunk) const {
    if (all) return true;
    if (!ranged) return chunk < allowed.size() && allowed[chunk];
    auto it = std::upper_bound(ranges.begin(), ranges.end(), chunk,
                               [](uint32_t c, const std::pair<uint32_t, uint32_t>& r) { return c < r.first; });
    return it != ranges.begin() && chunk < std::prev(it)->second;
  }
  // At least as many chunks as the mask lets through (exact for `allowed`).
  size_t AllowedUpperBound(size_t chunk_count) const;
  // The same chunks as a byte map (for the dense side, which visits graph
  // nodes in no order); a copy of `allowed` when not ranged.
  ChunkMask AsBytes() const;
};
// Word positions in snapshot form (format 2; absent from format 1).
struct PositionData {
  bool present = false;
  std::string streams;  // every chunk's word stream (positions.h), in chunk order
  std::string offsets;  // u32 LE, chunks + 1 entries into `streams`
  std::vector<std::string> words;  // the surface dictionary: folded words, sorted
  std::string word_terms;          // u32 LE per word: its term
};

class LexicalIndex {
 public:
  explicit LexicalIndex(const Bm25Params& params)
      : params_(params), store_positions_(params.positions) {}

  // The id of a term, adding it to the dictionary if new.
  uint32_t Intern(std::string_view term);
  // The id of a known term.
  std::optional<uint32_t> Find(std::string_view term) const;
  const std::string& term(uint32_t id) const { return terms_[id]; }

  // REQUIRES: `chunk` is not live. `terms` are the chunk's (term id, count)
  // pairs, each id once; `stream` its word stream (positions.h), kept when
  // the index stores positions.
  void AddChunk(uint32_t chunk, const std::vector<std::pair<uint32_t, uint32_t>>& terms,
                std::string stream = std::string());
  // Records that the folded word `word` is indexed as term `term` (the
  // surface dictionary that prefix operators expand against).
  void NoteWord(std::string_view word, uint32_t term);

  // True when every chunk's word stream is stored: phrase and proximity
  // operators work. False when positions are off (Bm25Params::positions)
  // or the index was loaded from a snapshot saved without them (format 1).
  bool has_positions() const { return store_positions_ && positions_complete_; }
  // Moves with every change of the postings (AddChunk, RemoveChunk, load).
  uint64_t generation() const { return generation_; }
  // Terms of the indexed words starting with `prefix` (folded, unstemmed),
  // most frequent first (live document frequency, then term id), at most
  // `cap`; *total gets how many there are. Empty without positions.
  std::vector<uint32_t> ExpandPrefix(std::string_view prefix, size_t cap, size_t* total) const;
  // The live chunks allowed by `mask` that satisfy every clause, ascending.
  // Candidates come from the postings of the clauses' terms (entered at the
  // mask's ranges when ranged); each candidate's stream is then decoded
  // and matched (single words and prefixes: searched in the stream's bytes,
  // StreamHasTerm). REQUIRES: has_positions().
  std::vector<uint32_t> MatchClauses(const std::vector<PositionalClause>& clauses,
                                     const ChunkMask& mask) const;
  // The chunk's word stream (positions.h); empty when positions are not
  // stored or the chunk was removed.
  std::string_view stream(uint32_t chunk) const {
    return chunk < streams_.size() ? std::string_view(streams_[chunk]) : std::string_view();
  }
  // Bytes held for positions: word streams and the surface dictionary.
  uint64_t position_bytes() const;
  size_t surface_word_count() const { return words_.size(); }
  // REQUIRES: `chunk` is live and `terms` is what AddChunk received for it.
  void RemoveChunk(uint32_t chunk, const std::vector<std::pair<uint32_t, uint32_t>>& terms);

  // Top `k` live chunks allowed by `mask`, best first, with BM25 scores.
  // Terms unknown to the index are ignored; duplicates add up their weights.
  // With `group_of` (chunk -> group, e.g. its document), only the best
  // chunk of each group competes for the k places. With `mask.stats`, the
  // statistics are the visible chunks' (exact: document frequencies are
  // counted over the query terms' postings at query time) and the scores
  // are bit-identical whatever chunks lie outside them.
  std::vector<std::pair<uint32_t, double>> Search(const std::vector<WeightedTerm>& query,
                                                  const ChunkMask& mask, size_t k,
                                                  const std::vector<uint32_t>* group_of = nullptr) const {
    std::vector<std::pair<uint32_t, double>> out;
    Search(query, mask, k, group_of, &out);
    return out;
  }
  // The same into *out (replaced; its capacity kept, so a caller that
  // searches again into the same vector does not allocate for it).
  void Search(const std::vector<WeightedTerm>& query, const ChunkMask& mask, size_t k,
              const std::vector<uint32_t>* group_of,
              std::vector<std::pair<uint32_t, double>>* out) const;

  // BM25 idf of a term (0 when unknown).
  double Idf(std::string_view term) const;
  // Document (chunk) frequency, live chunks only.
  uint32_t Df(std::string_view term) const;
  // The same over the chunks `scope` makes visible (a pass over the term's
  // postings); Df(term) when `scope` is null. With VisibleChunks, what a
  // walled caller's term statistics must come from (see StatsScope).
  uint32_t Df(std::string_view term, const StatsScope* scope) const;
  uint64_t VisibleChunks(const StatsScope* scope) const { return scope ? scope->chunks : live_chunks_; }
  uint64_t live_chunks() const { return live_chunks_; }
  double average_length() const;
  uint32_t length(uint32_t chunk) const { return chunk < lengths_.size() ? lengths_[chunk] : 0; }

  size_t term_count() const { return terms_.size(); }
  uint64_t posting_count() const;
  const Bm25Params& params() const { return params_; }
  void set_params(const Bm25Params& p) {
    params_ = p;
    RebuildAllWindows();  // the saturations depend on k1 and b
    std::atomic_store(&norms_, std::shared_ptr<const Norms>());
    std::lock_guard<std::mutex> lock(walled_norms_mu_);
    walled_norms_.clear();
  }

  // Snapshot form. What a snapshot keeps: the terms that still have a live
  // posting, in id order, numbered 0, 1, ... (`terms`, `term_renumber`);
  // chunk numbers remapped through `renumber` (live chunks only; entries
  // equal to UINT32_MAX are dropped). Format 3 writes it in pieces
  // (store/lexical_pieces.cc) from these calls, one term or chunk at a time.
  struct SnapshotPlan {
    std::vector<uint32_t> terms;          // snapshot term -> term id
    std::vector<uint32_t> term_renumber;  // term id -> snapshot term, or UINT32_MAX
    std::vector<uint32_t> chunks;         // snapshot chunk -> chunk number
    uint64_t postings = 0;                // live postings of the kept terms
    uint32_t words = 0;                   // surface words of kept terms (with positions)
    bool positions = false;               // has_positions()
  };
  SnapshotPlan PlanSnapshot(const std::vector<uint32_t>& renumber) const;
  // Term `id`'s live postings, renumbered, by ascending chunk (*out cleared first).
  void SnapshotPostings(uint32_t id, const std::vector<uint32_t>& renumber,
                        std::vector<Posting>* out) const;
  // The word stream of chunk `chunk` with its term ids renumbered, appended
  // to *out. REQUIRES: plan.positions.
  void SnapshotStream(uint32_t chunk, const SnapshotPlan& plan, std::string* out) const;
  // The surface dictionary: folded word -> term id, sorted.
  const std::map<std::string, uint32_t, std::less<>>& surface_words() const { return words_; }

  // Format 2's arrays (one message, capped at 2 GiB): what snapshots held
  // before format 3, kept so that tests can write a format-2 snapshot.
  // With `positions`, the word streams (renumbered) and the surface
  // dictionary too, when the index stores positions.
  void Serialize(const std::vector<uint32_t>& renumber, std::vector<std::string>* terms,
                 std::string* offsets, std::string* postings, std::string* lengths,
                 PositionData* positions = nullptr) const;
  // Replaces the contents from format 2's arrays. Returns false if they are
  // inconsistent. Without `positions` (or not present), the index has no
  // positions.
  bool Deserialize(const std::vector<std::string>& terms, std::string_view offsets,
                   std::string_view postings, std::string_view lengths, uint32_t chunk_count,
                   const PositionData* positions = nullptr);

  // Loading, step by step (Deserialize and store/lexical_pieces.cc):
  // BeginLoad empties the index for `chunk_count` chunks, all live; then
  // every chunk's length; then, with positions, the chunks' streams; the
  // terms in number order with their postings; the surface words;
  // FinishLoad. A false return means the data is inconsistent: the caller
  // discards the index.
  void BeginLoad(uint32_t chunk_count, bool positions);
  void LoadLength(uint32_t chunk, uint32_t length);
  // False when the stream does not decode or names a term >= term_count.
  bool LoadStream(uint32_t chunk, std::string_view stream, size_t term_count);
  // The next term and its postings (ascending chunks < chunk_count, tf >= 1).
  bool LoadTerm(std::string term, std::vector<Posting> postings);
  // More postings of the last term, past its last chunk.
  bool ExtendLastTerm(const std::vector<Posting>& more);
  // REQUIRES: `term` < the terms loaded (checked: false otherwise).
  bool LoadWord(std::string word, uint32_t term);
  void FinishLoad();

 private:
  // Checks postings loaded for term `id` (ascending past its last one,
  // chunks < the chunk count, tf >= 1) and counts them into its df,
  // largest tf and shortest chunk.
  bool CheckLoadedPostings(uint32_t id, const std::vector<Posting>& more);

 public:
 private:
  Bm25Params params_;
  // Keys view into terms_, whose deque storage never moves its strings.
  // Looked up for every term of every query: open addressing with the hash
  // stored, so a probe compares bytes only when the hashes agree.
  tsl::robin_map<std::string_view, uint32_t, text::WordHash, text::WordEq,
                 std::allocator<std::pair<std::string_view, uint32_t>>, /*StoreHash=*/true>
      term_ids_;
  std::deque<std::string> terms_;
  std::vector<std::vector<Posting>> postings_;
  std::vector<uint32_t> df_;
  std::vector<uint32_t> max_tf_;   // by term: largest tf in its postings
  std::vector<uint32_t> min_len_;  // by term: shortest chunk in its postings
  std::vector<uint32_t> lengths_;  // by chunk
  std::vector<uint8_t> live_;      // by chunk
  // Positions: each chunk's word stream (empty once removed) and the
  // surface dictionary (folded word -> term).
  bool store_positions_ = true;
  bool positions_complete_ = true;
  std::vector<std::string> streams_;  // by chunk
  std::map<std::string, uint32_t, std::less<>> words_;
  // k1 * (1 - b + b * length / average) by chunk, computed for `average`
  // over `count` chunks; replaced (atomically: concurrent searches keep
  // their copy) when stale.
  struct Norms {
    std::vector<float> values;
    double average = 0;
    size_t count = 0;
    uint64_t generation = 0;
  };
  // Upper bound of tf * (k1 + 1) / (tf + norm) over a term's postings,
  // from its largest tf and its shortest chunk (each bound independently,
  // so it holds for every posting; removals leave it valid).
  float Bound(double average, uint32_t max_tf, uint32_t min_len) const;
  // Top-k by MaxScore dynamic pruning (Turtle & Flood 1995): chunks that
  // cannot beat the k-th best group are never fully scored. Same results as
  // the exhaustive path up to float rounding and ties.
  // `terms`: (term id, idf x weight, upper bound of the term's contribution).
  struct ScoredTerm {
    uint32_t id;
    float idf;
    float ub;
  };
  std::vector<std::pair<uint32_t, double>> SearchMaxScore(const std::vector<ScoredTerm>& terms,
                                                          const Norms& norms, const uint8_t* ok,
                                                          size_t k,
                                                          const std::vector<uint32_t>* group_of) const;

  // Block-max MaxScore over windows of chunk numbers (lexical_blockmax.cc).
  // A window is 2^window_bits_ consecutive chunk numbers. For a term with
  // many postings, each window it occurs in has a WindowBlock: where its
  // postings there begin and the largest tf / (tf + norm) among them,
  // computed at the average length `window_avg_` (a bound at any other
  // average after scaling, see WindowBound). Kept by AddChunk, rebuilt at
  // load and when the average drifts; independent of how postings are
  // encoded (a compressed list would be entered at `first` by its skips).
  uint32_t window_bits_ = 11;
  static constexpr uint32_t kWindowMinPostings = 128;
  struct WindowBlock {
    uint32_t window;   // chunk >> window_bits_
    uint32_t first;    // index of the window's first posting in the term's list
    float saturation;  // max tf / (tf + k1 (1 - b + b len / window_avg_)), rounded up
  };
  // `terms`: idf x weight of each query term, in the order the exhaustive
  // path sums them, whose float sums this path reproduces bit for bit.
  std::vector<std::pair<uint32_t, double>> SearchBlockMax(
      const std::vector<std::pair<uint32_t, double>>& terms, const std::vector<float>& idfs,
      const std::vector<float>& bounds, const Norms& norms, double average, const uint8_t* ok,
      size_t k, const std::vector<uint32_t>* group_of) const;
  // The same windows, for the top documents: visited in order of their
  // summed bounds, best first, so the k-th best score rises early and the
  // rest stop at the first window below it; windows without a chunk the
  // mask lets through are left out and refused postings never scored.
  // Bit-identical to the exhaustive path, as SearchBlockMax.
  std::vector<std::pair<uint32_t, double>> SearchBestFirst(
      const std::vector<std::pair<uint32_t, double>>& terms, const std::vector<float>& idfs,
      const std::vector<float>& bounds, const Norms& norms, double average, const uint8_t* ok,
      size_t k, const std::vector<uint32_t>* group_of) const;
  float Saturation(uint32_t tf, uint32_t length, double average) const;
  void BuildWindows(uint32_t term);
  void NoteWindowPosting(uint32_t term, size_t index);
  void RebuildAllWindows();
  // Rebuilds the window blocks when the average length has moved by more
  // than a quarter from `window_avg_` (the bounds stay valid, but loosen).
  void KeepWindowAverage();
  std::vector<std::vector<WindowBlock>> windows_;  // by term; empty below kWindowMinPostings
  double window_avg_ = 0;                          // the average the saturations were taken at

  // Tests and benchmarks compare the paths.
 public:
  // kAuto: block-max for k <= 32, best-first block-max for more groups
  // (documents), else exhaustive, when the query has postings enough.
  enum class Strategy { kAuto, kExhaustive, kMaxScore, kBlockMax, kBestFirst };
  void set_strategy(Strategy s) { strategy_ = s; }
  // Window size 2^bits chunk numbers (default 11; tests and benchmarks try
  // others). Rebuilds the window blocks: not while searches run.
  void set_window_bits(uint32_t bits) {
    window_bits_ = std::clamp<uint32_t>(bits, 1, 16);
    RebuildAllWindows();
  }
  // Bytes held by the window blocks (docs/benchmarks.md states them).
  uint64_t window_bytes() const;
  // Heap bytes held, by part, counted from container capacities with the
  // allocator's per-block overhead (an estimate: scale_bench compares it
  // with the heap in use). Walks every list: for benchmarks, not searches.
  struct Memory {
    uint64_t postings = 0;     // the lists (capacity x 8 bytes) and their headers
    uint64_t term_arrays = 0;  // df, max_tf, min_len, the dictionary (terms and their map)
    uint64_t chunk_arrays = 0; // lengths, live flags, norms
    uint64_t streams = 0;      // word streams, with their std::string headers
    uint64_t surface_words = 0;  // the prefix dictionary (std::map nodes)
    uint64_t windows = 0;      // block-max window blocks
  };
  Memory MemoryUsage() const;

 private:
  Strategy strategy_ = Strategy::kAuto;
  mutable std::shared_ptr<const Norms> norms_;
  mutable std::mutex norms_mu_;
  std::shared_ptr<const Norms> CurrentNorms() const;
  // Norms for a walled search's exact average length (a few cached tables,
  // one per average — users behind different walls take turns — rebuilt
  // when the chunk count or the index changes), most recent first.
  static constexpr size_t kWalledNormTables = 4;
  mutable std::mutex walled_norms_mu_;
  mutable std::vector<std::shared_ptr<const Norms>> walled_norms_;
  std::shared_ptr<const Norms> NormsFor(double average) const;
  uint64_t generation_ = 0;  // bumped by AddChunk / RemoveChunk / Deserialize
  uint64_t live_chunks_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_LEXICAL_INDEX_H_
