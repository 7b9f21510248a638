// Index::Rep — the index's state, shared by index.cc (add, remove, search),
// store/snapshot.cc (bytes) and foldback's other components (rewriting and
// feedback read chunks and lexical statistics). Not part of the public API.
#ifndef FOLDBACK_INDEX_INDEX_INTERNAL_H_
#define FOLDBACK_INDEX_INDEX_INTERNAL_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tsl/robin_map.h>

#include "foldback/index.h"
#include "index/lexical_index.h"
#include "index/near_dup.h"
#include "index/query.h"
#include "text/analyzer.h"

namespace foldback::pb {
class Snapshot;
}  // namespace foldback::pb
namespace foldback::index {
class DenseIndex;
}  // namespace foldback::index
namespace foldback::embed {
class StaticEmbedder;
}  // namespace foldback::embed

namespace foldback {

struct DocSlot {
  Document doc;
  std::vector<uint32_t> chunks;  // chunk numbers, in order
  bool live = false;
};
// Chunk::text views its document's text in place, so that text must not
// move while the document is in the index. `docs` grows by moving its
// slots: a moved std::string keeps its heap buffer, but a short one lives
// inside the string itself and would move. PinText gives every stored text
// a heap buffer (a few bytes more for texts under 32 bytes); the assertion
// keeps the vector from copying slots (new buffers) instead of moving them.
inline void PinText(std::string* text) {
  if (text->size() < sizeof(std::string)) text->reserve(sizeof(std::string));
}
static_assert(std::is_nothrow_move_constructible_v<DocSlot>,
              "docs must move its slots when it grows: chunks view their text");

struct ChunkSlot {
  Chunk chunk;
  uint32_t doc = 0;  // document number
  bool live = false;
  bool has_vector = false;
  // The text's near-duplicate signature (index/near_dup.h), set when the
  // chunk is added or loaded.
  index::DupSketch sketch;
};

struct Index::Rep {
  explicit Rep(const IndexOptions& o);
  ~Rep();

  IndexOptions options;
  text::Analyzer analyzer;
  index::LexicalIndex lexical;
  std::unique_ptr<index::DenseIndex> dense;          // null until built
  std::unique_ptr<embed::StaticEmbedder> embedder;   // static embedder, null until trained
  // The model `embedder` replaced (learn/train.cc, BuildDense(retrain)),
  // kept for RestorePreviousEmbedder; null when none.
  std::unique_ptr<embed::StaticEmbedder> previous_embedder;

  std::vector<DocSlot> docs;
  std::unordered_map<std::string, uint32_t> doc_ids;
  std::vector<ChunkSlot> chunks;
  std::vector<uint32_t> chunk_doc;  // chunk number -> document number
  // Folded word -> lexical term id (kStopword for stopwords): saves the
  // stopword check, the stemmer and the term dictionary on repeated words
  // while adding. Only used by mutating calls.
  // Looked up once per word of every text added: an open-addressing table
  // (short words stored inline) found by string_view, without building a key.
  tsl::robin_map<std::string, uint32_t, text::WordHash, text::WordEq,
                 std::allocator<std::pair<std::string, uint32_t>>,
                 /*StoreHash=*/true>
      word_terms;
  static constexpr uint32_t kStopword = 0xFFFFFFFFu;
  std::unordered_map<std::string, uint32_t> chunk_ids;
  uint64_t live_docs = 0;
  uint64_t live_chunks = 0;
  uint64_t text_bytes = 0;
  // Metadata field name -> number of live documents carrying it.
  std::map<std::string, uint32_t> field_counts;
  // Field -> value -> live documents, for equality filters and walls without
  // a scan of every document. The matter is kept under kMatterKey.
  std::unordered_map<std::string, std::unordered_map<std::string, std::vector<uint32_t>>> value_docs;
  static constexpr const char* kMatterKey = "\x01matter";
  // Opaque sections other components keep in the snapshot (name -> bytes).
  std::map<std::string, std::string> extensions;
  // The size at which the snapshot's lexical and dense pieces are closed (0:
  // store::kPieceBytes, 64 MiB). Tests set a few bytes to write many pieces
  // from a small index.
  size_t snapshot_piece_bytes = 0;

