// Keeping an index in sync with a folder: what `foldback watch` and
// `foldback serve --watch` share.
//
// Each pass lists the folder and compares every file with the state of the
// last pass (size and modification time, then a SHA-256 of the content to
// confirm a change): new files are added, changed ones re-read (documents
// they no longer yield are removed), deleted ones removed. The changes go
// to a FolderWatchSink one file at a time — all of a file's removals and
// additions in one Apply — so a sink that publishes each Apply atomically
// (serve's single writer) never shows half of a file's update.
//
// State lives in INDEX_DIR/watch-state.json, replaced atomically after each
// batch, always after the sink made the index it describes durable
// (FolderWatchSink::Save). A crash between the two leaves a state behind the
// index; the next pass re-reads those files and re-adds or re-removes the
// same ids, so nothing is lost or duplicated.
//
// Between passes (WatchFolder) the folder is watched with inotify (Linux) —
// a pass runs once events have been quiet for a second — plus a full rescan
// every `interval_s`, which also covers file systems inotify cannot see
// (network shares).
#ifndef FOLDBACK_NATIVE_HOST_FOLDER_WATCH_H_
#define FOLDBACK_NATIVE_HOST_FOLDER_WATCH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "foldback/status.h"

namespace foldback::host {

// Where a pass's changes go.
class FolderWatchSink {
 public:
  virtual ~FolderWatchSink() = default;
  // Removes the documents `remove` (ids not in the index are fine), then
  // adds `add`, as one change. `added` receives the ids actually added;
  // `problems` one line per document that could not be (the rest of the
  // file still counts). A non-OK status: nothing of this call was applied.
  virtual Status Apply(const std::vector<std::string>& remove, std::vector<Document> add,
                       std::vector<std::string>* added, std::vector<std::string>* problems) = 0;
  // Makes what was applied durable; `pass_end_with_changes` is true at the
  // end of a pass that changed something (the CLI rebuilds the dense index
  // then). The state file is written only after this returns OK.
  virtual Status Save(bool pass_end_with_changes) = 0;
};

struct FolderWatchOptions {
  // The index folder: holds watch-state.json and .watch.lock.
  std::string index_dir;
  // The folder to keep in sync.
  std::string folder;
  // Matter of every document the folder yields ("" = none).
  std::string matter;
  // Changed files between saves of the index and state. Default: 200.
  size_t batch = 200;
  // What a pass says: one line per file changed or failed, then a summary
  // ("sync: 1 added, ..."). Text comes from file names and file contents:
  // the callee makes it safe for where it goes. Null: silent.
  std::function<void(const std::string&)> say;
  // Polled between files: true stops the pass early (the state is saved;
  // the rest follows on the next pass). Null: never.
  std::function<bool()> stop;
};

struct WatchLoopOptions {
  // Seconds between full rescans. Default: 300.
  double interval_s = 300;
  // Watch with inotify between rescans (Linux); off: poll only.
  bool use_inotify = true;
  // Called once before waiting, with whether inotify is in use. Null: none.
  std::function<void(bool inotify)> on_watching;
};

class FolderSync {
 public:
  // Takes the index's watch lock (one watcher per index: FailedPrecondition
  // when another holds it) and loads the state, which must be of the same
  // folder and matter.
  static Result<std::unique_ptr<FolderSync>> Open(FolderWatchOptions options, FolderWatchSink* sink);
  ~FolderSync();

  // One pass. An error means the index or the state could not be saved.
  Status Sync();

  // Passes until the options' stop() says so (the caller ran the first
  // one): after each burst of folder events (quiet for 1 s, or 10 s of
  // continuous events) and every interval. Returns the first error of a
  // pass.
  Status Watch(const WatchLoopOptions& options);

  size_t failed_total() const;
  const std::string& root() const;

  struct Rep;

 private:
  explicit FolderSync(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_FOLDER_WATCH_H_
