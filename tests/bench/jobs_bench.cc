// `foldback jobs` throughput and store overhead:
//   - BM_StoreOverhead/B: the SQLite store's cost per item (lease, then
//     record a 400-byte result), B items per lease and per commit (1: each
//     item alone, synchronous=FULL fsync per commit; 4: what the worker's
//     group commit gathers with 16 in flight; 16: its largest lease);
//   - BM_StoreOverheadPg/B/tcp: the same on PostgreSQL (a server of the
//     benchmark's own, tests/support/pg_test_server.h: fsync and
//     synchronous_commit on, the defaults), over its Unix socket (tcp:0)
//     or loopback TCP (tcp:1);
//   - BM_MapJob/N: a map job of N documents against the loopback test
//     server answering in 200 ms, one worker, 16 requests in flight:
//     items/s (the target is >= 70; the bound is 16 / 0.2 s = 80) and the
//     worker's wall time in store calls per item (leases, group commits of
//     results, heartbeats);
//   - BM_MapJobPg/N/workers: the map job on PostgreSQL (loopback TCP) with
//     1 or 2 workers (threads of this process, each its own connection,
//     client and 16 requests in flight): 2 workers should reach >= 1.8x
//     the items/s of one.
//
//   build/bin/jobs_bench --benchmark_counters_tabular=true
// (the store file is made in $TMPDIR, default /tmp: put it on the disk
// you mean to measure.)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "foldback/index.h"
#include "foldback/jobs.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "jobs/job_spec.h"
#include "jobs/job_store.h"
#include "jobs/worker.h"
#include "llm_test_server.h"
#include "pg_test_server.h"

