// Core overhead of the ask session per hop at ~100k chunks, LLM time
// excluded: every need is answered at once with a canned reply.
//
// The corpus is synthetic but shaped like contracts: words are drawn from
// the unigram distribution of the demo corpus (examples/corpus/cuad), so
// document frequencies and posting lengths look like real legal text
// without thousands of exact duplicates.
//
//   build/bin/ask_bench --benchmark_filter=Ask
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <random>

#include "foldback/ask.h"
#include "foldback/index.h"
#include "foldback/program.h"
#include "host/files.h"

namespace foldback {
namespace {

constexpr size_t kDocs = 10000;
constexpr size_t kParagraphs = 10;  // one chunk each
constexpr size_t kWords = 90;

std::vector<std::string> DemoWords() {
  std::vector<std::string> words;
  auto files = host::ListFiles(FOLDBACK_DEMO_CORPUS);
  if (!files.ok()) return words;
  for (const std::string& f : *files) {
    if (f.size() < 4 || f.compare(f.size() - 4, 4, ".txt") != 0) continue;
    auto text = host::ReadFile(f);
    if (!text.ok()) continue;
    std::string w;
    for (char c : *text + " ") {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        w.push_back(c);
      } else if (!w.empty()) {
        words.push_back(w);
        w.clear();
      }
    }
  }
  return words;
}

const Index& BigIndex() {
  static std::unique_ptr<Index> index = [] {
    std::vector<std::string> words = DemoWords();
    if (words.empty()) words = {"agreement", "party", "termination", "notice", "fees"};
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<size_t> pick(0, words.size() - 1);
    IndexOptions o;
    o.dense.embedder = EmbedderKind::kNone;
    o.chunker.target_tokens = 100;
    o.chunker.max_tokens = 200;
    auto created = Index::Create(o);
    for (size_t d = 0; d < kDocs; ++d) {
      Document doc;
      doc.id = "doc-" + std::to_string(d);
      doc.title = "Agreement " + std::to_string(d);
      doc.matter = "m" + std::to_string(d % 50);
      for (size_t p = 0; p < kParagraphs; ++p) {
        for (size_t w = 0; w < kWords; ++w) {
          doc.text += words[pick(rng)];
          doc.text += w + 1 == kWords ? ".\n\n" : " ";
        }
      }
      (void)(*created)->Add(doc);
    }
    return std::move(created.value());
  }();
  return *index;
}

void RunAsk(benchmark::State& state, RewriteMode mode, bool walls) {
  const Index& index = BigIndex();
  AskOptions o;
  o.hops = 2;
  o.depth = static_cast<uint32_t>(state.range(0));
  o.top_k = o.depth;
  o.rewrite = mode;
  o.search.mode = SearchMode::kBm25;
  if (walls) {
    std::set<std::string> allowed;
    for (int m = 0; m < 25; ++m) allowed.insert("m" + std::to_string(m));
    o.search.allowed_matters = allowed;
  }
  Program program = Program::Default();
  const char* replies[] = {"[[ ## query ## ]]\ntermination notice party agreement\n\n"
                           "[[ ## completed ## ]]",
                           "[[ ## query ## ]]\nfees payment invoice days\n\n[[ ## completed ## ]]"};
  size_t hops = 0;
  for (auto _ : state) {
    auto s = AskSession::Start(index, "Can either party terminate the agreement early?", o, 0,
                               &program);
    int turn = 0;
    while (s.ok() && !(*s)->done()) {
      for (const Need& n : (*s)->TakeNeeds()) {
        NeedResult r;
        r.text = replies[std::min(turn++, 1)];
        (void)(*s)->Provide(n.id, std::move(r), 0);
      }
    }
    hops += (*s)->result().trace.hops.size();
    benchmark::DoNotOptimize((*s)->result().passages.data());
  }
  state.counters["hops"] = benchmark::Counter(static_cast<double>(hops));
  state.counters["per_hop"] = benchmark::Counter(static_cast<double>(hops),
                                                 benchmark::Counter::kIsRate |
                                                     benchmark::Counter::kInvert);
  state.counters["chunks"] = static_cast<double>(index.Stats().chunks);
}

void BM_AskLlm(benchmark::State& s) { RunAsk(s, RewriteMode::kLlm, false); }
void BM_AskLlmWalls(benchmark::State& s) { RunAsk(s, RewriteMode::kLlm, true); }
void BM_AskRm3(benchmark::State& s) { RunAsk(s, RewriteMode::kRm3, false); }
void BM_AskNone(benchmark::State& s) { RunAsk(s, RewriteMode::kNone, false); }

// The same searches without the session, for comparison.
void BM_SearchOnly(benchmark::State& state) {
  const Index& index = BigIndex();
  SearchOptions so;
  so.mode = SearchMode::kBm25;
  so.top_k = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto a = index.Search("termination notice party agreement", so);
    auto b = index.Search("fees payment invoice days", so);
    benchmark::DoNotOptimize(a.ok() && b.ok());
  }
  state.counters["per_hop"] =
      benchmark::Counter(2, benchmark::Counter::kIsIterationInvariantRate |
                                benchmark::Counter::kInvert);
}

void BM_RenderPrompt(benchmark::State& state) {
  Program program = Program::Default();
  std::string context(6000, 'x');
  for (auto _ : state) {
    auto m = RenderChat(program.QueryWriter(1), {{"context", context}, {"question", "q"}});
    benchmark::DoNotOptimize(m.data());
  }
}

void BM_ParseReply(benchmark::State& state) {
  Program program = Program::Default();
  std::string reply = "Sure.\n[[ ## query ## ]]\ntermination for convenience notice\n\n"
                      "[[ ## completed ## ]]";
  for (auto _ : state) benchmark::DoNotOptimize(ParseReply(program.QueryWriter(1), reply).ok());
}

BENCHMARK(BM_AskLlm)->Arg(5)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AskLlmWalls)->Arg(5)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AskRm3)->Arg(5)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AskNone)->Arg(5)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SearchOnly)->Arg(5)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderPrompt)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParseReply)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace foldback

BENCHMARK_MAIN();
