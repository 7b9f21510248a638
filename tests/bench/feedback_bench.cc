// Feedback log throughput.
//
//   build/bin/feedback_bench [--benchmark_filter=...]
//
// Records are realistic: a question, two hop queries, ten shown passages
// with hashes, labels on five, a short critique (~1 KB encoded). The file
// benchmarks write to a temp folder (TMPDIR) on the machine's disk, with
// fdatasync as in production.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "foldback/feedback.h"
#include "host/feedback_log.h"

namespace {

using namespace foldback;

std::atomic<uint64_t> g_next{0};

FeedbackRecord Record(uint64_t n) {
  FeedbackRecord r;
  char id[40];
  std::snprintf(id, sizeof id, "01900000-0000-7000-8000-%012llx",
                static_cast<unsigned long long>(n));
  r.record_id = id;
  r.trace_id = std::string("trace-") + id;
  r.time_ms = 1700000000000 + static_cast<int64_t>(n);
  r.user = "user-17";
  r.matter = "acme-2024-001";
  r.question = "Can the supplier terminate the agreement for convenience, and on what notice?";
  r.hop_queries = {"termination for convenience notice period", "supplier right to terminate"};
  for (uint32_t k = 1; k <= 10; ++k) {
    ShownResult s;
    s.chunk_id =
        "contracts/msa-" + std::to_string(n % 97) + ".txt#" + std::to_string(k) + "-9f3a1c2e";
    s.doc_id = "contracts/msa-" + std::to_string(n % 97) + ".txt";
    s.rank = k;
    s.score = 1.0 / (60 + k);
    s.text_hash = "0123456789abcdef";
    s.matter = r.matter;
    r.results.push_back(s);
    if (k <= 5) {
      r.labels.push_back(
          {s.chunk_id, k % 2 ? PassageLabel::kRelevant : PassageLabel::kNotRelevant});
    }
  }
  r.answer = "Yes. Clause 14.2 lets the supplier terminate on 90 days' written notice [1][3].";
  r.rating = Rating::Stars(4);
  r.critique = "The answer misses the carve-out in 14.3 for committed purchase orders.";
  r.consent_to_train = true;
  r.program_version = "prog-3f2a";
  r.model = "gpt-4o-mini";
  return r;
}

std::string TempLogDir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("foldback-bench-") + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// Core only: validate, encode, frame into memory.
void BM_FrameToMemory(benchmark::State& state) {
  std::vector<FeedbackRecord> records;
  for (int i = 0; i < 1000; ++i) records.push_back(Record(static_cast<uint64_t>(i)));
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  size_t i = 0;
  for (auto _ : state) {
    if (sink.data().size() > (256u << 20)) {
      sink.mutable_data()->clear();
      w = FeedbackLogWriter(&sink);
    }
    benchmark::DoNotOptimize(w.Add(records[i++ % records.size()]));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(sink.data().size()));
}
BENCHMARK(BM_FrameToMemory);

// Batched mode: AppendBatch — many records, one fdatasync.
void BM_FileAppendBatched(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  std::string dir = TempLogDir("batched");
  auto log = host::FeedbackLogFile::Open(dir);
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return;
  }
  std::vector<FeedbackRecord> records(batch);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& r : records) r = Record(g_next++);
    state.ResumeTiming();
    Status s = (*log)->AppendBatch(records);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
  state.counters["fsyncs"] = static_cast<double>((*log)->syncs());
  state.counters["log_MB"] = static_cast<double>((*log)->size()) / 1e6;
  log->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_FileAppendBatched)->Arg(100)->Arg(1000)->Arg(10000)->UseRealTime();

// One record, one fdatasync: the latency a lawyer's click waits for.
void BM_FileAppendDurable(benchmark::State& state) {
  std::string dir = TempLogDir("durable");
  auto log = host::FeedbackLogFile::Open(dir);
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    FeedbackRecord r = Record(g_next++);
    state.ResumeTiming();
    Status s = (*log)->Append(r);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  log->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_FileAppendDurable)->UseRealTime();

// Group commit: threads appending durably at once share fsyncs.
std::unique_ptr<host::FeedbackLogFile> g_shared;
std::string g_shared_dir;

void BM_FileAppendGroupCommit(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_shared_dir = TempLogDir("group");
    auto log = host::FeedbackLogFile::Open(g_shared_dir);
    if (log.ok()) g_shared = std::move(log.value());
  }
  for (auto _ : state) {
    if (!g_shared) {
      state.SkipWithError("cannot open the log");
      break;
    }
    Status s = g_shared->Append(Record(g_next++));
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0 && g_shared) {
    state.counters["fsyncs"] = static_cast<double>(g_shared->syncs());
    g_shared.reset();
    std::filesystem::remove_all(g_shared_dir);
  }
}
BENCHMARK(BM_FileAppendGroupCommit)->Threads(1)->Threads(4)->Threads(16)->UseRealTime();

// Reading back: parse, check CRCs, decode.
void BM_ReadLog(benchmark::State& state) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  for (int i = 0; i < 20000; ++i) (void)w.Add(Record(static_cast<uint64_t>(i)));
  for (auto _ : state) {
    FeedbackLogContents c = ReadFeedbackLog(sink.data());
    benchmark::DoNotOptimize(c.entries.size());
  }
  state.SetItemsProcessed(state.iterations() * 20000);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sink.data().size()));
}
BENCHMARK(BM_ReadLog)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
