// Index: foldback's retrieval engine over one user's (or one matter's)
// documents — chunking, metadata, BM25, HNSW, hybrid search with filters and
// ethical walls, snapshots to bytes.
//
// The index does no I/O: documents come in as values, snapshots go out as
// bytes; where they come from and go to is the host's business.
//
// Thread safety: const methods (Search, Snapshot, lookups) may run
// concurrently with each other. Mutating methods (Add, Remove, BuildDense,
// SetChunkVector) need exclusive access.
#ifndef FOLDBACK_INDEX_H_
#define FOLDBACK_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/document.h"
#include "foldback/export.h"
#include "foldback/search.h"
#include "foldback/status.h"

namespace foldback {

struct ChunkerOptions {
  // A chunk grows block by block (paragraph, clause, list item) up to this
  // many tokens. Default: 120.
  uint32_t target_tokens = 120;
  // A single block longer than this is cut into windows. Default: 256.
  uint32_t max_tokens = 256;
  // Tokens shared by consecutive windows of one long block. Default: 32.
  uint32_t overlap_tokens = 32;
};

struct TextOptions {
  // Snowball stemmer language ("english", "french", ...; "none" disables
  // stemming). Default: english.
  std::string stemmer = "english";
  // Terms never indexed nor searched. Unset means foldback's English list;
  // an empty list disables stopwords.
  std::optional<std::vector<std::string>> stopwords;
};

// How BM25 weighs a term's rarity, from the collection size N and the
// term's document frequency n, with r = (N - n + 0.5) / (n + 0.5):
//   kPlusOne:   log(1 + r) — Lucene's form; snapshots written before
//               2026-12-06 use it (they carry no choice).
//   kRobertson: log(r), Robertson and Spärck Jones' own form, with Xapian's
//               floor for common terms (r < 2 becomes r / 2 + 1, so the
//               weight stays above zero). It weighs words found in a third
//               of the passages or more about half as much as kPlusOne does,
//               which is what long, wordy questions need (docs/benchmarks.md,
//               "BM25 as Xapian weighs it").
enum class Bm25Idf : int { kPlusOne = 0, kRobertson = 1 };

struct Bm25Params {
  // Term-frequency saturation. Default: 0.9, chosen by measurement on
  // ContractNLI dev and CUAD (docs/benchmarks.md).
  double k1 = 0.9;
  // Length normalisation. Default: 0.4, chosen by measurement (ibid.).
  double b = 0.4;
  // Each title term counts this many times in every chunk of its document.
  // Default: 1; 0 leaves titles out of the lexical index.
  uint32_t title_weight = 1;
  // Default: kRobertson, chosen by measurement on ContractNLI dev and CUAD
  // (docs/benchmarks.md).
  Bm25Idf idf = Bm25Idf::kRobertson;
  // A word repeated in a plain query counts (k3 + 1) c / (k3 + c) times for
  // c occurrences (BM25's k3): with 1, twice counts 4/3 and three times 3/2.
  // 0 counts every occurrence (snapshots written before 2026-12-06).
  // Default: 1, chosen with `idf` (ibid.).
  double query_saturation = 1.0;
  // Store word positions, for phrase and proximity operators (README's
  // "Query syntax"; their memory cost is in docs/benchmarks.md). Default:
  // true; false saves that memory and makes such queries fall back to
  // plain words (QuerySyntax::kAuto) or fail (kConnectors).
  bool positions = true;
};

enum class EmbedderKind : int {
  kNone = 0,      // no dense index; dense and hybrid searches fall back to BM25
  kStatic = 1,    // foldback's own embedder, trained on the indexed corpus
  kExternal = 2,  // vectors supplied by the host (ONNX model, remote endpoint)
};

enum class Metric : int { kCosine = 0, kInnerProduct = 1 };

struct DenseOptions {
  EmbedderKind embedder = EmbedderKind::kStatic;
  Metric metric = Metric::kCosine;
  // Vector size. Static embedder default: 128. External: required.
  uint32_t dimension = 0;
  // HNSW graph degree and construction breadth. Defaults: 16, 200.
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  // Default HNSW search breadth. Default: 128.
  uint32_t ef_search = 128;
  // Seed for everything random (static embedder, HNSW levels). Default: 42.
  uint64_t seed = 42;
};

struct IndexOptions {
  ChunkerOptions chunker;
  TextOptions text;
  Bm25Params bm25;
  DenseOptions dense;
};

struct AddReport {
  uint32_t chunks = 0;
  // Invalid UTF-8 sequences replaced by U+FFFD in title and text.
  uint32_t invalid_utf8 = 0;
  // True when a document with the same id was replaced.
  bool replaced = false;
};

struct IndexStats {
  uint64_t documents = 0;
  uint64_t chunks = 0;
  uint64_t terms = 0;          // distinct lexical terms
  uint64_t postings = 0;
  uint64_t vectors = 0;        // chunks in the dense index
  uint64_t pending_vectors = 0;  // chunks waiting for BuildDense or SetChunkVector
  uint64_t text_bytes = 0;
  uint64_t position_bytes = 0;  // word positions (phrases, proximity); 0 when not stored
};

// Where Index::WriteSnapshot puts a snapshot: its bytes in order, a few
// MiB (at most one piece, about 64 MiB) at a time, so that neither the core
// nor the host holds the whole snapshot. A non-OK status from Append stops
// the write and is returned by WriteSnapshot; the host then discards what it
// received (the native host writes a temp file and renames it over the old
// snapshot only when every byte is written and fsynced).
class FOLDBACK_EXPORT SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  virtual Status Append(std::string_view bytes) = 0;
};

