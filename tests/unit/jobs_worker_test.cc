// The worker when a store call blocks longer than the leases (a database
// restarting under it): the items it holds may then be granted again — to
// this same worker — and must still be sent once. A real SQLite store and
// the loopback LLM server; a wrapper stalls one chosen store call (as a call
// retried across a restart does) and passes the later time on, as the
// PostgreSQL store's retries do.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <thread>

#include "foldback/jobs.h"
#include "host/index_dir.h"
#include "jobs/job_spec.h"
#include "jobs/job_store.h"
#include "jobs/worker.h"
#include "llm_test_server.h"

namespace foldback::jobs {
namespace {

constexpr int64_t kLeaseMs = 300;
constexpr int64_t kStallMs = 3 * kLeaseMs;
constexpr int kDocs = 6;
const char kKeyVar[] = "FOLDBACK_JOBS_WORKER_TEST_KEY";

// Forwards to a real store; the `stall_at`-th call of the chosen kind
// (1-based) first sleeps kStallMs and then runs at the later time.
class StallingStore : public JobStore {
 public:
  enum class Call { kLease, kFinish };
  StallingStore(std::unique_ptr<JobStore> inner, Call call, int stall_at)
      : inner_(std::move(inner)), call_(call), stall_at_(stall_at) {}

  Result<std::string> Submit(const NewJob& job, int64_t now_ms) override {
    return inner_->Submit(job, now_ms);
  }
  Result<JobInfo> GetJob(const std::string& job_id) override { return inner_->GetJob(job_id); }
  Result<std::vector<JobInfo>> ListJobs() override { return inner_->ListJobs(); }
  Result<std::vector<LeasedItem>> Lease(const std::string& job_id, const std::string& owner,
                                        size_t max_items, size_t items_per_request, int64_t now_ms,
                                        std::vector<int64_t>* start_at_ms,
                                        std::string* why_none) override {
    int64_t late = Stall(Call::kLease, &leases_);
    return inner_->Lease(job_id, owner, max_items, items_per_request, now_ms + late, start_at_ms,
                         why_none);
  }
  Result<std::vector<std::string>> Heartbeat(const std::string& job_id, const std::string& owner,
                                             const std::vector<std::string>& item_ids,
                                             int64_t now_ms) override {
    return inner_->Heartbeat(job_id, owner, item_ids, now_ms);
  }
  Status Finish(const std::string& job_id, const std::string& owner,
                const std::vector<ItemResult>& results, const std::vector<ItemFailure>& failures,
                int64_t now_ms, std::vector<std::string>* duplicates) override {
    int64_t late = Stall(Call::kFinish, &finishes_);
    return inner_->Finish(job_id, owner, results, failures, now_ms + late, duplicates);
  }
  Status Release(const std::string& job_id, const std::string& owner,
                 const std::vector<std::string>& item_ids, bool request_sent) override {
    return inner_->Release(job_id, owner, item_ids, request_sent);
  }
  Status Cancel(const std::string& job_id) override { return inner_->Cancel(job_id); }
  Status SetJobState(const std::string& job_id, JobState next) override {
    return inner_->SetJobState(job_id, next);
  }
  Status SaveCheckpoint(const std::string& job_id, const std::string& owner,
                        const std::string& item_id, const std::string& checkpoint) override {
    return inner_->SaveCheckpoint(job_id, owner, item_id, checkpoint);
  }
  Status ForEachItem(const std::string& job_id,
                     const std::function<Status(const StoredResult&)>& fn) override {
    return inner_->ForEachItem(job_id, fn);
  }

  bool stalled() const { return stalled_; }

 private:
  int64_t Stall(Call call, int* count) {
    if (call != call_ || ++*count != stall_at_) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(kStallMs));
    stalled_ = true;
    return kStallMs;
  }

