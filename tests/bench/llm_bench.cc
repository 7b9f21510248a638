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

}  // namespace

BENCHMARK_MAIN();
