// The job stores — SQLite on a real file, PostgreSQL on a server of the
// test's own (tests/support/pg_test_server.h) — with the same cases:
// leases across two store objects (as two processes), expiry, heartbeats,
// results recorded once, failures, releases, cancel, the shared budget,
// reopen after close. Then what only PostgreSQL has: workers racing on one
// server, the server restarted mid-job, bad connection strings and
// passwords that never reach a message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <sqlite3.h>

#include "jobs/job_store.h"
#include "pg_test_server.h"

namespace foldback::jobs {
namespace {

using foldback::testing::PgTestServer;

// One server per test process, started on first use (each test case runs
// in a process of its own under ctest; all of them when run by hand).
PgTestServer* SharedPg(std::string* why) {
  static std::unique_ptr<PgTestServer> server;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto s = PgTestServer::Start();
    if (s.ok()) {
      server = std::move(*s);
    } else {
      error = s.status().ToString();
    }
  }
  *why = error;
  return server.get();
}

// A fresh schema of the shared server: every test starts from empty tables.
std::string FreshPgUrl(PgTestServer* pg) {
  static int n = 0;
  std::string schema = "t" + std::to_string(getpid()) + "_" + std::to_string(++n);
  Status s = pg->Sql("CREATE SCHEMA " + schema);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return pg->url() + "&options=-csearch_path%3D" + schema;
}

class JobsStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) c = c == '/' ? '_' : c;
    dir_ = std::filesystem::temp_directory_path() /
           ("foldback-jobs-store-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (GetParam() == "sqlite") {
      url_ = "sqlite:" + (dir_ / "jobs.sqlite").string();
    } else {
      std::string why;
      pg_ = SharedPg(&why);
      ASSERT_NE(pg_, nullptr) << why;
      url_ = FreshPgUrl(pg_);
    }
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
  PgTestServer* pg_ = nullptr;
};

std::vector<std::string> Ids(const std::vector<LeasedItem>& v) {
  std::vector<std::string> out;
  for (const auto& l : v) out.push_back(l.item_id);
  return out;
}

