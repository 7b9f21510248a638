// The feedback log on disk: <index dir>/feedback.log, appended through the
// core's FeedbackLogWriter (LevelDB's log format), fsync'ed before a write
// is acknowledged.
//
// - One writer at a time: FeedbackLogFile holds an exclusive flock on
//   <index dir>/feedback.lock (a separate file, so that compaction can
//   replace the log while the lock stays put). A second Open waits.
// - Opening recovers: a torn tail (what a crash left of an unacknowledged
//   write) is cut off, so appends continue at a record boundary.
// - Durable appends: Append returns after fdatasync. Threads appending at
//   the same time share fsyncs (group commit: the first waiting thread syncs
//   for everyone that appended before it started). AppendBatch appends many
//   entries and syncs once.
// - Idempotent: a record whose id is already in the log is acknowledged
//   without being written again; readers de-duplicate too.
// - Compaction rewrites the log atomically (temp file, fsync, rename, fsync
//   the folder) with tombstones applied and duplicates dropped. A log with
//   damage is first copied aside (feedback.log.damaged-<unix ms>): nothing
//   is thrown away unseen.
#ifndef FOLDBACK_NATIVE_HOST_FEEDBACK_LOG_H_
#define FOLDBACK_NATIVE_HOST_FEEDBACK_LOG_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "foldback/feedback.h"

namespace foldback::host {

std::string FeedbackLogPath(const std::string& dir);   // <dir>/feedback.log
std::string FeedbackLockPath(const std::string& dir);  // <dir>/feedback.lock

// Reads the log without taking the lock (a concurrent append shows up as a
// torn tail). A missing log reads as empty.
Result<FeedbackLogContents> ReadFeedbackLogFile(const std::string& dir);

struct FeedbackOpenReport {
  uint64_t size = 0;             // log size after recovery
  uint64_t truncated_bytes = 0;  // torn tail cut off
  std::string torn_tail_reason;
  size_t entries = 0;             // readable entries
  std::vector<LogDamage> damage;  // damage before the tail (kept in the file)
  uint64_t bytes_dropped = 0;
};

struct CompactReport {
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  size_t records = 0;     // live records kept
  size_t tombstones = 0;  // kept
  uint64_t duplicates = 0;
  uint64_t deleted = 0;
  uint64_t bytes_dropped = 0;  // damaged bytes not carried over
  std::string damaged_copy;    // where the damaged log was copied, if it was
};

struct FeedbackLogOptions {
  // Largest single write(2). Default 0: one write per entry. Crash tests set
  // it small so that a kill -9 can land in the middle of an entry and leave
  // a torn tail, as a power cut can.
  size_t write_chunk_bytes = 0;
  // How long Open waits for another process's hold on the log (one writer
  // at a time) before Unavailable, which names the likely holder. A long-
  // lived owner (`foldback serve` owns its index's log for its lifetime)
  // passes 0: a second server on the same index fails at once instead of
  // waiting unseen. Default: 10 s — a CLI or C host's write waits out
  // another's, not a server's.
  double lock_wait_s = 10;
};

class FeedbackLogFile {
 public:
  // Creates `dir` and the log if needed. IOError on file-system failure.
  static Result<std::unique_ptr<FeedbackLogFile>> Open(
      const std::string& dir, FeedbackOpenReport* report = nullptr,
      const FeedbackLogOptions& options = FeedbackLogOptions());
  ~FeedbackLogFile();
  FeedbackLogFile(const FeedbackLogFile&) = delete;
  FeedbackLogFile& operator=(const FeedbackLogFile&) = delete;

  // Durable appends (see the file comment). InvalidArgument / OutOfRange:
  // nothing written. IOError: the file is unusable until reopened.
  Status Append(const FeedbackRecord& record);
  Status Append(const Tombstone& tombstone);
  // Validates every record first (nothing is written if one is refused),
  // appends them all, syncs once.
  Status AppendBatch(const std::vector<FeedbackRecord>& records);

  // Rewrites the log (under the lock). Later appends go to the new file.
  Status Compact(CompactReport* report = nullptr);

  // True when the log holds a record with this id (deleted ones included).
  bool Contains(const std::string& record_id) const;
  uint64_t size() const;
  size_t syncs() const;  // fsyncs performed (for tests and benchmarks)

 private:
  FeedbackLogFile(std::string dir, int lock_fd, const FeedbackLogOptions& options);
  Status OpenLog(FeedbackOpenReport* report);
  // Appends under mu_ (already held) then waits for a covering fsync.
  Status Commit(std::unique_lock<std::mutex>* lock);
  Status SyncLocked(std::unique_lock<std::mutex>* lock, uint64_t target);

  class Sink;
  std::string dir_;
  FeedbackLogOptions options_;
  int lock_fd_ = -1;
  int fd_ = -1;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<FeedbackLogWriter> writer_;
  std::unordered_set<std::string> ids_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Status status_;          // sticky I/O failure
  uint64_t appended_ = 0;  // append batches so far
  uint64_t synced_ = 0;    // append batches known durable
  bool syncing_ = false;
  size_t syncs_ = 0;
};

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_FEEDBACK_LOG_H_
