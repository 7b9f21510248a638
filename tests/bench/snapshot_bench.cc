// Query latency on a given snapshot: the native side of the native-vs-wasm
// parity benchmark (wasm/bench/parity.mjs runs the same snapshot and the
// same queries in wasm, SIMD and scalar).
//
//   FOLDBACK_BENCH_SNAPSHOT=idx/index.fbsnap FOLDBACK_BENCH_QUERIES=queries.txt
//   build/bin/snapshot_bench --benchmark_format=json
//
// Without FOLDBACK_BENCH_SNAPSHOT the demo corpus is indexed (static
// embedder) and its snapshot used; without FOLDBACK_BENCH_QUERIES a built-in
// list of clause queries is. Each iteration runs every query once; the
// "per_query" counter is the mean time of one search.
//
// BM_ScopedSearch is the native twin of wasm/bench/search_bench.mjs (which
// writes its inputs and runs it): FOLDBACK_BENCH_SCOPED names a file of
// `scope<TAB>query` lines, each query searched in bm25 mode, top 10, with
// the filter FOLDBACK_BENCH_SCOPE_FIELD (doc_id unless told) == scope, one
// result per document (/1) or passages (/0). Every call is timed — options
// built, Index::Search, the hits with their text, freed — and "p50_us" is
// the median call, as the JS side reports it. BM_ScopedHybridSearch: the
// same in hybrid mode.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "foldback/index.h"
#include "host/files.h"
#include "ingest/extract.h"
#include "snapshot.pb.h"
#include "snapshot_format2.h"
#include "store/bytes.h"
#include "store/crc32c.h"
#include "text/analyzer.h"

