// The native LLM host against the loopback test server answering in 200 ms:
//   - N parallel needs take about one request's time, not N (they overlap);
//   - a 2-hop ask (two sequential LLM rounds plus retrieval) finishes in
//     < 2 x 200 ms + 50 ms;
//   - the client's own cost per request (server answering at once).
//
//   build/bin/llm_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "foldback/ask.h"
#include "foldback/index.h"
#include "host/files.h"
#include "ingest/extract.h"
#include "llm/llm_client.h"
#include "llm_test_server.h"

namespace {

using foldback::Need;
using foldback::NeedResult;
using foldback::llm::LlmClient;
using foldback::llm::LlmClientOptions;
using foldback::testing::LlmTestServer;
using foldback::testing::LlmTestServerOptions;

constexpr double kServerDelayMs = 200;

// One server per delay, alive for the whole run.
LlmTestServer& Server(double delay_ms) {
  static std::unique_ptr<LlmTestServer> slow, fast;
  auto& s = delay_ms > 0 ? slow : fast;
  if (!s) {
    LlmTestServerOptions o;
    o.default_delay_ms = delay_ms;
    o.default_content = "[[ ## query ## ]]\ntermination for convenience notice period\n\n[[ ## completed ## ]]";
    o.threads = 64;
    s = LlmTestServer::Start(o).value();
  }
  return *s;
}

std::unique_ptr<LlmClient> Client(const LlmTestServer& server) {
  LlmClientOptions o;
  o.chat.url = server.base_url();
  o.chat.model = "bench";
  o.embed = o.chat;
  o.max_in_flight = 64;
  return LlmClient::Create(o).value();
}

Need Chat(uint64_t id) {
  Need n;
  n.id = id;
  n.kind = Need::Kind::kLlm;
  n.llm.messages = {{"system", "Write one search query."},
                    {"user", "Can the customer terminate for convenience, and with what notice?"}};
  return n;
}

// N needs at once against a server answering in 200 ms.
void BM_ParallelNeeds(benchmark::State& state) {
  auto client = Client(Server(kServerDelayMs));
  const int n = static_cast<int>(state.range(0));
  uint64_t id = 0;
  for (auto _ : state) {
    std::vector<Need> needs;
    for (int i = 0; i < n; ++i) needs.push_back(Chat(++id));
    for (const NeedResult& r : client->PerformAll(needs)) {
      if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
    }
  }
  state.counters["needs"] = n;
  state.counters["serial_ms"] = n * kServerDelayMs;
}
BENCHMARK(BM_ParallelNeeds)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Arg(32)
    ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Two LLM rounds one after the other (a 2-hop rewrite without retrieval).
void BM_TwoSequentialRounds(benchmark::State& state) {
  auto client = Client(Server(kServerDelayMs));
  uint64_t id = 0;
  for (auto _ : state) {
    for (int hop = 0; hop < 2; ++hop) {
      NeedResult r = client->PerformAll({Chat(++id)})[0];
      if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
    }
  }
  state.counters["budget_ms"] = 2 * kServerDelayMs + 50;
}
BENCHMARK(BM_TwoSequentialRounds)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The client's own cost per request: the server answers at once.
void BM_RequestOverhead(benchmark::State& state) {
  auto client = Client(Server(0));
  uint64_t id = 0;
  for (auto _ : state) {
    NeedResult r = client->PerformAll({Chat(++id)})[0];
    if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
  }
}
BENCHMARK(BM_RequestOverhead)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Remote embeddings: 256 texts in batches of 64, four requests in parallel.
void BM_RemoteEmbeddings(benchmark::State& state) {
  auto client = Client(Server(0));
  std::vector<std::string> texts;
  for (int i = 0; i < 256; ++i) texts.push_back("clause " + std::to_string(i) + " on termination notice");
  uint64_t id = 0;
  for (auto _ : state) {
    Need n;
    n.id = ++id;
    n.kind = Need::Kind::kEmbed;
    n.embed.texts = texts;
    NeedResult r = client->PerformAll({n})[0];
    if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(texts.size()));
}
BENCHMARK(BM_RemoteEmbeddings)->UseRealTime()->Unit(benchmark::kMillisecond);

// The demo corpus (20 CUAD contracts), indexed once.
const foldback::Index& DemoIndex() {
  static std::unique_ptr<foldback::Index> index = [] {
    auto idx = foldback::Index::Create().value();
    std::vector<std::string> files = foldback::host::ListFiles(FOLDBACK_DEMO_CORPUS).value();
    for (const std::string& path : files) {
      if (!foldback::ingest::IsSupported(path)) continue;
      auto docs = foldback::ingest::ExtractFile(path, path);
      if (!docs.ok()) continue;
      for (const auto& d : *docs) (void)idx->Add(d);
    }
    (void)idx->BuildDense();
    return idx;
  }();
  return *index;
}

// A whole 2-hop ask (LLM rewrite per hop, hybrid retrieval, fusion) against
// the endpoint answering in 200 ms. Target: < 2 x 200 + 50 ms.
void BM_TwoHopAsk(benchmark::State& state) {
  const foldback::Index& index = DemoIndex();
  auto client = Client(Server(kServerDelayMs));
  foldback::llm::SteadyClock clock;
  foldback::AskOptions o;
  o.hops = 2;
  o.depth = 5;
  o.top_k = 5;
  double llm_ms = 0;
  for (auto _ : state) {
    auto session = foldback::AskSession::Start(index, "Can the customer terminate for convenience?", o,
                                               clock.NowMs());
    if (!session.ok()) {
      state.SkipWithError(session.status().ToString().c_str());
      break;
    }
    foldback::Status s = foldback::llm::RunAsk(**session, *client, clock, nullptr);
    const auto& r = (*session)->result();
    if (!s.ok() || !r.trace.fallbacks.empty() || r.trace.hops.size() != 2) {
      state.SkipWithError(("ask did not run 2 LLM hops: " + s.ToString()).c_str());
      break;
    }
    for (const auto& h : r.trace.hops) llm_ms += h.llm_ms;
  }
  state.counters["budget_ms"] = 2 * kServerDelayMs + 50;
  state.counters["llm_ms"] = benchmark::Counter(llm_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TwoHopAsk)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

// The same ask with 4 query variants per hop: 4 requests in parallel per
// hop should cost about what one does.
void BM_TwoHopAskFourVariants(benchmark::State& state) {
  const foldback::Index& index = DemoIndex();
  auto client = Client(Server(kServerDelayMs));
  foldback::llm::SteadyClock clock;
  foldback::AskOptions o;
  o.hops = 2;
  o.variants = 4;
  for (auto _ : state) {
    auto session = foldback::AskSession::Start(index, "Can the customer terminate for convenience?", o,
                                               clock.NowMs());
    foldback::Status s = foldback::llm::RunAsk(**session, *client, clock, nullptr);
    if (!s.ok() || !(*session)->result().trace.fallbacks.empty()) {
      state.SkipWithError("ask fell back");
      break;
    }
  }
  state.counters["budget_ms"] = 2 * kServerDelayMs + 50;
}
BENCHMARK(BM_TwoHopAskFourVariants)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
