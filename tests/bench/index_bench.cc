// Index benchmarks on the demo corpus (examples/corpus/cuad, 20 CUAD
// contracts): index build, BM25 / dense (HNSW) / hybrid queries, snapshot
// save and load, and metadata extraction throughput.
//
//   build/bin/index_bench --benchmark_min_time=0.2
//
// Queries are what a lawyer types when looking for a clause.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "embed/static_embedder.h"
#include "index/dense_index.h"
#include "index/index_internal.h"
#include "host/files.h"
#include "ingest/extract.h"
#include "text/metadata.h"

namespace foldback {
namespace {

const std::vector<std::string>& LegalQueries() {
  static const std::vector<std::string> q = {
      "termination for convenience upon thirty days written notice",
      "limitation of liability cap on damages",
      "governing law State of New York",
      "indemnify and hold harmless against third party claims",
      "assignment without prior written consent",
      "return or destroy confidential information",
      "exclusive license within the territory",
      "minimum insurance coverage requirements",
      "audit rights books and records",
      "non-compete after termination of this agreement",
      "most favored customer pricing",
      "change of control of either party",
      "minimum purchase commitment per year",
      "automatic renewal for successive one year terms",
      "warranty against defects in materials and workmanship",
      "intellectual property ownership of improvements",
      "revenue sharing royalty percentage of net sales",
      "source code escrow release conditions",
      "no solicitation of employees",
      "liquidated damages for late delivery",
  };
  return q;
}

const std::vector<Document>& DemoCorpus() {
  static const std::vector<Document>* docs = [] {
    auto* out = new std::vector<Document>;
    // FOLDBACK_BENCH_CORPUS: another folder of .txt files (e.g. all 510 CUAD
    // contracts) for figures at a larger scale.
    const char* env = std::getenv("FOLDBACK_BENCH_CORPUS");
    auto files = host::ListFiles(env && *env ? env : FOLDBACK_DEMO_CORPUS);
    if (!files.ok()) {
      std::fprintf(stderr, "%s\n", files.status().ToString().c_str());
      std::abort();
    }
    for (const std::string& f : *files) {
      if (ingest::Extension(f) != ".txt") continue;
      size_t slash = f.find_last_of('/');
      auto d = ingest::ExtractText(f, f.substr(slash + 1, f.size() - slash - 5));
      if (!d.ok()) {
        std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
        std::abort();
      }
      for (auto& doc : *d) out->push_back(std::move(doc));
    }
    if (out->empty()) {
      std::fprintf(stderr, "no .txt files in %s\n", FOLDBACK_DEMO_CORPUS);
      std::abort();
    }
    return out;
  }();
  return *docs;
}

size_t CorpusBytes() {
  size_t n = 0;
  for (const Document& d : DemoCorpus()) n += d.text.size();
  return n;
}

template <typename T>
T Check(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).value();
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
}

std::unique_ptr<Index> Build(EmbedderKind embedder) {
  IndexOptions o;
  o.dense.embedder = embedder;
  auto index = Check(Index::Create(o));
  for (const Document& d : DemoCorpus()) Check(index->Add(d).status());
  Check(index->BuildDense());
  return index;
}

// One index with BM25 and the static embedder's HNSW graph, shared by the
// query benchmarks.
const Index& SharedIndex() {
  static const Index* index = Build(EmbedderKind::kStatic).release();
  return *index;
}

// Chunking, metadata extraction, analysis and BM25 postings.
void BM_IndexBuildLexical(benchmark::State& state) {
  DemoCorpus();
  for (auto _ : state) {
    auto index = Build(EmbedderKind::kNone);
    benchmark::DoNotOptimize(index.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * CorpusBytes()));
  state.counters["docs"] = static_cast<double>(DemoCorpus().size());
}
BENCHMARK(BM_IndexBuildLexical)->Unit(benchmark::kMillisecond);

// The above plus training the static embedder and building the HNSW graph.
void BM_IndexBuildWithDense(benchmark::State& state) {
  DemoCorpus();
  for (auto _ : state) {
    auto index = Build(EmbedderKind::kStatic);
    benchmark::DoNotOptimize(index.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * CorpusBytes()));
}
BENCHMARK(BM_IndexBuildWithDense)->Unit(benchmark::kMillisecond);

void RunQueries(benchmark::State& state, SearchMode mode) {
  const Index& index = SharedIndex();
  SearchOptions o;
  o.mode = mode;
  o.top_k = 10;
  const auto& queries = LegalQueries();
  size_t k = 0;
  size_t hits = 0;
  for (auto _ : state) {
    auto r = index.Search(queries[k++ % queries.size()], o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    hits += r->size();
    benchmark::DoNotOptimize(r->data());
  }
  state.counters["chunks"] = static_cast<double>(index.Stats().chunks);
  state.counters["hits/query"] =
      static_cast<double>(hits) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.SetItemsProcessed(state.iterations());
}

void BM_QueryBm25(benchmark::State& state) { RunQueries(state, SearchMode::kBm25); }
BENCHMARK(BM_QueryBm25)->Unit(benchmark::kMicrosecond);

// Queries for the strategy benchmark: FOLDBACK_BENCH_QUERIES, a file of
// one query a line (e.g. CUAD's 41 category descriptions, what the serve
// load sends), else the legal queries above.
const std::vector<std::string>& StrategyQueries() {
  static const std::vector<std::string>* q = [] {
    auto* out = new std::vector<std::string>;
    const char* env = std::getenv("FOLDBACK_BENCH_QUERIES");
    if (env && *env) {
      auto text = host::ReadFile(env);
      if (!text.ok()) {
        std::fprintf(stderr, "%s\n", text.status().ToString().c_str());
        std::abort();
      }
      size_t at = 0;
      while (at < text->size()) {
        size_t nl = text->find('\n', at);
        if (nl == std::string::npos) nl = text->size();
        if (nl > at) out->push_back(text->substr(at, nl - at));
        at = nl + 1;
      }
    }
    if (out->empty()) *out = LegalQueries();
    return out;
  }();
  return *q;
}

// BM25 only, the documents in two matters by turns (as the serve load's
// matter-a / matter-b split): the lexical strategies without building the
// dense side.
// The demo corpus, BM25 only, document i in matter `matter_of(i)`.
template <typename MatterOf>
const Index* DemoIndexInMatters(MatterOf matter_of) {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto built = Check(Index::Create(o));
  const auto& docs = DemoCorpus();
  for (size_t i = 0; i < docs.size(); ++i) {
    Document d = docs[i];
    d.matter = matter_of(i);
    Check(built->Add(d).status());
  }
  return built.release();
}

const Index& LexicalIndexInTwoMatters() {
  static const Index* index =
      DemoIndexInMatters([](size_t i) { return std::string(i % 2 ? "matter-b" : "matter-a"); });
  return *index;
}

// Sets the strategy a benchmark's arg 0 names (and the window size that
// FOLDBACK_BENCH_WINDOW_BITS asks for); returns its name for the label.
const char* UseStrategy(index::LexicalIndex& lex, int64_t arg) {
  const index::LexicalIndex::Strategy strategies[] = {
      index::LexicalIndex::Strategy::kExhaustive, index::LexicalIndex::Strategy::kMaxScore,
      index::LexicalIndex::Strategy::kBlockMax, index::LexicalIndex::Strategy::kBestFirst};
  const char* names[] = {"exhaustive", "maxscore", "blockmax", "bestfirst"};
  lex.set_strategy(strategies[arg]);
  if (const char* bits = std::getenv("FOLDBACK_BENCH_WINDOW_BITS"))
    lex.set_window_bits(std::atoi(bits));
  return names[arg];
}

// The lexical strategies side by side, through Index::Search (the query's
// analysis, the mask, the hits with their text): arg 0 = exhaustive (0),
// MaxScore (1), block-max MaxScore with windows in chunk order (2) or best
// first (3); arg 1 = top 10 chunks, or top 100
// documents as `foldback eval` asks; arg 2 = no wall (0) or the wall of
// one matter (1: half the documents, walled statistics).
void BM_QueryBm25Strategy(benchmark::State& state) {
  const Index& index = LexicalIndexInTwoMatters();
  auto& lex = const_cast<index::LexicalIndex&>(index.rep()->lexical);
  const char* name = UseStrategy(lex, state.range(0));
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = static_cast<size_t>(state.range(1));
  o.one_per_document = state.range(1) == 100;
  if (state.range(2)) o.allowed_matters = std::set<std::string>{"matter-a"};
  const auto& queries = StrategyQueries();
  size_t k = 0;
  for (auto _ : state) {
    auto r = index.Search(queries[k++ % queries.size()], o);
    benchmark::DoNotOptimize(r.ok());
  }
  lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
  state.SetLabel(std::string(name) + " top " + std::to_string(state.range(1)) +
                 (o.one_per_document ? " documents" : " chunks") +
                 (state.range(2) ? ", wall" : ""));
}
BENCHMARK(BM_QueryBm25Strategy)
    ->ArgsProduct({{0, 1, 2, 3}, {10, 100}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

// The lexical engine alone (LexicalIndex::Search on analysed queries and a
// built mask): what the strategies differ in. Same args as above.
void BM_LexicalStrategy(benchmark::State& state) {
  const Index::Rep& r = *LexicalIndexInTwoMatters().rep();
  auto& lex = const_cast<index::LexicalIndex&>(r.lexical);
  const char* name = UseStrategy(lex, state.range(0));
  SearchOptions o;
  if (state.range(2)) o.allowed_matters = std::set<std::string>{"matter-a"};
  index::ChunkMask mask;
  Check(r.BuildMask(o, &mask));
  std::vector<std::vector<index::WeightedTerm>> queries;
  for (const std::string& q : StrategyQueries()) queries.push_back(r.QueryTerms(q));
  const size_t k = static_cast<size_t>(state.range(1));
  const std::vector<uint32_t>* group = k == 100 ? &r.chunk_doc : nullptr;
  size_t i = 0;
  for (auto _ : state) {
    auto hits = lex.Search(queries[i++ % queries.size()], mask, k, group);
    benchmark::DoNotOptimize(hits.data());
  }
  lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
  state.SetLabel(std::string(name) + " top " + std::to_string(k) +
                 (group ? " documents" : " chunks") + (state.range(2) ? ", wall" : ""));
}
BENCHMARK(BM_LexicalStrategy)
    ->ArgsProduct({{0, 1, 2, 3}, {10, 100}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

// The demo corpus in four matters (m0..m3, by document).
const Index& WalledIndex() {
  static const Index* walled =
      DemoIndexInMatters([](size_t i) { return "m" + std::to_string(i % 4); });
  return *walled;
}

// The cost of walled statistics: the same walled searches (documents in
// four matters, two of them allowed) with the BM25 statistics of the
// visible documents (1: as searches run) or of the whole index (0: the
// pre-issue-13 behaviour, the mask's statistics dropped). Arg 2: top 10
// chunks or top 100 documents. Both build the mask (walls) each query.
void BM_QueryBm25WalledStats(benchmark::State& state) {
  const Index::Rep& r = *WalledIndex().rep();
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.allowed_matters = std::set<std::string>{"m0", "m1"};
  o.one_per_document = state.range(1) == 100;
  const auto& queries = LegalQueries();
  size_t k = 0;
  for (auto _ : state) {
    index::ChunkMask mask;
    Check(r.BuildMask(o, &mask));
    if (!state.range(0)) mask.stats.reset();
    auto hits = r.lexical.Search(r.QueryTerms(queries[k++ % queries.size()]), mask,
                                 static_cast<size_t>(state.range(1)), o.one_per_document ? &r.chunk_doc : nullptr);
    benchmark::DoNotOptimize(hits.data());
  }
  state.SetLabel(std::string(state.range(0) ? "visible statistics" : "whole-index statistics") + ", top " +
                 std::to_string(state.range(1)));
}
BENCHMARK(BM_QueryBm25WalledStats)->Args({0, 10})->Args({1, 10})->Args({0, 100})->Args({1, 100})
    ->Unit(benchmark::kMicrosecond);

// The walled mask alone (chunks allowed + the visible chunks' statistics:
// one byte per chunk each and a pass over the visible chunks' lengths),
// which both variants above pay.
void BM_BuildMaskWalled(benchmark::State& state) {
  const Index& index = WalledIndex();
  SearchOptions o;
  o.allowed_matters = std::set<std::string>{"m0", "m1"};
  for (auto _ : state) {
    index::ChunkMask mask;
    Check(index.rep()->BuildMask(o, &mask));
    benchmark::DoNotOptimize(mask.allowed.data());
  }
  state.counters["chunks"] = static_cast<double>(index.rep()->chunks.size());
}
BENCHMARK(BM_BuildMaskWalled)->Unit(benchmark::kMicrosecond);

void BM_QueryDense(benchmark::State& state) { RunQueries(state, SearchMode::kDense); }
BENCHMARK(BM_QueryDense)->Unit(benchmark::kMicrosecond);

void BM_QueryHybrid(benchmark::State& state) { RunQueries(state, SearchMode::kHybrid); }
BENCHMARK(BM_QueryHybrid)->Unit(benchmark::kMicrosecond);

// Hybrid, one passage per document ("which contracts say X", what `foldback
// eval` scores at collection level): arg = top 10 or top 100 documents.
// With FOLDBACK_BENCH_CORPUS (all 510 CUAD contracts) and
// FOLDBACK_BENCH_QUERIES (its 41 category descriptions), the search whose
// documents' dense scores come from their best chunks (search.cc).
void BM_QueryHybridDocuments(benchmark::State& state) {
  const Index& index = SharedIndex();
  SearchOptions o;
  o.top_k = static_cast<size_t>(state.range(0));
  o.one_per_document = true;
  const auto& queries = StrategyQueries();
  size_t k = 0;
  for (auto _ : state) {
    auto r = index.Search(queries[k++ % queries.size()], o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->data());
  }
  state.counters["chunks"] = static_cast<double>(index.Stats().chunks);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QueryHybridDocuments)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

// What the search above adds per query: 20 documents' chunks scanned for
// the most similar one (search.cc's kBestChunkDocuments), here documents
// 0-19 of the corpus, the query vectors of the same queries made beforehand.
void BM_BestChunkOf20Documents(benchmark::State& state) {
  const Index& index = SharedIndex();
  const Index::Rep& rep = *index.rep();
  std::vector<std::vector<float>> vectors;
  for (const std::string& q : StrategyQueries()) {
    std::vector<float> v = Check(rep.QueryVector(q, SearchOptions()));
    double n = 0;
    for (float f : v) n += static_cast<double>(f) * f;
    for (float& f : v) f = static_cast<float>(f / std::sqrt(n));
    vectors.push_back(std::move(v));
  }
  const size_t docs = std::min<size_t>(20, rep.docs.size());
  size_t k = 0, scanned = 0;
  for (auto _ : state) {
    const std::vector<float>& v = vectors[k++ % vectors.size()];
    for (size_t d = 0; d < docs; ++d) {
      std::pair<uint32_t, double> best;
      benchmark::DoNotOptimize(
          rep.dense->MostSimilarOf(v.data(), rep.docs[d].chunks, index::ChunkMask{}, &best));
      scanned += rep.docs[d].chunks.size();
    }
  }
  state.counters["chunks/query"] =
      static_cast<double>(scanned) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_BestChunkOf20Documents)->Unit(benchmark::kMicrosecond);

// A filtered query (one contract, as ContractNLI and clause-level CUAD ask).
void BM_QueryBm25ScopedToOneDocument(benchmark::State& state) {
  const Index& index = SharedIndex();
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.filters = {{"id", Filter::Op::kEq, DemoCorpus()[3].id}};
  const auto& queries = LegalQueries();
  size_t k = 0;
  for (auto _ : state) {
    auto r = index.Search(queries[k++ % queries.size()], o);
    benchmark::DoNotOptimize(r.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QueryBm25ScopedToOneDocument)->Unit(benchmark::kMicrosecond);

void BM_SnapshotSave(benchmark::State& state) {
  const Index& index = SharedIndex();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = Check(index.Snapshot());
    bytes = s.size();
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_SnapshotSave)->Unit(benchmark::kMillisecond);

void BM_SnapshotLoad(benchmark::State& state) {
  static const std::string snapshot = Check(SharedIndex().Snapshot());
  for (auto _ : state) {
    auto index = Check(Index::FromSnapshot(snapshot));
    benchmark::DoNotOptimize(index.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * snapshot.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(snapshot.size());
}
BENCHMARK(BM_SnapshotLoad)->Unit(benchmark::kMillisecond);

// Metadata extraction over each demo contract (what Index::Add does).
void BM_ExtractMetadataDemoCorpus(benchmark::State& state) {
  const auto& docs = DemoCorpus();
  for (auto _ : state) {
    for (const Document& d : docs) {
      Metadata md;
      text::ExtractMetadata(d.text, d.kind, &md);
      benchmark::DoNotOptimize(md.size());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * CorpusBytes()));
}
BENCHMARK(BM_ExtractMetadataDemoCorpus)->Unit(benchmark::kMillisecond);

// One 50 MB document. Real text: the demo corpus repeated, so every field
// fills up to kMaxValuesPerField early and the scanners stop. "No matches":
// the same text with digits, quotes, currency signs and month names gone, so
// every scanner reads to the end. "Adversarial": quotes and parentheses only.
std::string FiftyMegabytes(int kind) {
  constexpr size_t kSize = 50u << 20;
  std::string out;
  out.reserve(kSize + 4096);
  if (kind == 2) {
    while (out.size() < kSize) out += "(\"\"(\xE2\x80\x9C\"the \"";
    return out;
  }
  while (out.size() < kSize) {
    for (const Document& d : DemoCorpus()) {
      if (kind == 0) {
        out += d.text;
      } else {
        for (char c : d.text) {
          unsigned char u = static_cast<unsigned char>(c);
          bool keep = (c >= 'a' && c <= 'z') || c == ' ' || c == '\n' || c == ',' || c == '.';
          out.push_back(keep ? c : (u >= 0x80 ? ' ' : 'x'));
        }
      }
      if (out.size() >= kSize) break;
    }
  }
  out.resize(kSize);
  if (kind == 1) {
    // Month names and ordinal words would still start date attempts.
    for (const char* w : {"january", "february", "march", "april", "may", "june", "july", "august",
                          "september", "october", "november", "december", "first", "second",
                          "third", "between", "among", "means", "section"}) {
      std::string word(w);
      for (size_t p = out.find(word); p != std::string::npos; p = out.find(word, p + 1)) {
        out[p] = 'q';
      }
    }
  }
  return out;
}

void BM_ExtractMetadata50MB(benchmark::State& state) {
  std::string text = FiftyMegabytes(static_cast<int>(state.range(0)));
  size_t values = 0;
  for (auto _ : state) {
    Metadata md;
    text::ExtractMetadata(text, DocKind::kDocument, &md);
    values = 0;
    for (const auto& [k, v] : md) values += v.size();
    benchmark::DoNotOptimize(values);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["values"] = static_cast<double>(values);
  state.SetLabel(state.range(0) == 0   ? "real text"
                 : state.range(0) == 1 ? "no matches"
                                       : "adversarial");
}
BENCHMARK(BM_ExtractMetadata50MB)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// HNSW recall@10 against exact search, with chunk texts as queries (every
// 7th chunk, so queries look like the corpus), at the default ef_search.
// HNSW recall@10 against exact search, with queries held apart from the
// index: every 10th document is left out of the index and its passages
// (up to 300, evenly spread) are the queries, plus the 20 legal queries
// above. (This used to query with indexed chunks, each of which finds
// itself: an optimistic figure.)
void BM_HnswRecallAt10(benchmark::State& state) {
  IndexOptions o;
  auto held_index = Check(Index::Create(o));
  std::vector<std::string> held_texts;
  const auto& corpus = DemoCorpus();
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (i % 10 == 9) {
      auto probe = Check(Index::Create(IndexOptions()));  // the same chunker cuts the held-out text
      Check(probe->Add(corpus[i]).status());
      for (const Chunk* c : probe->ChunksOf(corpus[i].id)) held_texts.emplace_back(c->text);
    } else {
      Check(held_index->Add(corpus[i]).status());
    }
  }
  Check(held_index->BuildDense());
  const Index::Rep& r = *held_index->rep();
  std::vector<std::vector<float>> queries;
  size_t step = std::max<size_t>(1, held_texts.size() / 300);
  for (size_t i = 0; i < held_texts.size() && queries.size() < 300; i += step) {
    queries.push_back(r.embedder->Embed(held_texts[i], r.analyzer));
  }
  for (const auto& q : LegalQueries()) queries.push_back(r.embedder->Embed(q, r.analyzer));
  index::ChunkMask all;
  double recall = 0;
  for (auto _ : state) {
    size_t found = 0, total = 0;
    for (const auto& q : queries) {
      auto approx = r.dense->Search(q.data(), 10, held_index->options().dense.ef_search, all);
      auto exact = r.dense->SearchExact(q.data(), 10, all);
      for (const auto& e : exact) {
        for (const auto& a : approx) found += a.first == e.first;
      }
      total += exact.size();
    }
    recall = total ? static_cast<double>(found) / static_cast<double>(total) : 0;
  }
  state.counters["recall@10"] = recall;
  state.counters["queries"] = static_cast<double>(queries.size());
  state.counters["vectors"] = static_cast<double>(r.dense->size());
  state.counters["dense_bytes_per_chunk"] =
      static_cast<double>(r.dense->memory_bytes()) / static_cast<double>(std::max<size_t>(1, r.dense->size()));
}
BENCHMARK(BM_HnswRecallAt10)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace foldback

BENCHMARK_MAIN();
