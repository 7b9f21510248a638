// Benchmark-only wasm module (not part of the npm package): times the core's
// Index::Search inside WebAssembly, without JavaScript marshalling of the
// hits — the like-for-like counterpart of build/bin/snapshot_bench, used by
// wasm/bench/parity.mjs. Built next to the package, with the same flags (SIMD
// or scalar).
#include <emscripten/bind.h>
#include <emscripten/emscripten.h>
#include <emscripten/val.h>

#include <memory>
#include <string>
#include <vector>

#include "foldback/index.h"

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

}  // namespace

EMSCRIPTEN_BINDINGS(foldback_bench) {
  emscripten::function("load", &Load);
  emscripten::function("microsPerSearch", &MicrosPerSearch);
}
