// What it costs to train the learned reranker as the hosts now do
// (TrainSearchReranker: within the lists it reorders, each question held
// out, in its own scope) against the shown-list training the hosts did
// before (LearnedReranker::Train on the lists the lawyer was shown).
//
//   FOLDBACK_CONTRACTNLI=DIR build/bin/rerank_host_bench [--benchmark_filter=...]
//
// DIR is a BEIR-shaped span-retrieval set (corpus.jsonl with a doc_id per
// passage, queries.jsonl with a doc_id per question, qrels/dev.tsv): the
// ContractNLI dev split (CC BY 4.0, Koreeda & Manning 2021) reshaped for span
// retrieval. The log is the eval's simulated lawyer (`foldback eval
// --feedback-queries`): FOLDBACK_RECORDS (default 100) judged questions in
// file order, each asked in its NDA (a doc_id filter, kept in the record),
// the top 10 hybrid hits shown and labelled from the qrels. Inside the
// timer: the training call only (the index, its dense part and the log are
// built once, outside it).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "foldback/eval.h"
#include "foldback/feedback.h"
#include "foldback/rerank.h"
#include "host/files.h"
#include "ingest/extract.h"

namespace {

using namespace foldback;

struct Fixture {
  std::unique_ptr<Index> index;
  std::vector<FeedbackRecord> records;
  std::string error;
};

Fixture* Load() {
  static Fixture* f = [] {
    auto* out = new Fixture;
    const char* dir = std::getenv("FOLDBACK_CONTRACTNLI");
    if (!dir) {
      out->error = "set FOLDBACK_CONTRACTNLI to the span-retrieval set's folder";
      return out;
    }
    const std::string d(dir);
    size_t want = 100;
    if (const char* n = std::getenv("FOLDBACK_RECORDS")) want = std::strtoul(n, nullptr, 10);
    auto docs = ingest::ExtractBeirCorpus(d + "/corpus.jsonl");
    auto qtext = host::ReadFile(d + "/queries.jsonl");
    auto rtext = host::ReadFile(d + "/qrels/dev.tsv");
    if (!docs.ok() || !qtext.ok() || !rtext.ok()) {
      out->error = "cannot read " + d;
      return out;
    }
    auto queries = ParseBeirQueries(*qtext);
    auto qrels = ParseQrels(*rtext);
    auto idx = Index::Create(IndexOptions());
    if (!queries.ok() || !qrels.ok() || !idx.ok()) {
      out->error = "cannot parse " + d;
      return out;
    }
    out->index = std::move(idx.value());
    for (const Document& doc : *docs) {
      if (!out->index->Add(doc).ok()) {
        out->error = "cannot add " + doc.id;
        return out;
      }
    }
    if (!out->index->BuildDense().ok()) {
      out->error = "cannot build the dense part";
      return out;
    }
    // The eval's simulated lawyer, every shown passage labelled.
    for (const EvalQuery& q : *queries) {
      if (out->records.size() >= want) break;
      auto rel = qrels->find(q.id);
      auto scope = q.fields.find("doc_id");
      if (rel == qrels->end() || scope == q.fields.end()) continue;
      SearchOptions so;
      so.filters = {{"doc_id", Filter::Op::kEq, scope->second}};
      auto hits = out->index->Search(q.text, so);
      if (!hits.ok()) continue;
      FeedbackRecord r;
      r.record_id = "sim-" + std::to_string(out->records.size());
      r.trace_id = "trace-" + q.id;
      r.question = q.text;
      r.hop_queries = {q.text};
      r.consent_to_train = true;
      r.filters = so.filters;
      uint32_t rank = 0;
      for (const SearchHit& h : *hits) {
        r.results.push_back(
            {h.chunk_id, h.doc_id, ++rank, h.score, FeedbackTextHash(h.text), h.matter});
        auto g = rel->second.find(h.doc_id);
        bool is_rel = g != rel->second.end() && g->second > 0;
        r.labels.push_back(
            {h.chunk_id, is_rel ? PassageLabel::kRelevant : PassageLabel::kNotRelevant});
      }
      out->records.push_back(std::move(r));
    }
    return out;
  }();
  return f;
}

void Report(benchmark::State& state, const LearnedReranker& r, const Fixture& f) {
  size_t open = 0;
  for (const auto& m : r.Models()) open += m.gate_open;
  state.counters["records"] = static_cast<double>(f.records.size());
  state.counters["open_models"] = static_cast<double>(open);
}

// Before: within the shown lists (what every host did).
void BM_TrainShownLists(benchmark::State& state) {
  Fixture* f = Load();
  if (!f->error.empty()) return state.SkipWithError(f->error.c_str());
  std::unique_ptr<LearnedReranker> last;
  for (auto _ : state) {
    auto r = LearnedReranker::Train(*f->index, f->records);
    if (!r.ok()) return state.SkipWithError(r.status().ToString().c_str());
    last = std::move(r.value());
  }
  Report(state, *last, *f);
}
BENCHMARK(BM_TrainShownLists)->Unit(benchmark::kSecond)->Iterations(3)->UseRealTime();

// Now: within the held-out lists of the host's search; arg 0 the plain
// search (`foldback search --rerank learned`, the C API and JS defaults),
// 1 fold-back (`--feedback`, `foldback serve`'s default).
void BM_TrainSearchReranker(benchmark::State& state) {
  Fixture* f = Load();
  if (!f->error.empty()) return state.SkipWithError(f->error.c_str());
  SearchRerankTraining t;
  t.fold_back = state.range(0) != 0;
  std::unique_ptr<LearnedReranker> last;
  for (auto _ : state) {
    auto r = TrainSearchReranker(*f->index, f->records, std::nullopt, t);
    if (!r.ok()) return state.SkipWithError(r.status().ToString().c_str());
    last = std::move(r.value());
  }
  Report(state, *last, *f);
}
BENCHMARK(BM_TrainSearchReranker)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kSecond)
    ->Iterations(3)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
