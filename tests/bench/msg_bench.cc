// Outlook .msg reading speed (MB/s of .msg file): the core's reader alone
// (ParseMsg), to Documents (MsgToDocuments), and the native host's whole
// path (attachments through its extractors); the real Outlook message and
// the generated all-properties file. The same files through the JS package:
// wasm/bench/msg_bench.mjs.
//
//   build/bin/msg_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "foldback/msg.h"
#include "ingest/extract.h"

namespace {

std::string ReadFileOrDie(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) std::abort();
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

const char* kFiles[] = {"/msg/mail-parser/mail_outlook_1.msg", "/msg/generated/all_properties.msg"};

std::string File(int i) { return ReadFileOrDie(std::string(FOLDBACK_TEST_DATA) + kFiles[i]); }

void BM_ParseMsg(benchmark::State& state) {
  std::string bytes = File(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = foldback::ParseMsg(bytes);
    if (!m.ok()) state.SkipWithError(m.status().ToString().c_str());
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_ParseMsg)->Arg(0)->Arg(1);

void BM_MsgToDocuments(benchmark::State& state) {
  std::string bytes = File(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = foldback::MsgToDocuments(bytes, "x.msg", "x");
    if (!m.ok()) state.SkipWithError(m.status().ToString().c_str());
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_MsgToDocuments)->Arg(0)->Arg(1);

void BM_NativeExtractMsg(benchmark::State& state) {
  std::string bytes = File(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto ex = foldback::ingest::ExtractBytes(bytes, "x.msg", "x");
    if (!ex.ok()) state.SkipWithError(ex.status().ToString().c_str());
    benchmark::DoNotOptimize(ex);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_NativeExtractMsg)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