class FOLDBACK_EXPORT Index {
 public:
  static Result<std::unique_ptr<Index>> Create(const IndexOptions& options = IndexOptions());
  // Loads bytes produced by Snapshot() or WriteSnapshot() on any platform.
  // Truncated, corrupt or wrong-version bytes give a Corruption /
  // NotSupported status. `bytes` is read, never kept: a host may map a file
  // and unmap it once this returns.
  static Result<std::unique_ptr<Index>> FromSnapshot(std::string_view bytes);

  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Adds a document, replacing any document with the same id. The text is
  // chunked, metadata extracted and the chunks indexed lexically at once;
  // dense vectors follow on BuildDense() (static embedder) or
  // SetChunkVector() (external embedder). An empty text is accepted and
  // yields no chunks — except mail with a subject: one empty chunk, so that
  // the message is found by its subject (the title's terms count in every
  // chunk, Bm25Params::title_weight).
  Result<AddReport> Add(const Document& doc);

  // Removes a document and its chunks (not its attachments: see
  // RemoveWithAttachments). NotFound if the id is unknown.
  Status Remove(std::string_view doc_id);

  // Removes a document, its chunks and its attachments (AttachmentsOf): what
  // deleting a message or a document means to a user. NotFound if the id is
  // unknown (nothing removed). `removed` (may be null) receives the ids
  // removed, the document first.
  Status RemoveWithAttachments(std::string_view doc_id,
                               std::vector<std::string>* removed = nullptr);

  // Static embedder: trains it on the indexed corpus when it has not been
  // trained (or when `retrain`), then embeds every chunk not yet in the dense
  // index. External embedder: FailedPrecondition unless every chunk has a
  // vector. kNone: no-op.
  Status BuildDense(bool retrain = false);

  // External embedder: the ids of chunks that still need a vector, in
  // insertion order (at most `limit`, 0 = all).
  std::vector<std::string> ChunksMissingVectors(size_t limit = 0) const;
  // External embedder: sets a chunk's vector (dimension must match).
  Status SetChunkVector(std::string_view chunk_id, const std::vector<float>& vector);

  // Searches. InvalidArgument on a filter naming an unknown field or a
  // malformed option. Dense/hybrid with no usable dense index fall back to
  // BM25 (the hits then carry dense = 0).
  Result<std::vector<SearchHit>> Search(std::string_view query,
                                        const SearchOptions& options = SearchOptions()) const;
  // The same search into `hits`, whose elements are overwritten in place:
  // their strings keep their capacity, so a caller that searches in a loop
  // with one vector (a server thread, a binding, a benchmark) does not
  // allocate for each hit's id, text and title again. On return `hits`
  // holds exactly the results (the same as the first form's); on error its
  // contents are unspecified. Same errors.
  Status Search(std::string_view query, const SearchOptions& options,
                std::vector<SearchHit>* hits) const;

  // Fills a hit's text, title, section and matter from the chunk its
  // chunk_id names (for hits searched with SearchOptions::hit_text off) —
  // or, when chunk_id is empty (SearchOptions::hit_ids off), its ids too
  // from its chunk position, which must come from this index unchanged
  // since that search. NotFound, the hit unchanged, for an id not in the
  // index or a position past its chunks.
  Status FillHitText(SearchHit* hit) const;

  // How Search reads `query` under options.syntax: connectors or plain
  // words, and the notes (fallbacks, capped prefixes, unknown words). The
  // errors Search would give for the query's syntax.
  Result<QueryExplanation> ExplainQuery(std::string_view query,
                                        const SearchOptions& options = SearchOptions()) const;
  // The whole index as portable bytes (protobuf-lite, fixed-width
  // little-endian arrays and varints), handed to `sink` piece by piece; the
  // index's own peak is one piece. The length and checksum that protect the
  // bytes come last (a trailer), so a sink need not seek.
  Status WriteSnapshot(SnapshotSink& sink) const;
  // The same bytes as one string (small indexes, the JS and C APIs).
  Result<std::string> Snapshot() const;

  IndexStats Stats() const;
  const IndexOptions& options() const;

  // Lookups; nullptr when absent. Pointers stay valid until the next
  // mutating call.
  const Document* FindDocument(std::string_view doc_id) const;
  const Chunk* FindChunk(std::string_view chunk_id) const;
  // Chunks of a document in order.
  std::vector<const Chunk*> ChunksOf(std::string_view doc_id) const;
  // The ids of a document's attachments: every document whose parent_id is
  // `doc_id`, and theirs in turn (a message attached to a message), each
  // parent before its children; empty for an unknown id. Whatever their
  // matter: a caller enforcing walls checks each. Indexed: O(attachments).
  std::vector<std::string> AttachmentsOf(std::string_view doc_id) const;
  // Every field a filter may name.
  std::vector<std::string> FilterFields() const;

  // For foldback's own components (rewriting, feedback); see
  // src/index/index_internal.h.
  struct Rep;
  Rep* rep() const { return rep_.get(); }

 private:
  explicit Index(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback

#endif  // FOLDBACK_INDEX_H_
