// foldback watch --index DIR [--matter M] [--once] [--interval S] PATH
//
// (The sync itself is host/folder_watch.h, shared with `foldback serve
// --watch`; this file is the command and the index it owns.)
//
// Keeps an index in sync with a folder — the shape of a document-management
// connector. Each pass lists the folder and compares every file with the
// state of the last pass (size and modification time, then a SHA-256 of the
// content to confirm a change): new files are added, changed ones re-read
// (documents they no longer yield are removed), deleted ones removed.
//
// State lives in DIR/watch-state.json, replaced atomically after each batch,
// always after the index snapshot it describes. A crash between the two
// leaves a state that is behind the index; the next pass re-reads those files
// and re-adds or re-removes the same ids, so nothing is lost or duplicated.
// SIGINT/SIGTERM finish the current file, save, and exit; a second signal
// exits at once (the files on disk are whole either way).
//
// Between passes the folder is watched with inotify (Linux) — a pass runs
// once events have been quiet for a second — plus a full rescan every
// --interval seconds, which also covers file systems inotify cannot see
// (network shares).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "host/folder_watch.h"
#include "host/index_dir.h"

namespace foldback::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) {
  if (g_stop) _exit(130);  // second signal: the state on disk is whole, leave now
  g_stop = 1;
}

struct WatchArgs {
  std::string index_dir;
  std::string matter;
  std::string path;
  bool once = false;
  bool no_dense = false;
  double interval = 300;
  size_t batch = 200;
};

// The CLI's index is its own: changes go straight into it; the sync saves
// it (and the state after it) every batch and at the end of a pass.
class IndexSink : public host::FolderWatchSink {
 public:
  explicit IndexSink(const WatchArgs& a) : a_(a) {}
  // Set once the sync has checked the folder, the lock and the state.
  void set_index(Index* index) { index_ = index; }

  Status Apply(const std::vector<std::string>& remove, std::vector<Document> add,
               std::vector<std::string>* added, std::vector<std::string>* problems) override {
    for (const std::string& id : remove) {
      Status s = index_->Remove(id);
      if (!s.ok() && !s.IsNotFound()) problems->push_back("cannot remove " + id + ": " + s.ToString());
    }
    for (Document& d : add) {
      auto r = index_->Add(d);
      if (!r.ok()) {
        problems->push_back("(" + d.id + "): " + r.status().ToString());
        continue;
      }
      added->push_back(d.id);
    }
    return Status::OK();
  }

  Status Save(bool pass_end_with_changes) override {
    if (pass_end_with_changes && !a_.no_dense) {
      Status dense = index_->BuildDense();
      if (!dense.ok()) Say("  dense index not built: " + dense.ToString());
    }
    return host::SaveIndex(a_.index_dir, *index_);
  }

  static void Say(const std::string& line) {
    fmt::print(FMT_STRING("{}\n"), TerminalSafe(line, false));  // names and messages from files
    std::fflush(stdout);
  }

 private:
  const WatchArgs& a_;
  Index* index_ = nullptr;
};

int Run(const WatchArgs& a) {
  host::FolderWatchOptions fo;
  fo.index_dir = a.index_dir;
  fo.folder = a.path;
  fo.matter = a.matter;
  fo.batch = a.batch;
  fo.say = IndexSink::Say;
  fo.stop = [] { return g_stop != 0; };
  // The folder, the lock and the state are checked before the index is opened.
  IndexSink sink(a);
  auto sync = host::FolderSync::Open(std::move(fo), &sink);
  if (!sync.ok()) return Fail(sync.status());
  auto index = host::OpenIndex(a.index_dir, /*create=*/true);
  if (!index.ok()) return Fail(index.status());
  sink.set_index(index->get());

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns on a signal
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  host::FolderSync& w = **sync;
  Status s = w.Sync();
  if (!s.ok()) return Fail(s);
  if (a.once || g_stop) {
    if (g_stop) fmt::print(FMT_STRING("stopped; state saved\n"));
    return w.failed_total() ? 3 : 0;
  }
  host::WatchLoopOptions lo;
  lo.interval_s = a.interval;
  lo.on_watching = [&](bool inotify) {
    fmt::print(FMT_STRING("watching {} ({}, full rescan every {:.0f}s); Ctrl-C to stop\n"), w.root(),
               inotify ? "inotify" : "polling", a.interval);
    std::fflush(stdout);
  };
  s = w.Watch(lo);
  if (!s.ok()) return Fail(s);
  fmt::print(FMT_STRING("stopped; state saved\n"));
  return 0;
}

}  // namespace

void RegisterWatch(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<WatchArgs>();
  CLI::App* cmd = app.add_subcommand("watch", "Keep an index in sync with a folder (new, changed, deleted files)");
  cmd->add_option("--index", args->index_dir, "Index folder (created if missing); holds watch-state.json")
      ->required();
  cmd->add_option("--matter", args->matter, "Matter the folder's documents belong to (ethical walls)");
  cmd->add_flag("--once", args->once, "One pass, then exit (for cron and tests)");
  cmd->add_option("--interval", args->interval, "Seconds between full rescans (default 300)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "Changed files between saves of the index and state (default 200)");
  cmd->add_flag("--no-dense", args->no_dense, "Skip building the dense (embedding) index");
  cmd->add_option("path", args->path, "Folder to keep in sync")->required();
  cmd->footer(
      "Hidden files and folders and Office owner files (~$*) are ignored.\n"
      "Exit status: 0 ok (or stopped by SIGINT/SIGTERM after saving), 3 some files failed (--once), 1/2 errors.");
  cmd->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace foldback::cli