TEST_P(JobsStoreTest, TwoWorkersNeverHoldTheSameItemUntilTheLeaseEnds) {
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

TEST_P(JobsStoreTest, ResultsAreRecordedOnceAndSurviveReopening) {
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

TEST_P(JobsStoreTest, FailuresRetryThenFailAndExpiredLeasesRunOutOfAttempts) {
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

TEST_P(JobsStoreTest, ReleaseCancelAndBudget) {
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

TEST_P(JobsStoreTest, BatchedRequestsAndBadInput) {
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
  EXPECT_TRUE(OpenJobStore("mysql://x/y").status().IsInvalidArgument());
  EXPECT_FALSE(OpenJobStore("sqlite:" + (dir_ / "no" / "such" / "dir" / "j.sqlite").string()).ok());
}

// A job pending approval leases nothing until it is approved, once.
TEST_P(JobsStoreTest, PendingApprovalLeasesNothingUntilApproved) {
  auto s = Open();
  NewJob j = Job(1);
  j.kind = "finetune";
  j.state = JobState::kPendingApproval;
  auto id = s->Submit(j, 1000);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(s->GetJob(*id)->state, JobState::kPendingApproval);
  std::string why;
  auto none = s->Lease(*id, "w", 1, 1, 1000, nullptr, &why);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(why, "awaiting approval");
  ASSERT_TRUE(s->SetJobState(*id, JobState::kActive).ok());
  Status twice = s->SetJobState(*id, JobState::kActive);
  EXPECT_EQ(twice.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(twice.message().find("nothing to approve"), std::string::npos) << twice.ToString();
  EXPECT_EQ(s->Lease(*id, "w", 1, 1, 1000, nullptr, nullptr)->size(), 1u);
  ASSERT_TRUE(s->SetJobState(*id, JobState::kCancelled).ok());
  EXPECT_EQ(s->SetJobState(*id, JobState::kActive).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(s->SetJobState("0190aaaa-0000-7000-8000-000000000000", JobState::kActive).code(),
            Status::Code::kNotFound);
}

// Checkpoints: written by the lease holder only, returned by the next lease.
TEST_P(JobsStoreTest, CheckpointsBelongToTheLeaseHolder) {
  auto s = Open();
  auto id = s->Submit(Job(1, /*lease_ms=*/1000, /*attempts=*/5), 1000);
  ASSERT_TRUE(id.ok());
  auto a = s->Lease(*id, "wa", 1, 1, 1000, nullptr, nullptr);
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].checkpoint, "");
  ASSERT_TRUE(s->SaveCheckpoint(*id, "wa", "doc-0", R"({"stage":"created"})").ok());
  EXPECT_EQ(s->SaveCheckpoint(*id, "wb", "doc-0", "x").code(), Status::Code::kFailedPrecondition);
  // wa's lease ends; wb takes over and finds what wa stored.
  auto b = s->Lease(*id, "wb", 1, 1, 2500, nullptr, nullptr);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].checkpoint, R"({"stage":"created"})");
  Status late = s->SaveCheckpoint(*id, "wa", "doc-0", R"({"stage":"stale"})");
  EXPECT_EQ(late.code(), Status::Code::kFailedPrecondition) << late.ToString();
  std::string seen;
  ASSERT_TRUE(s->ForEachItem(*id, [&](const StoredResult& r) {
                 seen = r.checkpoint;
                 return Status::OK();
               }).ok());
  EXPECT_EQ(seen, R"({"stage":"created"})");
}

INSTANTIATE_TEST_SUITE_P(Stores, JobsStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// A store written before finetune jobs (no checkpoint column) opens, gains
// the column, and keeps its jobs.
TEST(JobsSqliteStore, AnOlderStoreGainsTheCheckpointColumn) {
  auto dir = std::filesystem::temp_directory_path() /
             ("foldback-jobs-old-store-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "jobs.sqlite").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* old_schema = R"sql(
CREATE TABLE jobs(id TEXT PRIMARY KEY, kind TEXT NOT NULL, spec TEXT NOT NULL,
  state INTEGER NOT NULL, created_ms INTEGER NOT NULL, lease_ms INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL, requests_per_minute REAL NOT NULL,
  max_requests INTEGER NOT NULL, max_tokens INTEGER NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
  next_slot_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE items(job_id TEXT NOT NULL, seq INTEGER NOT NULL, item_id TEXT NOT NULL,
  payload TEXT NOT NULL, state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '', lease_until_ms INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '', result TEXT, blob BLOB, done_ms INTEGER,
  PRIMARY KEY(job_id, seq), UNIQUE(job_id, item_id));
INSERT INTO jobs VALUES('old-job','map','{}',0,1,1000,3,0,0,0,0,0,0);
INSERT INTO items(job_id,seq,item_id,payload,state) VALUES('old-job',0,'doc-0','',0);
)sql";
  ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenJobStore("sqlite:" + path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto leased = (*store)->Lease("old-job", "w", 1, 1, 10, nullptr, nullptr);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_TRUE((*store)->SaveCheckpoint("old-job", "w", "doc-0", "{}").ok());
  store->reset();
  EXPECT_TRUE(OpenJobStore("sqlite:" + path).ok());  // and again, once the column is there
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------- PostgreSQL only

class JobsPgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    pg_ = SharedPg(&why);
    ASSERT_NE(pg_, nullptr) << why;
    url_ = FreshPgUrl(pg_);
  }
  std::unique_ptr<JobStore> Open() {
    auto s = OpenJobStore(url_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  PgTestServer* pg_ = nullptr;
  std::string url_;
};

NewJob Items(size_t n, int64_t lease_ms) {
  NewJob j;
  j.kind = "map";
  j.spec = "{}";
  j.lease.lease_ms = lease_ms;
  j.lease.max_attempts = 3;
  for (size_t i = 0; i < n; ++i) j.items.push_back({"doc-" + std::to_string(i), ""});
  return j;
}

// Four workers (connections) lease and finish 300 items at once: SKIP
// LOCKED hands each item to one of them; every item is done once with one
// attempt, and the shared request counter counts every lease.
TEST_F(JobsPgStoreTest, RacingWorkersLeaseEachItemOnce) {
  auto admin = Open();
  ASSERT_NE(admin, nullptr);
  std::string id = *admin->Submit(Items(300, 60000), 0);
  std::mutex mu;
  std::map<std::string, int> leased_by_item;
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      auto s = OpenJobStore(url_);
      if (!s.ok()) {
        ++errors;
        return;
      }
      std::string me = "w" + std::to_string(w);
      while (true) {
        auto l = (*s)->Lease(id, me, 7, 1, 1000, nullptr, nullptr);
        if (!l.ok()) {
          ++errors;
          return;
        }
        if (l->empty()) return;
        std::vector<ItemResult> results;
        {
          std::lock_guard<std::mutex> g(mu);
          for (const LeasedItem& it : *l) ++leased_by_item[it.item_id];
        }
        for (const LeasedItem& it : *l)
          results.push_back({it.item_id, "{\"by\":\"" + me + "\"}", "", 1});
        std::vector<std::string> dups;
        if (!(*s)->Finish(id, me, results, {}, 1001, &dups).ok() || !dups.empty()) ++errors;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(leased_by_item.size(), 300u);
  for (const auto& [item, n] : leased_by_item) EXPECT_EQ(n, 1) << item;
  auto info = admin->GetJob(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->progress.done, 300u);
  EXPECT_EQ(info->progress.attempts, 300u);
  EXPECT_EQ(info->counters.requests, 300u);
  EXPECT_EQ(info->counters.tokens, 300u);
}

// The server stops (immediately: crash recovery at the next start) and
// comes back while a store is in use: results acknowledged before are
// there, and the store's next calls reconnect and succeed.
TEST_F(JobsPgStoreTest, ServerRestartKeepsAcknowledgedResultsAndTheStoreReconnects) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  std::string id = *s->Submit(Items(4, 60000), 0);
  auto l = s->Lease(id, "w", 2, 1, 10, nullptr, nullptr);
  ASSERT_EQ(l->size(), 2u);
  ASSERT_TRUE(
      s->Finish(id, "w", {{"doc-0", "{}", std::string("\x01\x02", 2), 5}}, {}, 20, nullptr).ok());
  auto other = Open();  // a second worker, leasing while the server is down
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(pg_->Stop(/*immediate=*/true).ok());
  // Called while the server is down: retried until it is back. (The
  // server is started from this thread: it dies with the thread that
  // started it.)
  std::vector<std::string> dups;
  Status f;
  Result<std::vector<LeasedItem>> late = Status::Internal("not run");
  std::thread call([&] {
    f = s->Finish(id, "w", {{"doc-1", "{}", "", 5}, {"doc-0", "{}", "", 5}}, {}, 30, &dups);
  });
  std::thread lease([&] { late = other->Lease(id, "w2", 10, 1, 40, nullptr, nullptr); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Status st = pg_->StartAgain();
  EXPECT_TRUE(st.ok()) << st.ToString();
  call.join();
  lease.join();
  ASSERT_TRUE(f.ok()) << f.ToString();
  EXPECT_EQ(dups, std::vector<std::string>{"doc-0"});
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  ASSERT_EQ(late->size(), 2u);
  // Granted after the restart: the lease runs from then, not from the time
  // the call was made (else it would start expired and be leased again).
  EXPECT_GE((*late)[0].lease_until_ms, 40 + 500 + 60000);
  EXPECT_TRUE(s->Lease(id, "w", 10, 1, 41, nullptr, nullptr)->empty());
  std::map<std::string, StoredResult> items;
  ASSERT_TRUE(s->ForEachItem(id, [&](const StoredResult& r) {
                 items[r.item_id] = r;
                 return Status::OK();
               }).ok());
  EXPECT_EQ(items["doc-0"].state, ItemState::kDone);
  EXPECT_EQ(items["doc-0"].blob, std::string("\x01\x02", 2));
  EXPECT_EQ(items["doc-1"].state, ItemState::kDone);
  EXPECT_EQ(s->GetJob(id)->counters.tokens, 15u);
}

// Connection strings that cannot work fail at once with a message that
// names the store and why — and never the password.
TEST_F(JobsPgStoreTest, BadConnectionStringsFailClearlyWithoutThePassword) {
  const std::string secret = "Tr0ub4dor-s3cret";
  ASSERT_TRUE(pg_->SetPassword("clerk", secret).ok());
  std::string host = "host=" + pg_->dir() + "&port=" + std::to_string(pg_->port());
  struct Case {
    std::string url, expect;
  };
  std::vector<Case> cases = {
      {"postgresql://clerk:wrong-" + secret + "@/postgres?" + host,
       "password authentication failed"},
      {"postgresql:///postgres?" + host + "&user=clerk&password=x" + secret,
       "password authentication failed"},
      {"postgresql://clerk:" + secret + "@/no_such_db?" + host, "cannot connect"},
      {"postgres://clerk:" + secret + "@/postgres?host=/nonexistent-foldback-dir",
       "cannot connect"},
      {"postgresql://clerk:" + secret + "@127.0.0.1:1/postgres", "cannot connect"},
      {"postgresql://clerk:" + secret + "@localhost:notaport/postgres", "cannot connect"},
      {"postgresql://clerk:" + secret + "@/postgres?" + host + "&nosuchoption=" + secret,
       "cannot connect"},
  };
  for (const Case& c : cases) {
    auto s = OpenJobStore(c.url);
    ASSERT_FALSE(s.ok()) << c.url;
    std::string msg = s.status().ToString();
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    EXPECT_NE(msg.find("***"), std::string::npos) << msg;  // the URL, redacted
  }
  // The right password (as PGPASSWORD would give it) works.
  auto ok = OpenJobStore("postgresql://clerk:" + secret + "@/postgres?" + host);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(RedactStoreUrl("postgresql://u:p%40ss@h:5/db?password=x&sslmode=require"),
            "postgresql://u:***@h:5/db?password=***&sslmode=require");
  EXPECT_EQ(RedactStoreUrl("postgresql://u@h/db"), "postgresql://u@h/db");
}

}  // namespace
}  // namespace foldback::jobs
