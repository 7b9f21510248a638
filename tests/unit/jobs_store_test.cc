// The SQLite job store on a real file: leases across two store objects (as
// two processes), expiry, heartbeats, results recorded once, failures,
// releases, cancel, the shared budget, reopen after close.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "jobs/job_store.h"

namespace foldback::jobs {
namespace {

class JobsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("foldback-jobs-store-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    url_ = "sqlite:" + (dir_ / "jobs.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<JobStore> Open() {
    auto s = OpenJobStore(url_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  NewJob Job(size_t n, int64_t lease_ms = 1000, uint32_t attempts = 2) {
    NewJob j;
    j.kind = "map";
    j.spec = R"({"kind":"map"})";
    j.lease.lease_ms = lease_ms;
    j.lease.max_attempts = attempts;
    for (size_t i = 0; i < n; ++i)
      j.items.push_back({"doc-" + std::to_string(i), "p" + std::to_string(i)});
    return j;
  }

  std::filesystem::path dir_;
  std::string url_;
};

std::vector<std::string> Ids(const std::vector<LeasedItem>& v) {
  std::vector<std::string> out;
  for (const auto& l : v) out.push_back(l.item_id);
  return out;
}

TEST_F(JobsStoreTest, TwoWorkersNeverHoldTheSameItemUntilTheLeaseEnds) {
  auto a = Open();
  auto b = Open();
  auto id = a->Submit(Job(5), 1000);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto la = a->Lease(*id, "wa", 3, 1, 1000, nullptr, nullptr);
  ASSERT_TRUE(la.ok());
  EXPECT_EQ(Ids(*la), (std::vector<std::string>{"doc-0", "doc-1", "doc-2"}));
  EXPECT_EQ((*la)[0].payload, "p0");
  EXPECT_EQ((*la)[0].attempt, 1u);
  auto lb = b->Lease(*id, "wb", 10, 1, 1500, nullptr, nullptr);
  EXPECT_EQ(Ids(*lb), (std::vector<std::string>{"doc-3", "doc-4"}));
  EXPECT_TRUE(b->Lease(*id, "wb", 10, 1, 1999, nullptr, nullptr)->empty());
  // wa's leases end at 2000; wb heartbeats its own at 1900.
  auto lost = b->Heartbeat(*id, "wb", {"doc-3", "doc-4", "doc-0"}, 1900);
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(*lost, std::vector<std::string>{"doc-0"});
  auto again = b->Lease(*id, "wb", 10, 1, 2000, nullptr, nullptr);
  EXPECT_EQ(Ids(*again), (std::vector<std::string>{"doc-0", "doc-1", "doc-2"}));
  EXPECT_EQ((*again)[0].attempt, 2u);
  auto info = a->GetJob(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->progress.total, 5u);
  EXPECT_EQ(info->progress.leased, 5u);
  EXPECT_EQ(info->progress.attempts, 8u);
}

TEST_F(JobsStoreTest, ResultsAreRecordedOnceAndSurviveReopening) {
  std::string id;
  {
    auto s = Open();
    id = *s->Submit(Job(2), 0);
    auto l = s->Lease(id, "w1", 2, 1, 0, nullptr, nullptr);
    ASSERT_EQ(l->size(), 2u);
    std::vector<std::string> dups;
    ASSERT_TRUE(
        s->Finish(id, "w1", {{"doc-0", R"({"output":"first"})", "", 10}}, {}, 10, &dups).ok());
    EXPECT_TRUE(dups.empty());
    // The same result again and a late second one from another worker
    // (whose lease had ended): no-ops.
    ASSERT_TRUE(
        s->Finish(id, "w1", {{"doc-0", R"({"output":"again"})", "", 10}}, {}, 20, &dups).ok());
    EXPECT_EQ(dups, std::vector<std::string>{"doc-0"});
    ASSERT_TRUE(
        s->Finish(id, "w2", {{"doc-0", R"({"output":"late"})", "", 10}}, {}, 30, &dups).ok());
    EXPECT_EQ(dups, std::vector<std::string>{"doc-0"});
  }
  auto s = Open();
  std::vector<StoredResult> items;
  ASSERT_TRUE(s->ForEachItem(id, [&](const StoredResult& r) {
                 items.push_back(r);
                 return Status::OK();
               }).ok());
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].state, ItemState::kDone);
  EXPECT_EQ(items[0].result, R"({"output":"first"})");
  EXPECT_EQ(items[1].state, ItemState::kLeased);
  auto info = s->GetJob(id);
  EXPECT_EQ(info->progress.done, 1u);
  // Tokens are what was paid for: the late duplicates' calls were made too.
  EXPECT_EQ(info->counters.tokens, 30u);
}

TEST_F(JobsStoreTest, FailuresRetryThenFailAndExpiredLeasesRunOutOfAttempts) {
  auto s = Open();
  std::string id = *s->Submit(Job(2, 1000, 2), 0);
  auto l = s->Lease(id, "w", 2, 1, 0, nullptr, nullptr);
  ASSERT_EQ(l->size(), 2u);
  ASSERT_TRUE(s->Finish(id, "w", {},
                        {{"doc-0", true, 300, "503", 0}, {"doc-1", false, 0, "401", 0}}, 100,
                        nullptr)
                  .ok());
  EXPECT_TRUE(s->Lease(id, "w", 2, 1, 399, nullptr, nullptr)->empty());  // not before 400
  auto l2 = s->Lease(id, "w", 2, 1, 400, nullptr, nullptr);
  ASSERT_EQ(Ids(*l2), std::vector<std::string>{"doc-0"});
  // The second lease ends without a result: no third attempt.
  EXPECT_TRUE(s->Lease(id, "w", 2, 1, 1400, nullptr, nullptr)->empty());
  auto info = s->GetJob(id);
  EXPECT_EQ(info->progress.failed, 2u);
  EXPECT_TRUE(info->progress.finished());
  std::vector<std::string> errors;
  s->ForEachItem(id, [&](const StoredResult& r) {
    errors.push_back(r.error);
    return Status::OK();
  });
  EXPECT_NE(errors[0].find("no result after 2 attempts"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[1], "401");
}

TEST_F(JobsStoreTest, ReleaseCancelAndBudget) {
  auto s = Open();
  NewJob j = Job(6);
  j.limits.max_requests = 4;
  j.limits.requests_per_minute = 60000;  // 1 ms apart
  std::string id = *s->Submit(j, 0);
  std::vector<int64_t> starts;
  std::string why;
  auto l = s->Lease(id, "w", 3, 1, 100, &starts, &why);
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ(starts, (std::vector<int64_t>{100, 101, 102}));
  ASSERT_TRUE(s->Release(id, "w", {"doc-0"}, /*request_sent=*/false).ok());
  auto l2 = s->Lease(id, "w", 5, 1, 100, &starts, &why);
  ASSERT_EQ(Ids(*l2), std::vector<std::string>{"doc-0"});  // the budget had one request left
  EXPECT_EQ((*l2)[0].attempt, 1u);                         // the released attempt was refunded
  EXPECT_TRUE(s->Lease(id, "w", 5, 1, 100, &starts, &why)->empty());
  EXPECT_NE(why.find("request budget"), std::string::npos) << why;
  ASSERT_TRUE(s->Cancel(id).ok());
  EXPECT_TRUE(s->Lease(id, "w", 5, 1, 100, nullptr, &why)->empty());
  EXPECT_EQ(why, "cancelled");
  EXPECT_EQ(s->GetJob(id)->state, JobState::kCancelled);
  EXPECT_TRUE(s->GetJob("nope").status().IsNotFound());
  EXPECT_TRUE(s->Cancel("nope").IsNotFound());
}

TEST_F(JobsStoreTest, BatchedRequestsAndBadInput) {
  auto s = Open();
  NewJob j = Job(5);
  j.limits.max_requests = 1;
  std::string id = *s->Submit(j, 0);
  std::vector<int64_t> starts;
  auto l = s->Lease(id, "w", 5, 2, 0, &starts, nullptr);  // 2 items per request, one request
  EXPECT_EQ(l->size(), 2u);
  EXPECT_EQ(starts.size(), 1u);
  NewJob dup = Job(2);
  dup.items[1].item_id = dup.items[0].item_id;
  EXPECT_TRUE(s->Submit(dup, 0).status().IsInvalidArgument());
  NewJob bad = Job(1, 10);
  EXPECT_TRUE(s->Submit(bad, 0).status().IsInvalidArgument());
  EXPECT_TRUE(OpenJobStore("postgresql://x/y").status().IsInvalidArgument());
  EXPECT_FALSE(OpenJobStore("sqlite:" + (dir_ / "no" / "such" / "dir" / "j.sqlite").string()).ok());
}

}  // namespace
}  // namespace foldback::jobs
