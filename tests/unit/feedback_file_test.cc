// The native feedback log file: durability, recovery, group commit,
// compaction, locking; traces on disk; record ids.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "host/feedback_log.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/traces.h"

namespace foldback::host {
namespace {

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("foldback-fb-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

FeedbackRecord Rec(const std::string& id, const std::string& matter = "m") {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "t-" + id;
  r.matter = matter;
  r.question = "question " + id;
  r.rating = Rating::Up();
  return r;
}

std::vector<std::string> LiveIds(const std::string& dir) {
  auto c = ReadFeedbackLogFile(dir);
  EXPECT_TRUE(c.ok());
  std::vector<std::string> ids;
  for (const auto& r : ApplyFeedbackLog(*c).records) ids.push_back(r.record_id);
  return ids;
}

TEST(FeedbackFile, AppendsDurablyAndReopens) {
  std::string dir = TempDir("reopen");
  {
    auto log = FeedbackLogFile::Open(dir);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append(Rec("a")).ok());
    ASSERT_TRUE((*log)->Append(Rec("b")).ok());
    EXPECT_EQ((*log)->syncs(), 2u);
    ASSERT_TRUE((*log)->Append(Rec("a")).ok());  // a retry: acknowledged, not written again
    EXPECT_TRUE((*log)->Contains("a"));
  }
  auto raw = ReadFeedbackLogFile(dir);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->entries.size(), 2u);
  FeedbackOpenReport rep;
  auto log = FeedbackLogFile::Open(dir, &rep);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(rep.entries, 2u);
  EXPECT_EQ(rep.truncated_bytes, 0u);
  EXPECT_TRUE((*log)->Contains("b"));
  ASSERT_TRUE((*log)->Append(Rec("c")).ok());
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(FeedbackFile, RefusedRecordWritesNothing) {
  std::string dir = TempDir("refused");
  auto log = FeedbackLogFile::Open(dir);
  ASSERT_TRUE(log.ok());
  FeedbackRecord big = Rec("big");
  big.critique.assign(10 * 1024 * 1024, 'x');
  EXPECT_EQ((*log)->Append(big).code(), Status::Code::kOutOfRange);
  std::vector<FeedbackRecord> batch = {Rec("x"), big, Rec("y")};
  EXPECT_EQ((*log)->AppendBatch(batch).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(FileSize(FeedbackLogPath(dir)), 0u);
  EXPECT_EQ((*log)->syncs(), 0u);
  ASSERT_TRUE((*log)->Append(Rec("ok")).ok());  // still usable
}

TEST(FeedbackFile, TornTailIsCutOffOnOpen) {
  std::string dir = TempDir("torn");
  {
    auto log = FeedbackLogFile::Open(dir);
    ASSERT_TRUE((*log)->Append(Rec("a")).ok());
    ASSERT_TRUE((*log)->Append(Rec("b")).ok());
  }
  uint64_t good = FileSize(FeedbackLogPath(dir));
  // What a crash in the middle of a write leaves: half a record.
  MemorySink half;
  FeedbackLogWriter w(&half, good);
  ASSERT_TRUE(w.Add(Rec("never-acknowledged")).ok());
  {
    std::ofstream f(FeedbackLogPath(dir), std::ios::binary | std::ios::app);
    f.write(half.data().data(), static_cast<std::streamsize>(half.data().size() / 2));
  }
  FeedbackOpenReport rep;
  auto log = FeedbackLogFile::Open(dir, &rep);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(rep.truncated_bytes, half.data().size() / 2);
  EXPECT_FALSE(rep.torn_tail_reason.empty());
  EXPECT_EQ(FileSize(FeedbackLogPath(dir)), good);
  ASSERT_TRUE((*log)->Append(Rec("c")).ok());
  auto c = ReadFeedbackLogFile(dir);
  EXPECT_TRUE(c->damage.empty());
  EXPECT_EQ(c->torn_tail_bytes, 0u);
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(FeedbackFile, ConcurrentAppendsAreAllWrittenOnce) {
  std::string dir = TempDir("group");
  auto log = FeedbackLogFile::Open(dir);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!(*log)->Append(Rec(std::to_string(t) + "-" + std::to_string(i))).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE((*log)->syncs(), static_cast<size_t>(kThreads * kEach));
  auto ids = LiveIds(dir);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // A batch: many records, one fsync.
  size_t before = (*log)->syncs();
  std::vector<FeedbackRecord> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(Rec("batch-" + std::to_string(i)));
  batch.push_back(Rec("batch-7"));  // duplicates inside a batch are written once
  ASSERT_TRUE((*log)->AppendBatch(batch).ok());
  EXPECT_EQ((*log)->syncs(), before + 1);
  EXPECT_EQ(LiveIds(dir).size(), static_cast<size_t>(kThreads * kEach + 500));
}

TEST(FeedbackFile, CompactionAppliesTombstonesAtomically) {
  std::string dir = TempDir("compact");
  auto log = FeedbackLogFile::Open(dir);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*log)->Append(Rec("r" + std::to_string(i), i % 2 ? "acme" : "beta")).ok());
  }
  Tombstone t;
  t.matter = "acme";
  ASSERT_TRUE((*log)->Append(t).ok());
  Tombstone one;
  one.record_id = "r0";
  ASSERT_TRUE((*log)->Append(one).ok());
  uint64_t before = FileSize(FeedbackLogPath(dir));
  CompactReport rep;
  ASSERT_TRUE((*log)->Compact(&rep).ok());
  EXPECT_EQ(rep.records, 4u);
  EXPECT_EQ(rep.deleted, 6u);
  EXPECT_TRUE(rep.damaged_copy.empty());
  EXPECT_LT(FileSize(FeedbackLogPath(dir)), before);
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"r2", "r4", "r6", "r8"}));
  // Appends continue into the new file; a forgotten matter stays forgotten.
  ASSERT_TRUE((*log)->Append(Rec("r11", "acme")).ok());
  ASSERT_TRUE((*log)->Append(Rec("r12", "beta")).ok());
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"r2", "r4", "r6", "r8", "r12"}));
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(f.path().filename().string().find(".tmp"), std::string::npos) << f.path();
  }
}