  std::unique_ptr<JobStore> inner_;
  Call call_;
  int stall_at_;
  int leases_ = 0;
  int finishes_ = 0;
  bool stalled_ = false;
};

class JobsWorker : public ::testing::TestWithParam<StallingStore::Call> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("foldback-jobs-worker-" + std::to_string(getpid()) + "-" +
            std::to_string(static_cast<int>(GetParam())));
    std::filesystem::remove_all(dir_);
    auto index = host::OpenIndex((dir_ / "idx").string(), /*create=*/true);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    for (int i = 1; i <= kDocs; ++i) {
      Document d;
      d.id = "memo" + std::to_string(i);
      d.title = d.id;
      d.text = "Memo " + std::to_string(i) + ". The marker is docmark" + std::to_string(i) +
               "z. Counsel reviewed the agreement.";
      ASSERT_TRUE((*index)->Add(d).ok());
    }
    ASSERT_TRUE(host::SaveIndex((dir_ / "idx").string(), **index).ok());
    auto server = testing::LlmTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    testing::ScriptedReply reply;
    reply.path = "/chat/completions";
    reply.times = -1;
    reply.content = "[[ ## answer ## ]]\nReviewed [1].\n\n[[ ## completed ## ]]";
    reply.delay_ms = 100;
    server_->Script(reply);
    ::setenv(kKeyVar, "sk-worker-test-key", 1);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    ::unsetenv(kKeyVar);
    std::filesystem::remove_all(dir_);
  }

  NewJob Job() const {
    JobSpec spec;
    spec.kind = "map";
    spec.index_dir = (dir_ / "idx").string();
    spec.endpoint.url = server_->base_url();
    spec.endpoint.model = "test-model";
    spec.endpoint.api_key_env = kKeyVar;
    spec.predictor = MapPredictorFromInstructions("Summarize.");
    spec.program_hash = PredictorHash(spec.predictor);
    spec.program_source = "--instructions";
    NewJob job;
    job.kind = "map";
    job.spec = SpecToJson(spec);
    job.lease.lease_ms = kLeaseMs;
    job.lease.max_attempts = 100;
    for (int i = 1; i <= kDocs; ++i) job.items.push_back({"memo" + std::to_string(i), ""});
    return job;
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::LlmTestServer> server_;
};

// Concurrency 2 holds up to 3 items: 2 in flight, 1 queued. The stalled call
// outlasts the leases of what is held; each document is still requested once.
TEST_P(JobsWorker, ItemsHeldAcrossAStoreCallLongerThanTheLeaseAreSentOnce) {
  auto inner = OpenJobStore("sqlite:" + (dir_ / "jobs.sqlite").string());
  ASSERT_TRUE(inner.ok()) << inner.status().ToString();
  // Lease: the second lease call (the first after results); Finish: the first.
  StallingStore store(std::move(*inner), GetParam(),
                      GetParam() == StallingStore::Call::kLease ? 2 : 1);
  auto id = store.Submit(Job(), 0);
  ASSERT_TRUE(id.ok()) << id.status().ToString();

  WorkerOptions o;
  o.concurrency = 2;
  o.until_idle = true;
  o.poll_ms = 50;
  auto report = RunWorker(store, o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(store.stalled());

  auto info = store.GetJob(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->progress.done, static_cast<uint64_t>(kDocs));
  EXPECT_EQ(report->done, static_cast<uint64_t>(kDocs));
  std::map<std::string, int> sent;
  const std::regex marker("docmark(\\d+)z");
  for (const auto& r : server_->requests()) {
    if (r.path.find("/chat/completions") == std::string::npos) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.body, m, marker)) << r.body;
    ++sent[m[1].str()];
  }
  EXPECT_EQ(sent.size(), static_cast<size_t>(kDocs));
  for (const auto& [doc, n] : sent)
    EXPECT_EQ(n, 1) << "document " << doc << " sent " << n << " times";
  EXPECT_EQ(report->requests, static_cast<uint64_t>(kDocs));
}

INSTANTIATE_TEST_SUITE_P(Stall, JobsWorker,
                         ::testing::Values(StallingStore::Call::kLease,
                                           StallingStore::Call::kFinish),
                         [](const auto& info) {
                           return info.param == StallingStore::Call::kLease ? "Lease" : "Finish";
                         });

}  // namespace
}  // namespace foldback::jobs
