// What a search asks for and what it returns.
#ifndef FOLDBACK_SEARCH_H_
#define FOLDBACK_SEARCH_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "foldback/status.h"

namespace foldback {

enum class SearchMode : int {
  kBm25 = 0,    // lexical only
  kDense = 1,   // HNSW over embeddings only
  kHybrid = 2,  // both, fused
};
const char* SearchModeName(SearchMode mode);  // "bm25" / "dense" / "hybrid"
bool ParseSearchMode(const std::string& name, SearchMode* mode);

enum class Fusion : int {
  kRrf = 0,          // reciprocal rank fusion: sum of 1 / (rrf_k + rank)
  kWeightedSum = 1,  // dense_weight * norm(dense) + (1 - dense_weight) * norm(bm25)
};
const char* FusionName(Fusion fusion);  // "rrf" / "weighted"
bool ParseFusion(const std::string& name, Fusion* fusion);

// How a query string is read (README.md, "Query syntax"). Terms and
// connectors: "a phrase" (its words in order; stopwords inside keep their
// place), prefix* (the indexed words starting with it, unstemmed), and
// connectors between words, prefixes or phrases — /N (within N words,
// either order), /s (same sentence), /p (same paragraph); `w/N`, `w/s`,
// `w/p` are accepted too. A connector is a token of its own ("and/or" is a
// word). Phrases and connected groups are required (a passage must satisfy
// every one); plain words and lone prefixes stay optional and rank by BM25
// as in a plain query; the passages that qualify rank by BM25 over all the
// query's terms (a phrase scores like its words). Matching is within one
// passage (chunk) and its text (not its document's title).
enum class QuerySyntax : int {
  // Terms and connectors when the query uses them and they are well formed
  // (and the index stores positions); otherwise plain words, with a note
  // (Index::ExplainQuery) — never an error. A query without any operator
  // is a plain query, bit for bit.
  kAuto = 0,
  // Plain words (BM25 bag of words); quotes, '*' and connectors are
  // punctuation.
  kPlain = 1,
  // Terms and connectors; a malformed query (an unbalanced quote, /0, a
  // lone '*', a connector without a word on each side, more than 1,000
  // tokens) is InvalidArgument, and an index without positions is
  // FailedPrecondition.
  kConnectors = 2,
};
const char* QuerySyntaxName(QuerySyntax syntax);  // "auto" / "plain" / "connectors"
bool ParseQuerySyntax(const std::string& name, QuerySyntax* syntax);

// What a query meant (Index::ExplainQuery).
struct QueryExplanation {
  // True when it was read as terms and connectors; false: plain words.
  bool connectors = false;
  // Why it fell back to plain words, which prefixes were capped, words the
  // index does not have.
  std::vector<std::string> notes;
};

// One condition on a metadata field. Built-in fields: id (the document id),
// kind, matter, parent_id, title; plus every field any indexed document
// carries (host fields such as a BEIR corpus' `doc_id`, and extracted ones
// such as `date`, `amount`, `party`). A metadata field named like a built-in
// one is shadowed by it.
// A document passes when any value of the field satisfies the condition.
// kGe / kLe compare strings bytewise, which orders ISO dates (YYYY-MM-DD)
// correctly: date ranges are `date>=2019-01-01` and `date<=2019-12-31`.
struct Filter {
  enum class Op : int { kEq = 0, kGe = 1, kLe = 2 };
  std::string field;
  Op op = Op::kEq;
  std::string value;

