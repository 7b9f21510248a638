// Trace ids (UUIDv7) and traces on disk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "host/ids.h"
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

}  // namespace
}  // namespace foldback::host
