// The served index's writes as data, and their append-only log.
//
// A write (POST/DELETE /v1/documents, a file of --watch) is a WriteOp:
// documents removed, then documents added. Applying an op is idempotent in
// the sense that matters here: an add replaces a document with the same id,
// a removal of an absent id is no error, so replaying any suffix of the log
// that starts at or before the snapshot's position yields the same index.
//
// The log (INDEX_DIR/serve-writes.log, JSON lines) is appended and fsync'ed
// before a write is acknowledged; the snapshot is saved in the background,
// after which INDEX_DIR/serve-writes.saved records the last sequence number
// it holds and the log drops those records. At start the records after that
// number are applied to the snapshot (a torn last line — a write that was
// never acknowledged — is dropped).
#ifndef FOLDBACK_NATIVE_SERVE_WRITE_LOG_H_
#define FOLDBACK_NATIVE_SERVE_WRITE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "foldback/document.h"
#include "foldback/index.h"
#include "foldback/status.h"

namespace foldback::serve {

struct WriteOp {
  uint64_t seq = 0;  // assigned by WriteLog::Append
  std::vector<std::string> remove;
  std::vector<Document> add;
};

// Applies `op` to `index`: removals, then additions. `added` (optional)
// receives the ids added; `problems` (optional) one line per document that
// could not be added or removed — the rest of the op still applies.
void ApplyWriteOp(Index* index, const WriteOp& op, std::vector<std::string>* added = nullptr,
                  std::vector<std::string>* problems = nullptr);

// Not thread-safe: the server's single writer calls it.
class WriteLog {
 public:
  // Opens (creates) the log in `dir` and reads the records not yet in the
  // snapshot. Corruption for a damaged record before the last line.
  static Result<std::unique_ptr<WriteLog>> Open(const std::string& dir);
  ~WriteLog();

  // The records after the snapshot's position, oldest first (as read by Open).
  const std::vector<WriteOp>& pending() const { return pending_; }
  void clear_pending() { pending_.clear(); pending_.shrink_to_fit(); }

  // Gives `op` the next sequence number, appends it and fsyncs.
  Status Append(WriteOp* op);

  // The snapshot on disk holds every record up to `seq`: records that, then
  // drops them from the log (the rest is rewritten atomically).
  Status Saved(uint64_t seq);

  uint64_t last_seq() const { return last_seq_; }

 private:
  WriteLog() = default;
  std::string dir_, path_;
  int fd_ = -1;
  uint64_t last_seq_ = 0;
  uint64_t saved_seq_ = 0;
  std::vector<WriteOp> pending_;
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_WRITE_LOG_H_
