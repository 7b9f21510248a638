// An index on disk: a folder holding the snapshot (index.fbsnap) and, later,
// the feedback log and traces. The snapshot is replaced atomically.
#ifndef FOLDBACK_NATIVE_HOST_INDEX_DIR_H_
#define FOLDBACK_NATIVE_HOST_INDEX_DIR_H_

#include <memory>
#include <string>

#include "foldback/index.h"
#include "host/files.h"

namespace foldback::host {

std::string SnapshotPath(const std::string& dir);

// Loads the index in `dir`. When there is none: creates an empty one with
// `options` if `create` is true, NotFound otherwise.
Result<std::unique_ptr<Index>> OpenIndex(const std::string& dir, bool create,
                                         const IndexOptions& options = IndexOptions());

// Writes the index's snapshot into `dir` (created if needed), atomically.
// FailedPrecondition, nothing written, while a `foldback serve` owns `dir`
// (its write log and snapshot would not know of the change).
Status SaveIndex(const std::string& dir, const Index& index);

// Writes the index's snapshot to `path` as it is produced (no copy of the
// whole in memory): a temp file beside it, fsynced and renamed over it; on
// any error the temp file is removed and `path` is left as it was. No lock:
// SaveIndex is the index folder's writer; `foldback serve` calls this
// under its own.
Status WriteSnapshotFile(const std::string& path, const Index& index);

// WriteSnapshotFile's first half: the snapshot written into the temp file,
// not yet fsynced or renamed, so a caller can let go of the index before
// the slow Commit() (`foldback serve`: writers wait for the index it
// saves). The temp file is removed if the result is dropped uncommitted.
Result<AtomicFile> WriteSnapshotTemp(const std::string& path, const Index& index);

// The lock a running `foldback serve` holds on its index folder for its
// lifetime (`<dir>/serve.lock`); a descriptor the caller closes to let go.
// Unavailable when another server holds it, or a SaveIndex is writing.
Result<int> HoldServeLock(const std::string& dir);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_INDEX_DIR_H_