  // Parses "FIELD=VALUE", "FIELD>=VALUE" or "FIELD<=VALUE".
  static Result<Filter> Parse(const std::string& text);
};

// A filter's operator as traces, feedback records and the hosts' JSON
// write it: "=" / ">=" / "<=".
const char* FilterOpName(Filter::Op op);
bool ParseFilterOp(const std::string& name, Filter::Op* op);

struct SearchOptions {
  SearchMode mode = SearchMode::kHybrid;
  // Results returned. Default: 10.
  size_t top_k = 10;
  // All filters must hold (AND).
  std::vector<Filter> filters;
  // Ethical walls. When set, only chunks of documents whose matter is in the
  // set — or that belong to no matter — can be returned; chunks of other
  // matters never enter any candidate list (they are excluded inside the
  // lexical and the dense search, not after top-k). When unset, every matter
  // is visible: hosts serving more than one user must always set it.
  std::optional<std::set<std::string>> allowed_matters;
  // Default: weighted sum — it edged out RRF on both ContractNLI dev and
  // CUAD (docs/benchmarks.md); RRF is the robust alternative.
  Fusion fusion = Fusion::kWeightedSum;
  // RRF's constant. Default: 60 (Cormack et al. 2009).
  double rrf_k = 60;
  // Weight of the dense side in kWeightedSum. Default: 0.5.
  double dense_weight = 0.5;
  // Hybrid only (either fusion), for short queries (at most 6 terms after
  // stopwords: a mail's subject, a clause heading, a defined term): when the
  // lexical side's best candidate leads the second by at least this
  // fraction of its BM25 score (or is the only lexical candidate), it is
  // ranked first whatever the dense side prefers; the others keep their
  // fused order below it. The known item a lawyer types as it stands is
  // otherwise buried under passages the dense side likes better. Longer
  // queries are left to fusion. Mail's quoted and signature weights still
  // apply. Tuned on the development known-item tasks (docs/benchmarks.md,
  // "Hybrid never below BM25 on known items"). 0 disables; must be in
  // [0, 1] (InvalidArgument otherwise). Default: 0.01.
  double lexical_lead = 0.01;
  // At most one passage (the best) per document: "which contracts say X".
  // Default: false.
  bool one_per_document = false;
  // Candidates taken from each side before fusion; 0 means max(100, 4*top_k).
  // When collapsing near-duplicates or down-weighting mail parts leaves
  // fewer than top_k results, the search goes deeper (4x per round, up to
  // 4096 candidates per side, or every matching chunk on the lexical side).
  size_t candidates = 0;
  // Near-duplicate collapse: a result whose text shares at least this
  // fraction of its word 3-shingles (Jaccard similarity; texts of fewer
  // than three words compare their words) with a better-ranked result is
  // folded into it — boilerplate, newsletter lines, disclaimers, quoted
  // replies, the same clause in twenty templates. The better-ranked one
  // stays and lists the others in SearchHit::duplicates; the search goes on
  // until top_k distinct results are found. Only chunks behind the walls
  // and filters are ever compared, so a walled twin can neither stand in
  // for a visible passage nor push one out. Not applied with
  // one_per_document (documents are the unit there: "which contracts say
  // X" lists every contract). Default: 0.8; 0 disables.
  double collapse_jaccard = 0.8;
  // Mail: a chunk of quoted reply text or of a signature (ChunkRole) has
  // its score multiplied by these — the message's own words come first,
  // like BM25F's field weights (chunks never mix roles, so a per-chunk
  // weight is a per-field weight). 1 disables. Defaults: 0.5 and 0.3.
  double quoted_weight = 0.5;
  double signature_weight = 0.3;
  // How the query string is read. Default: kAuto (a query without
  // operators ranks exactly as a plain one).
  QuerySyntax syntax = QuerySyntax::kAuto;
  // HNSW search breadth; 0 means the index default.
  size_t ef_search = 0;
  // Whether hits carry their chunk's text, title, section and matter (ids,
  // scores and duplicates always). A caller that keeps the passages it was
  // given — the JS binding, whose add-in asks one contract question after
  // question — leaves them out and fills only the hits it lacks
  // (Index::FillHitText). Ask sessions and SearchAndRerank, which read the
  // passages, search with their text whatever this says. Default: true.
  bool hit_text = true;
  // Whether hits carry their chunk_id and doc_id (SearchHit::chunk, the
  // scores and duplicates always). Off, with hit_text off, for a caller that
  // keeps the hits it was given by their chunk's position (the JS binding):
  // copying two ids a hit was most of what its hits cost it; it fills the
  // hits it lacks with Index::FillHitText, which reads an empty chunk_id's
  // position. Ask sessions and SearchAndRerank search with the ids whatever
  // this says. Default: true.
  bool hit_ids = true;
  // For indexes whose embedder is external: the query's vector, computed by
  // the host with the same model as the chunk vectors. Ignored otherwise.
  std::vector<float> query_vector;
};

struct SearchHit {
  static constexpr uint32_t kNoChunk = 0xFFFFFFFF;

  std::string chunk_id;
  std::string doc_id;
  // The chunk's position in the index that gave this hit: the same chunk
  // has the same position for as long as that index is not changed (any
  // add, remove, vector or snapshot load may renumber), and no two chunks
  // share one. A host that keeps the fields of hits it has handed out (the
  // JS binding) keys them by it instead of hashing the id. kNoChunk when the
  // hit was not made by an index search.
  uint32_t chunk = kNoChunk;
  double score = 0;  // fused score (or the single side's score)
  double bm25 = 0;   // 0 when the chunk was not a lexical candidate
  double dense = 0;  // similarity; 0 when the chunk has no vector or no dense side ran
  // Chunk ids of near-duplicates folded into this hit (see
  // SearchOptions::collapse_jaccard), in rank order; all behind the walls.
  std::vector<std::string> duplicates;
  std::string text;
  std::string title;
  std::string section;
  std::string matter;
};

}  // namespace foldback

#endif  // FOLDBACK_SEARCH_H_
