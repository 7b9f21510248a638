// Benchmark-only wasm module (not part of the npm package): times the core's
// Index::Search and AskSession inside WebAssembly, without JavaScript
// marshalling — the like-for-like counterparts of build/bin/snapshot_bench
// and build/bin/ask_bench, used by wasm/bench/parity.mjs and
// wasm/bench/ask_bench.mjs. Built next to the package, with the same flags
// (SIMD or scalar).
#include <emscripten/bind.h>
#include <emscripten/emscripten.h>
#include <emscripten/val.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "foldback/ask.h"
#include "foldback/index.h"
#include "foldback/program.h"
#include "text/analyzer.h"

using emscripten::val;

namespace {

std::unique_ptr<foldback::Index> g_index;

// Loads a snapshot; returns "" or the error.
std::string Load(val bytes) {
  size_t n = bytes["length"].as<size_t>();
  std::string data(n, '\0');
  val view(emscripten::typed_memory_view(n, reinterpret_cast<unsigned char*>(data.data())));
  view.call<void>("set", bytes);
  auto r = foldback::Index::FromSnapshot(data);
  if (!r.ok()) return r.status().ToString();
  g_index = std::move(r.value());
  return "";
}

// Runs every query `rounds` times in `mode`, top 10; returns the mean
// microseconds per search (wall clock, as snapshot_bench's real time).
double MicrosPerSearch(val queries, std::string mode, int rounds) {
  std::vector<std::string> qs;
  size_t n = queries["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) qs.push_back(queries[i].as<std::string>());
  foldback::SearchOptions o;
  foldback::ParseSearchMode(mode, &o.mode);
  o.top_k = 10;
  size_t hits = 0;
  double start = emscripten_get_now();
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& q : qs) {
      auto res = g_index->Search(q, o);
      if (res.ok()) hits += res->size();
    }
  }
  double elapsed_ms = emscripten_get_now() - start;
  return hits == 0 ? -1 : elapsed_ms * 1000.0 / (static_cast<double>(rounds) * static_cast<double>(qs.size()));
}

// A query's words read into terms (Analyzer::ForEachTerm: folded, the
// stopwords dropped, stemmed), every query `rounds` times; returns the mean
// nanoseconds per query, or -1 when no term was read. The native twin is
// build/bin/snapshot_bench's BM_QueryWords.
double QueryWordsNanos(val queries, int rounds) {
  std::vector<std::string> qs;
  size_t n = queries["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) qs.push_back(queries[i].as<std::string>());
  const foldback::text::Analyzer analyzer{foldback::TextOptions{}};
  size_t terms = 0;
  double start = emscripten_get_now();
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& q : qs) analyzer.ForEachTerm(q, [&](std::string_view t) { terms += t.size(); });
  }
  double elapsed_ms = emscripten_get_now() - start;
  return terms == 0 ? -1 : elapsed_ms * 1e6 / (static_cast<double>(rounds) * static_cast<double>(qs.size()));
}

// Scoped searches as wasm/bench/search_bench.mjs makes them through the
// package, timed here without any JS: for each (query, scope) pair,
// Index::Search in bm25 mode, top `top_k`, filtered to `field` == scope,
// one result per document or passages; the hits (text included) are what
// Index::Search returns. Returns every call's microseconds in query order
// (the caller takes the median), or an empty array on an error. The native
// twin is build/bin/snapshot_bench's BM_ScopedSearch.
val ScopedMicros(val queries, val scopes, std::string field, int top_k, bool one_document) {
  std::vector<std::string> qs, ss;
  size_t n = queries["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    qs.push_back(queries[i].as<std::string>());
    ss.push_back(scopes[i].as<std::string>());
  }
  std::vector<double> micros;
  micros.reserve(n);
  size_t hits = 0;
  // One vector for every search, as the package's search keeps one
  // (Index::Search's second form: the hits' strings keep their capacity).
  std::vector<foldback::SearchHit> found;
  for (size_t i = 0; i < n; ++i) {
    double start = emscripten_get_now();
    {
      foldback::SearchOptions o;
      o.mode = foldback::SearchMode::kBm25;
      o.top_k = static_cast<size_t>(top_k);
      o.one_per_document = one_document;
      o.filters.push_back({field, foldback::Filter::Op::kEq, ss[i]});
      if (!g_index->Search(qs[i], o, &found).ok()) return val::array();
      hits += found.size();
    }
    micros.push_back((emscripten_get_now() - start) * 1000.0);
  }
  if (hits == 0) return val::array();
  return val(emscripten::typed_memory_view(micros.size(), micros.data())).call<val>("slice");
}

// 2-hop asks as build/bin/ask_bench runs them (BM25, depth = top_k, every
// need answered at once with a canned reply) for about `seconds`; returns the
// mean microseconds per hop (wall clock), or -1 on an error.
double AskMicrosPerHop(int depth, std::string rewrite, bool walls, double seconds) {
  foldback::AskOptions o;
  o.hops = 2;
  o.depth = static_cast<uint32_t>(depth);
  o.top_k = o.depth;
  if (!foldback::ParseRewriteMode(rewrite, &o.rewrite)) return -1;
  o.search.mode = foldback::SearchMode::kBm25;
  if (walls) {
    std::set<std::string> allowed;
    for (int m = 0; m < 25; ++m) allowed.insert("m" + std::to_string(m));
    o.search.allowed_matters = allowed;
  }
  foldback::Program program = foldback::Program::Default();
  const char* replies[] = {"[[ ## query ## ]]\ntermination notice party agreement\n\n[[ ## completed ## ]]",
                           "[[ ## query ## ]]\nfees payment invoice days\n\n[[ ## completed ## ]]"};
  size_t hops = 0;
  double start = emscripten_get_now();
  while (emscripten_get_now() - start < seconds * 1000) {
    auto s = foldback::AskSession::Start(*g_index, "Can either party terminate the agreement early?", o, 0,
                                         &program);
    if (!s.ok()) return -1;
    int turn = 0;
    while (!(*s)->done()) {
      for (const foldback::Need& n : (*s)->TakeNeeds()) {
        foldback::NeedResult r;
        r.text = replies[turn++ < 1 ? 0 : 1];
        (void)(*s)->Provide(n.id, std::move(r), 0);
      }
    }
    hops += (*s)->result().trace.hops.size();
  }
  double elapsed_ms = emscripten_get_now() - start;
  return hops == 0 ? -1 : elapsed_ms * 1000.0 / static_cast<double>(hops);
}

}  // namespace

EMSCRIPTEN_BINDINGS(foldback_bench) {
  emscripten::function("load", &Load);
  emscripten::function("microsPerSearch", &MicrosPerSearch);
  emscripten::function("askMicrosPerHop", &AskMicrosPerHop);
  emscripten::function("scopedMicros", &ScopedMicros);
  emscripten::function("queryWordsNanos", &QueryWordsNanos);
}
