// The Redactor's speed: typical rules on ordinary text, and the patterns
// and texts that make backtracking matchers (std::regex) explode or
// overflow their stack — linear here.
//
//   build/bin/redact_bench
#include <benchmark/benchmark.h>

#include <string>

#include "foldback/redact.h"

namespace {

using foldback::Redactor;

std::unique_ptr<Redactor> Make(std::vector<foldback::RedactionRule> rules) {
  auto r = Redactor::Create(rules);
  if (!r.ok()) std::abort();
  return std::move(r.value());
}

std::string Prose(size_t bytes) {
  const std::string s =
      "Either party may terminate this Agreement for convenience upon thirty (30) days prior written notice; "
      "contact jane.doe@firm.example or call 555-0100 about account 12345678. ";
  std::string out;
  while (out.size() < bytes) out += s;
  out.resize(bytes);
  return out;
}

void Run(benchmark::State& state, const Redactor& r, const std::string& text) {
  for (auto _ : state) benchmark::DoNotOptimize(r.Redact(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Four typical rules (SSN, e-mail, IBAN, account numbers) on 1 MB of prose.
void BM_TypicalRulesOnProse(benchmark::State& state) {
  auto r = Make({{"ssn", R"(\b\d{3}-\d{2}-\d{4}\b)", ""},
                 {"email", R"([\w.+-]+@[\w-]+(\.[\w-]+)+)", ""},
                 {"iban", R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b)", ""},
                 {"account", R"((?i)\baccount (?:no\.?|number) ?\d{6,12}\b)", ""}});
  Run(state, *r, Prose(1 << 20));
}
BENCHMARK(BM_TypicalRulesOnProse)->Unit(benchmark::kMillisecond);

// (\w+\s?)+secret on 1 MB of words without "secret": exponential for a
// backtracking matcher (std::regex does not finish 30 words in 20 s).
void BM_NestedQuantifiersOnWords(benchmark::State& state) {
  auto r = Make({{"p", R"((\w+\s?)+secret)", ""}});
  std::string text;
  while (text.size() < (1u << 20)) text += "word ";
  Run(state, *r, text);
}
BENCHMARK(BM_NestedQuantifiersOnWords)->Unit(benchmark::kMillisecond);

// [a-z ]+@x on 1 MB: std::regex overflows its stack (recursion per
// character) from about 100 KB.
void BM_LongRunWithoutMatch(benchmark::State& state) {
  auto r = Make({{"p", "[a-z ]+@x", ""}});
  std::string text;
  while (text.size() < (1u << 20)) text += "word ";
  Run(state, *r, text);
}
BENCHMARK(BM_LongRunWithoutMatch)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