  // The lexical term ids of a chunk (text + title x title_weight), with
  // counts. `intern` adds new terms to the dictionary (adding a chunk);
  // without it unknown terms are skipped (removing a chunk).
  // With `stream` (adding), also the chunk's word stream (index/positions.h).
  std::vector<std::pair<uint32_t, uint32_t>> ChunkTerms(const ChunkSlot& slot, bool intern,
                                                        std::string* stream = nullptr);
  // Analyzed query terms (duplicates kept, each weighing its share of the
  // word's Bm25Params::query_saturation weight; 1 for a word met once).
  std::vector<index::WeightedTerm> QueryTerms(std::string_view query) const;
  // The same into *terms (replaced; the strings it held keep their buffers).
  void QueryTermsInto(std::string_view query, std::vector<index::WeightedTerm>* terms) const;
  // Chunks the options allow (walls + filters). InvalidArgument on an
  // unknown filter field. Served from the scope cache below.
  Status BuildMask(const SearchOptions& options, index::ChunkMask* mask) const;
  // The same mask shared rather than copied (a wall's byte mask is a byte
  // per chunk: copying it out of the cache was 10 % of a walled served
  // search): the cached one for a scope searched before, else a new one.
  Result<std::shared_ptr<const index::ChunkMask>> SharedMask(const SearchOptions& options) const;
  Status BuildMaskUncached(const SearchOptions& options, index::ChunkMask* mask) const;
  // The masks of recent scopes — a wall, filters, or both — most recent
  // first, at most kScopeMasks (least recently used dropped). The same
  // scope is searched again and again: a server's users sit behind a few
  // walls, and an add-in asks one contract or one mail thread question
  // after question (`filter: {doc_id}`), so its mask and a wall's
  // statistics scope are built once per change of the index, not once per
  // search (building a contract's mask was a fifth of a scoped search).
  // Keyed on the filters in a canonical order (they are ANDed) and the
  // wall; valid only while `changes` is the one it was built at. Searches
  // take it under `scope_masks_mu` (serve's readers search concurrently);
  // the masks themselves are immutable once shared.
  struct ScopeMask {
    std::vector<Filter> filters;  // sorted by (field, op, value)
    std::optional<std::set<std::string>> matters;
    uint64_t changes = 0;
    std::shared_ptr<const index::ChunkMask> mask;
  };
  static constexpr size_t kScopeMasks = 16;
  mutable std::mutex scope_masks_mu;
  mutable std::vector<ScopeMask> scope_masks;  // most recent first
  // Moves with every Add and Remove (of a document, its chunks or its
  // metadata): what a cached scope mask is checked against.
  uint64_t changes = 0;
  SearchHit MakeHit(uint32_t chunk, double score) const;
  // The same into an existing (empty) hit: search fills its result vector
  // in place.
  // The chunk's position and the score; its ids unless !ids; the text,
  // title, section and matter unless !text.
  void FillHit(uint32_t chunk, double score, SearchHit* hit, bool text = true,
               bool ids = true) const;
  // How `query` is read under `syntax` (search.cc): *connectors tells
  // whether `out` holds a terms-and-connectors query; false means the plain
  // path (with out->notes saying why, when the query had operators). Errors
  // only under QuerySyntax::kConnectors.
  Status PlanQuery(std::string_view query, QuerySyntax syntax, index::ResolvedQuery* out,
                   bool* connectors) const;
  // Search behind the mask (search.cc). `terms`, when not null, replaces
  // the analyzed query on the lexical side (RM3's weighted terms); the dense
  // side still searches `query`.
  Result<std::vector<SearchHit>> Search(std::string_view query, const SearchOptions& options,
                                        const index::ChunkMask& mask,
                                        const std::vector<index::WeightedTerm>* terms = nullptr) const;
  // The same into `out`, its hits' storage reused (Index::Search's second
  // form).
  Status SearchInto(std::string_view query, const SearchOptions& options,
                    const index::ChunkMask& mask, const std::vector<index::WeightedTerm>* terms,
                    std::vector<SearchHit>* out) const;
  // The ranking itself (search.cc), from lexical terms and a query vector
  // (empty: no dense side): candidate lists behind the mask, fusion, mail
  // role weights, near-duplicate collapse, and deeper candidate lists until
  // top_k distinct results are found or the candidates run out. Search and
  // FoldBack (with its expanded terms and moved vector) both end here.
  Result<std::vector<SearchHit>> Rank(const std::vector<index::WeightedTerm>& terms,
                                      const std::vector<float>& query_vector,
                                      const SearchOptions& options,
                                      const index::ChunkMask& mask) const;
  // Rank into `out`: the hits already in it are overwritten in place (their
  // strings keep their capacity, so a caller searching in a loop with one
  // vector allocates nothing for hits no longer than before); on return it
  // holds exactly the results. On error its contents are unspecified.
  Status RankInto(const std::vector<index::WeightedTerm>& terms,
                  const std::vector<float>& query_vector, const SearchOptions& options,
                  const index::ChunkMask& mask, std::vector<SearchHit>* out) const;
  // The query's vector for the dense side (vectors.cc): empty when there is
  // no usable dense index or the query has no vector (no known word, or an
  // external embedder and no SearchOptions::query_vector in a hybrid search).
  // Errors: an external embedder's vector of the wrong size; a dense-only
  // search over host vectors without a query vector.
  Result<std::vector<float>> QueryVector(std::string_view query, const SearchOptions& so) const;
  // Takes a chunk out of the dense index, if it is there (vectors.cc).
  void DropVector(uint32_t chunk);
  // The dense index's header and the embedders to a snapshot (vectors.cc;
  // the graph's nodes follow as pieces, DenseIndex::SerializePiece), and
  // the whole dense side from one: `pieces` the dense pieces' values, which
  // a snapshot of format 4 (`pieced`) has and earlier ones lack.
  void SaveDense(pb::Snapshot* out) const;
  Status LoadDense(const pb::Snapshot& in, const std::vector<std::string_view>& pieces,
                   bool pieced);
  // Maintain field_counts and value_docs for a live document.
  void IndexDocFields(uint32_t doc);
  void UnindexDocFields(uint32_t doc);
  // Documents whose `field` has `value` (metadata fields and "matter");
  // nullptr when none.
  const std::vector<uint32_t>* DocsWith(const std::string& field, const std::string& value) const;
};

}  // namespace foldback

#endif  // FOLDBACK_INDEX_INDEX_INTERNAL_H_
