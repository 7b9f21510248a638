// Fuzz target: reading feedback log bytes. The first byte picks the block
// size (512 bytes, so that small inputs span blocks, or the real 32 KiB);
// the rest is the log. Anything may come back, except a crash; and the
// compacted form of what was read must read back to the same records.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "foldback/feedback.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t block = (data[0] & 1) ? foldback::kFeedbackLogBlockSize : 512;
  std::string_view log(reinterpret_cast<const char*>(data) + 1, size - 1);
  foldback::FeedbackLogContents c = foldback::ReadFeedbackLog(log, block);
  if (c.valid_end > log.size() || c.valid_end + c.torn_tail_bytes != log.size()) std::abort();
  foldback::FeedbackState st = foldback::ApplyFeedbackLog(c);
  auto compacted = foldback::CompactFeedbackLog(st, block);
  if (!compacted.ok()) std::abort();  // everything read back was valid
  foldback::FeedbackLogContents again = foldback::ReadFeedbackLog(*compacted, block);
  foldback::FeedbackState st2 = foldback::ApplyFeedbackLog(again);
  if (!again.damage.empty() || again.torn_tail_bytes != 0) std::abort();
  if (st2.records.size() != st.records.size() || st2.tombstones.size() != st.tombstones.size()) {
    std::abort();
  }
  for (size_t i = 0; i < st.records.size(); ++i) {
    if (st.records[i].record_id != st2.records[i].record_id) std::abort();
  }
  return 0;
}
