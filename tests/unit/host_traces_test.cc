// Trace ids (UUIDv7), traces on disk, and index folders' snapshots
// (streamed out, mapped in).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "foldback/index.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/traces.h"

namespace foldback::host {
namespace {

TEST(HostIds, UuidV7Layout) {
  int64_t ms = 1700000000123;  // 0x018bcfe5687b
  std::string id = NewUuidV7(ms);
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id.substr(0, 13), "018bcfe5-687b");  // the timestamp, big-endian
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[14], '7');                            // version
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // variant 0b10
  for (char c : id) EXPECT_TRUE(c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
  EXPECT_TRUE(ValidateTraceId(id).ok());
}

TEST(HostIds, UniqueAndTimeOrdered) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(NewUuidV7(1700000000000 + i / 10)).second);
  EXPECT_LT(NewUuidV7(1700000000000), NewUuidV7(1700000000001));
  EXPECT_GT(UnixMillis(), 1700000000000);
}

TEST(HostTraces, SaveLoadAndHostileIds) {
  std::string dir = (std::filesystem::temp_directory_path() / ("foldback-traces-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  std::string id = NewUuidV7();
  ASSERT_TRUE(SaveTrace(dir, "{\"trace_id\":\"" + id + "\"}", id).ok());
  auto back = LoadTrace(dir, id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "{\"trace_id\":\"" + id + "\"}");
  EXPECT_EQ(TracePath(dir, id), dir + "/traces/" + id + ".json");

  auto missing = LoadTrace(dir, "0000-none");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("0000-none"), std::string::npos);

  for (const char* bad : {"", "../escape", "a/b", ".hidden", "x y", "tr\xC3\xA9"}) {
    EXPECT_TRUE(ValidateTraceId(bad).IsInvalidArgument()) << bad;
    EXPECT_FALSE(SaveTrace(dir, "{}", bad).ok()) << bad;
  }
  EXPECT_TRUE(ValidateTraceId(std::string(129, 'a')).IsInvalidArgument());
  EXPECT_FALSE(std::filesystem::exists(dir + "/escape.json"));
  std::filesystem::remove_all(dir);
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::unique_ptr<Index> ContractsIndex(int docs) {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  for (int d = 0; d < docs; ++d) {
    Document doc;
    doc.id = "d" + std::to_string(d);
    doc.text = "Either party may terminate this Agreement for convenience on " + std::to_string(d) +
               " days notice. The Supplier shall indemnify the Customer.";
    EXPECT_TRUE((*idx)->Add(doc).ok());
  }
  return std::move(idx.value());
}

// An index folder's snapshot goes out streamed and comes back mapped: the
// bytes on disk are Snapshot()'s, and the loaded index ranks the same.
TEST(HostIndexDir, SavedStreamedAndOpenedMapped) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("foldback-indexdir-" + std::to_string(getpid())))
          .string();
  std::filesystem::remove_all(dir);
  auto idx = ContractsIndex(40);
  ASSERT_TRUE(SaveIndex(dir, *idx).ok());
  EXPECT_EQ(FileBytes(SnapshotPath(dir)), *idx->Snapshot());
  auto opened = OpenIndex(dir, /*create=*/false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  auto a = idx->Search("terminate convenience 17", o);
  auto b = (*opened)->Search("terminate convenience 17", o);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_FALSE(a->empty());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id);
    EXPECT_EQ((*a)[i].score, (*b)[i].score);
  }
  // An empty or damaged file is Corruption, with the path.
  { std::ofstream(SnapshotPath(dir), std::ios::trunc).flush(); }
  auto empty = OpenIndex(dir, /*create=*/false);
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(empty.status().IsCorruption()) << empty.status().ToString();
  EXPECT_NE(empty.status().message().find("index.fbsnap"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A write that fails midway (the file system refuses to grow the file:
// RLIMIT_FSIZE, a real EFBIG from write(2)) loses nothing: the old
// snapshot stays whole and no temp file is left.
TEST(HostIndexDir, AWriteThatFailsMidwayKeepsTheOldSnapshot) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("foldback-indexdir-fail-" + std::to_string(getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  auto old_index = ContractsIndex(20);
  ASSERT_TRUE(SaveIndex(dir, *old_index).ok());
  const std::string old_bytes = FileBytes(SnapshotPath(dir));
  auto bigger = ContractsIndex(400);
  const size_t new_size = bigger->Snapshot()->size();
  ASSERT_GT(new_size, 2 * old_bytes.size());

  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore = {}, saved_action;
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &saved_action), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = new_size / 2;  // the header and some fields get through
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  Status s = SaveIndex(dir, *bigger);
  setrlimit(RLIMIT_FSIZE, &saved);
  sigaction(SIGXFSZ, &saved_action, nullptr);

  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_EQ(FileBytes(SnapshotPath(dir)), old_bytes);
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "temp file left: " << e.path();
  }
  auto opened = OpenIndex(dir, /*create=*/false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)->Stats().documents, 20u);
  // With room again, the new snapshot replaces it.
  ASSERT_TRUE(SaveIndex(dir, *bigger).ok());
  EXPECT_EQ(FileBytes(SnapshotPath(dir)).size(), new_size);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace foldback::host