namespace {

namespace fs = std::filesystem;
using namespace foldback;
using namespace foldback::jobs;

fs::path TempDir(const std::string& tag) {
  fs::path d =
      fs::temp_directory_path() / ("foldback-jobs-bench-" + tag + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The PostgreSQL server of this benchmark (started on first use, with a
// loopback port); null (and the benchmark skipped) when none can start.
testing::PgTestServer* Pg(std::string* why) {
  static std::unique_ptr<testing::PgTestServer> pg;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    testing::PgTestServer::Options o;
    o.tcp = true;
    auto s = testing::PgTestServer::Start(o);
    if (s.ok()) {
      pg = std::move(*s);
    } else {
      error = s.status().ToString();
    }
  }
  *why = error;
  return pg.get();
}

// Lease B items, record their results, until the job is done.
void RunOverhead(benchmark::State& state, JobStore* store, size_t batch) {
  const size_t items = 2000;
  const std::string result(400, 'r');
  size_t processed = 0;
  double ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    NewJob job;
    job.kind = "map";
    job.spec = "{}";
    for (size_t i = 0; i < items; ++i) job.items.push_back({"doc-" + std::to_string(i), ""});
    std::string id = store->Submit(job, host::UnixMillis()).value();
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    while (true) {
      auto leased = store->Lease(id, "w", batch, 1, host::UnixMillis(), nullptr, nullptr).value();
      if (leased.empty()) break;
      std::vector<ItemResult> results;
      for (const auto& l : leased) results.push_back({l.item_id, result, "", 100});
      Status s = store->Finish(id, "w", results, {}, host::UnixMillis(), nullptr);
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
      processed += leased.size();
    }
    ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  state.counters["items/s"] =
      benchmark::Counter(static_cast<double>(processed), benchmark::Counter::kIsRate);
  state.counters["ms/item"] = processed ? ms / static_cast<double>(processed) : 0;
}

void BM_StoreOverhead(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const bool full = state.range(1) != 0;
  fs::path dir = TempDir("store");
  auto store =
      OpenJobStore("sqlite:" + (dir / "jobs.sqlite").string() + (full ? "" : "?synchronous=normal"))
          .value();
  RunOverhead(state, store.get(), batch);
  fs::remove_all(dir);
}

void BM_StoreOverheadPg(benchmark::State& state) {
  std::string why;
  testing::PgTestServer* pg = Pg(&why);
  if (!pg) {
    state.SkipWithError(why.c_str());
    return;
  }
  auto store = OpenJobStore(state.range(1) ? pg->TcpUrl() : pg->url());
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  RunOverhead(state, store->get(), static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_StoreOverheadPg)
    ->ArgsProduct({{1, 4, 16}, {0, 1}})
    ->ArgNames({"batch", "tcp"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

BENCHMARK(BM_StoreOverhead)
    ->ArgsProduct({{1, 4, 16}, {1, 0}})
    ->ArgNames({"batch", "full"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

void BM_MapJob(benchmark::State& state) {
  const size_t docs = static_cast<size_t>(state.range(0));
  const bool full = state.range(1) != 0;
  fs::path dir = TempDir("map");
  testing::LlmTestServerOptions so;
  so.default_delay_ms = 200;
  so.default_content =
      "[[ ## answer ## ]]\nNot privileged: an ordinary business memo [1].\n\n[[ ## completed ## ]]";
  so.threads = 64;
  auto server = testing::LlmTestServer::Start(so).value();
  auto index = Index::Create().value();
  for (size_t i = 0; i < docs; ++i) {
    Document d;
    d.id = "memo-" + std::to_string(i);
    d.text = "Memo " + std::to_string(i) +
             ". The parties discussed the supply agreement, its termination clause and the notice "
             "period; counsel was copied. Next steps: review the indemnity cap.";
    d.matter = "m";
    (void)index->Add(d);
  }
  (void)host::SaveIndex((dir / "idx").string(), *index);
  JobSpec spec;
  spec.kind = "map";
  spec.index_dir = (dir / "idx").string();
  spec.endpoint.url = server->base_url();
  spec.endpoint.model = "bench";
  spec.predictor = MapPredictorFromInstructions("Is this mail privileged? Why?");
  spec.program_hash = PredictorHash(spec.predictor);
  auto store =
      OpenJobStore("sqlite:" + (dir / "jobs.sqlite").string() + (full ? "" : "?synchronous=normal"))
          .value();
  size_t done = 0;
  double store_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    NewJob job;
    job.kind = "map";
    job.spec = SpecToJson(spec);
    auto ids = SelectDocuments(*index, Selection());
    for (const auto& id : *ids) job.items.push_back({id, ""});
    std::string id = store->Submit(job, host::UnixMillis()).value();
    state.ResumeTiming();
    WorkerOptions o;
    o.concurrency = 16;
    o.until_idle = true;
    o.only_job = id;
    auto rep = RunWorker(*store, o);
    if (!rep.ok()) state.SkipWithError(rep.status().ToString().c_str());
    done += rep.ok() ? rep->done : 0;
    store_ms += rep.ok() ? rep->store_ms : 0;
  }
  state.counters["items/s"] =
      benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.counters["store ms/item"] = done ? store_ms / static_cast<double>(done) : 0;
  server->Stop();
  fs::remove_all(dir);
}
void BM_MapJobPg(benchmark::State& state) {
  const size_t docs = static_cast<size_t>(state.range(0));
  const size_t workers = static_cast<size_t>(state.range(1));
  std::string why;
  testing::PgTestServer* pg = Pg(&why);
  if (!pg) {
    state.SkipWithError(why.c_str());
    return;
  }
  fs::path dir = TempDir("mappg");
  testing::LlmTestServerOptions so;
  so.default_delay_ms = 200;
  so.default_content =
      "[[ ## answer ## ]]\nNot privileged: an ordinary business memo [1].\n\n[[ ## completed ## ]]";
  so.threads = 64;
  auto server = testing::LlmTestServer::Start(so).value();
  auto index = Index::Create().value();
  for (size_t i = 0; i < docs; ++i) {
    Document d;
    d.id = "memo-" + std::to_string(i);
    d.text = "Memo " + std::to_string(i) +
             ". The parties discussed the supply agreement, its termination clause and the notice "
             "period; counsel was copied. Next steps: review the indemnity cap.";
    d.matter = "m";
    (void)index->Add(d);
  }
  (void)host::SaveIndex((dir / "idx").string(), *index);
  JobSpec spec;
  spec.kind = "map";
  spec.index_dir = (dir / "idx").string();
  spec.endpoint.url = server->base_url();
  spec.endpoint.model = "bench";
  spec.predictor = MapPredictorFromInstructions("Is this mail privileged? Why?");
  spec.program_hash = PredictorHash(spec.predictor);
  auto submitter = OpenJobStore(pg->TcpUrl()).value();
  size_t done = 0;
  double store_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    NewJob job;
    job.kind = "map";
    job.spec = SpecToJson(spec);
    auto ids = SelectDocuments(*index, Selection());
    for (const auto& id : *ids) job.items.push_back({id, ""});
    std::string id = submitter->Submit(job, host::UnixMillis()).value();
    std::vector<std::unique_ptr<JobStore>> stores;
    for (size_t w = 0; w < workers; ++w) stores.push_back(OpenJobStore(pg->TcpUrl()).value());
    state.ResumeTiming();
    std::vector<Result<WorkerReport>> reps(workers, Status::Internal("not run"));
    std::vector<std::thread> threads;
    for (size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        WorkerOptions o;
        o.concurrency = 16;
        o.until_idle = true;
        o.only_job = id;
        reps[w] = RunWorker(*stores[w], o);
      });
    }
    for (auto& t : threads) t.join();
    for (auto& rep : reps) {
      if (!rep.ok()) state.SkipWithError(rep.status().ToString().c_str());
      done += rep.ok() ? rep->done : 0;
      store_ms += rep.ok() ? rep->store_ms : 0;
    }
  }
  state.counters["items/s"] =
      benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.counters["store ms/item"] = done ? store_ms / static_cast<double>(done) : 0;
  server->Stop();
  fs::remove_all(dir);
}
BENCHMARK(BM_MapJobPg)
    ->Args({1000, 1})
    ->Args({1000, 2})
    ->ArgNames({"docs", "workers"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

BENCHMARK(BM_MapJob)
    ->Args({1000, 1})
    ->Args({1000, 0})
    ->ArgNames({"docs", "full"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