namespace foldback {
namespace {

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "snapshot_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

std::vector<std::string> Queries() {
  const char* path = std::getenv("FOLDBACK_BENCH_QUERIES");
  if (path && *path) {
    auto data = host::ReadFile(path);
    if (!data.ok()) Die(data.status());
    std::vector<std::string> out;
    size_t start = 0;
    while (start < data->size()) {
      size_t end = data->find('\n', start);
      if (end == std::string::npos) end = data->size();
      if (end > start) out.push_back(data->substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  return {"termination for convenience upon thirty days written notice",
          "limitation of liability cap on damages",
          "governing law State of New York",
          "indemnify and hold harmless against third party claims",
          "assignment without prior written consent",
          "return or destroy confidential information"};
}

std::string SnapshotBytes() {
  const char* path = std::getenv("FOLDBACK_BENCH_SNAPSHOT");
  if (path && *path) {
    auto data = host::ReadFile(path);
    if (!data.ok()) Die(data.status());
    return std::move(data.value());
  }
  auto index = Index::Create();
  if (!index.ok()) Die(index.status());
  auto files = host::ListFiles(FOLDBACK_DEMO_CORPUS);
  if (!files.ok()) Die(files.status());
  for (const std::string& f : *files) {
    if (ingest::Extension(f) != ".txt") continue;
    auto docs = ingest::ExtractText(f, f);
    if (!docs.ok()) Die(docs.status());
    for (const Document& d : *docs) {
      auto r = (*index)->Add(d);
      if (!r.ok()) Die(r.status());
    }
  }
  Status s = (*index)->BuildDense();
  if (!s.ok()) Die(s);
  auto bytes = (*index)->Snapshot();
  if (!bytes.ok()) Die(bytes.status());
  return std::move(bytes.value());
}

const std::string& Bytes() {
  static const std::string* bytes = new std::string(SnapshotBytes());
  return *bytes;
}

const Index& Shared() {
  static const Index* index = [] {
    auto r = Index::FromSnapshot(Bytes());
    if (!r.ok()) Die(r.status());
    return r.value().release();
  }();
  return *index;
}

void BM_Search(benchmark::State& state, SearchMode mode) {
  const Index& index = Shared();
  const std::vector<std::string> queries = Queries();
  SearchOptions o;
  o.mode = mode;
  o.top_k = 10;
  size_t hits = 0;
  for (auto _ : state) {
    for (const std::string& q : queries) {
      auto r = index.Search(q, o);
      if (!r.ok()) Die(r.status());
      hits += r->size();
      benchmark::DoNotOptimize(r->data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * queries.size()));
  state.counters["per_query"] = benchmark::Counter(
      static_cast<double>(state.iterations() * queries.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["hits"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK_CAPTURE(BM_Search, bm25, SearchMode::kBm25)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Search, dense, SearchMode::kDense)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Search, hybrid, SearchMode::kHybrid)->Unit(benchmark::kMicrosecond)->UseRealTime();

std::vector<std::pair<std::string, std::string>> ScopedQueries() {
  std::vector<std::pair<std::string, std::string>> out;
  const char* path = std::getenv("FOLDBACK_BENCH_SCOPED");
  if (!path || !*path) return out;
  auto data = host::ReadFile(path);
  if (!data.ok()) Die(data.status());
  size_t start = 0;
  while (start < data->size()) {
    size_t end = data->find('\n', start);
    if (end == std::string::npos) end = data->size();
    size_t tab = data->find('\t', start);
    if (tab < end)
      out.emplace_back(data->substr(start, tab - start), data->substr(tab + 1, end - tab - 1));
    start = end + 1;
  }
  return out;
}

void ScopedSearch(benchmark::State& state, SearchMode mode) {
  const auto queries = ScopedQueries();
  if (queries.empty()) {
    state.SkipWithError("FOLDBACK_BENCH_SCOPED names no scope<TAB>query file");
    return;
  }
  const char* f = std::getenv("FOLDBACK_BENCH_SCOPE_FIELD");
  const std::string field = f && *f ? f : "doc_id";
  const Index& index = Shared();
  std::vector<double> micros;
  size_t hits = 0;
  // One vector for every search (Index::Search's second form), as the JS
  // package's search keeps one: the hits' strings keep their capacity.
  std::vector<SearchHit> found;
  for (auto _ : state) {
    for (const auto& [scope, q] : queries) {
      auto t0 = std::chrono::steady_clock::now();
      {
        SearchOptions o;
        o.mode = mode;
        o.top_k = 10;
        o.one_per_document = state.range(0) != 0;
        o.filters.push_back({field, Filter::Op::kEq, scope});
        Status st = index.Search(q, o, &found);
        if (!st.ok()) Die(st);
        hits += found.size();
        benchmark::DoNotOptimize(found.data());
      }
      micros.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::nth_element(micros.begin(), micros.begin() + micros.size() / 2, micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["hits"] =
      static_cast<double>(hits) / static_cast<double>(state.iterations() * queries.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * queries.size()));
}
// A query's words read into terms (Analyzer::ForEachTerm), the scoped
// queries' texts; the wasm twin is core_bench.cc's queryWordsNanos.
void BM_QueryWords(benchmark::State& state) {
  const auto queries = ScopedQueries();
  if (queries.empty()) {
    state.SkipWithError("FOLDBACK_BENCH_SCOPED names no scope<TAB>query file");
    return;
  }
  const text::Analyzer analyzer{TextOptions{}};
  size_t terms = 0;
  for (auto _ : state) {
    for (const auto& [scope, q] : queries) {
      analyzer.ForEachTerm(q, [&](std::string_view t) { terms += t.size(); });
    }
  }
  benchmark::DoNotOptimize(terms);
  state.counters["per_query"] = benchmark::Counter(
      static_cast<double>(state.iterations() * queries.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_QueryWords);

void BM_ScopedSearch(benchmark::State& state) { ScopedSearch(state, SearchMode::kBm25); }
BENCHMARK(BM_ScopedSearch)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond)->UseRealTime();
// The same scoped queries in the default (hybrid) mode: the dense side's
// cost of a scope.
void BM_ScopedHybridSearch(benchmark::State& state) { ScopedSearch(state, SearchMode::kHybrid); }
BENCHMARK(BM_ScopedHybridSearch)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_LoadSnapshot(benchmark::State& state) {
  const std::string& bytes = Bytes();
  for (auto _ : state) {
    auto r = Index::FromSnapshot(bytes);
    if (!r.ok()) Die(r.status());
    benchmark::DoNotOptimize(r.value().get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
  state.counters["bytes"] = static_cast<double>(bytes.size());
}
BENCHMARK(BM_LoadSnapshot)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same index as a format-2 snapshot (the lexical part one message of
// fixed-width arrays, as written before format 3's varint-coded pieces).
void BM_LoadSnapshotFormat2(benchmark::State& state) {
  static const std::string* v2 = new std::string(testing::AsFormat2(Shared()));
  if (v2->empty()) Die(Status::Internal("format 2 snapshot"));
  for (auto _ : state) {
    auto r = Index::FromSnapshot(*v2);
    if (!r.ok()) Die(r.status());
    benchmark::DoNotOptimize(r.value().get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * v2->size()));
  state.counters["bytes"] = static_cast<double>(v2->size());
}
BENCHMARK(BM_LoadSnapshotFormat2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Index::Snapshot of the loaded index: the bytes a host writes to disk.
void BM_SaveSnapshot(benchmark::State& state) {
  static const Index* index = [] {
    auto r = Index::FromSnapshot(Bytes());
    if (!r.ok()) Die(r.status());
    return r.value().release();
  }();
  size_t size = 0;
  for (auto _ : state) {
    auto bytes = index->Snapshot();
    if (!bytes.ok()) Die(bytes.status());
    size = bytes->size();
    benchmark::DoNotOptimize(bytes->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_SaveSnapshot)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same snapshot without its stored near-duplicate sketches (as written
// before they were stored): the load shingles every chunk's text.
void BM_LoadSnapshotComputingSketches(benchmark::State& state) {
  static const std::string* legacy = [] {
    pb::Snapshot snap;
    if (!snap.ParseFromString(std::string(testing::SnapshotPayload(Bytes()))))
      Die(Status::Corruption("bench snapshot"));
    snap.clear_dup_sketches();
    snap.clear_dup_sketch_scheme();
    return new std::string(testing::SealSnapshot(snap.format_version(), snap.SerializeAsString()));
  }();
  for (auto _ : state) {
    auto r = Index::FromSnapshot(*legacy);
    if (!r.ok()) Die(r.status());
    benchmark::DoNotOptimize(r.value().get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * legacy->size()));
}
BENCHMARK(BM_LoadSnapshotComputingSketches)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace foldback

BENCHMARK_MAIN();