TEST(FeedbackFile, CompactionKeepsADamagedLogAside) {
  std::string dir = TempDir("damaged");
  {
    auto log = FeedbackLogFile::Open(dir);
    for (int i = 0; i < 3; ++i) {
      FeedbackRecord r = Rec("r" + std::to_string(i));
      r.critique.assign(40000, 'c');  // two blocks each
      ASSERT_TRUE((*log)->Append(r).ok());
    }
  }
  std::string bytes = *ReadFile(FeedbackLogPath(dir));
  bytes[40] ^= 0x55;  // damage the first record
  ASSERT_TRUE(WriteFileAtomic(FeedbackLogPath(dir), bytes).ok());
  auto log = FeedbackLogFile::Open(dir);
  CompactReport rep;
  ASSERT_TRUE((*log)->Compact(&rep).ok());
  EXPECT_GT(rep.bytes_dropped, 0u);
  ASSERT_FALSE(rep.damaged_copy.empty());
  EXPECT_EQ(*ReadFile(rep.damaged_copy), bytes);  // nothing thrown away unseen
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"r1", "r2"}));
}

TEST(FeedbackFile, OneWriterAtATime) {
  std::string dir = TempDir("lock");
  auto first = FeedbackLogFile::Open(dir);
  ASSERT_TRUE(first.ok());
  std::atomic<bool> opened{false};
  std::thread second([&] {
    auto log = FeedbackLogFile::Open(dir);
    opened = log.ok();
    if (log.ok()) {
      EXPECT_TRUE((*log)->Append(Rec("second")).ok());
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(opened.load());
  ASSERT_TRUE((*first)->Append(Rec("first")).ok());
  first->reset();  // releases the lock
  second.join();
  EXPECT_TRUE(opened.load());
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"first", "second"}));
}

// A holder that does not let go (a running server) gets a clear error,
// not a wait without end; a long-lived owner asks not to wait at all.
TEST(FeedbackFile, AHeldLogIsUnavailableAfterTheWait) {
  std::string dir = TempDir("held");
  auto owner = FeedbackLogFile::Open(dir);
  ASSERT_TRUE(owner.ok());
  FeedbackLogOptions o;
  o.lock_wait_s = 0.1;
  auto t0 = std::chrono::steady_clock::now();
  auto waited = FeedbackLogFile::Open(dir, nullptr, o);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(waited.status().message().find("another process holds the feedback log"),
            std::string::npos)
      << waited.status().ToString();
  EXPECT_GE(took, std::chrono::milliseconds(100));
  o.lock_wait_s = 0;
  EXPECT_EQ(FeedbackLogFile::Open(dir, nullptr, o).status().code(), Status::Code::kUnavailable);
  ASSERT_TRUE((*owner)->Append(Rec("kept")).ok());  // the holder is untouched
  owner->reset();
  auto after = FeedbackLogFile::Open(dir, nullptr, o);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(LiveIds(dir), (std::vector<std::string>{"kept"}));
}

TEST(Traces, SaveLoadAndRefuseBadIds) {
  std::string dir = TempDir("traces");
  ASSERT_TRUE(SaveTrace(dir, "{\"trace_id\":\"abc-1\"}", "abc-1").ok());
  auto t = LoadTrace(dir, "abc-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "{\"trace_id\":\"abc-1\"}");
  EXPECT_TRUE(LoadTrace(dir, "nope").status().IsNotFound());
  for (const char* bad : {"../x", "a/b", "", ".hidden", "x y"}) {
    EXPECT_TRUE(SaveTrace(dir, "{}", bad).IsInvalidArgument()) << bad;
    EXPECT_TRUE(LoadTrace(dir, bad).status().IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(ValidateTraceId(NewUuidV7()).ok());
}

TEST(Ids, UuidV7) {
  std::string a = NewUuidV7(1700000000000);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '7');                                          // version
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);  // variant 10xx
  EXPECT_EQ(a.substr(0, 13), "018bcfe5-6800");  // 1700000000000 ms = 0x018bcfe56800
  EXPECT_LT(NewUuidV7(1700000000000), NewUuidV7(1700000000001));
  EXPECT_NE(NewUuidV7(5), NewUuidV7(5));
}

}  // namespace
}  // namespace foldback::host
