// foldback watch --index DIR [--matter M] [--once] [--interval S] PATH
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
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include <fmt/format.h>

#include "cli/common.h"
#include "host/files.h"
#include "host/hash.h"
#include "host/index_dir.h"
#include "ingest/extract.h"

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

struct FileState {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;
  std::string id;                // the file's own document id
  std::vector<std::string> ids;  // every document it yielded (messages, attachments)
  std::string error;             // why the last version could not be read
};

struct WatchState {
  std::string root;
  std::string matter;
  std::map<std::string, FileState> files;  // by path relative to root
};

constexpr int kStateVersion = 1;

std::string StatePath(const std::string& dir) { return dir + "/watch-state.json"; }

Result<WatchState> LoadState(const std::string& dir) {
  WatchState st;
  std::string path = StatePath(dir);
  if (!host::PathExists(path)) return st;
  auto bytes = host::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  nlohmann::json j = nlohmann::json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kStateVersion || !j.contains("files") ||
      !j["files"].is_object()) {
    return Status::Corruption(path + " is not a watch state this version can read (remove it to start over)");
  }
  try {
    st.root = j.value("root", "");
    st.matter = j.value("matter", "");
    for (auto& [rel, f] : j["files"].items()) {
      FileState fs;
      fs.size = f.at("size").get<uint64_t>();
      fs.mtime_ns = f.at("mtime_ns").get<int64_t>();
      fs.sha256 = f.at("sha256").get<std::string>();
      fs.id = f.at("id").get<std::string>();
      fs.ids = f.at("ids").get<std::vector<std::string>>();
      fs.error = f.value("error", "");
      st.files.emplace(rel, std::move(fs));
    }
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return st;
}

Status SaveState(const std::string& dir, const WatchState& st) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [rel, f] : st.files) {
    nlohmann::json e = {{"size", f.size}, {"mtime_ns", f.mtime_ns}, {"sha256", f.sha256}, {"id", f.id},
                        {"ids", f.ids}};
    if (!f.error.empty()) e["error"] = f.error;
    files[rel] = std::move(e);
  }
  nlohmann::json j = {{"version", kStateVersion}, {"root", st.root}, {"matter", st.matter}, {"files", files}};
  return host::WriteFileAtomic(StatePath(dir), j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
}

struct Stat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

bool StatFile(const std::string& path, Stat* out) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out->size = static_cast<uint64_t>(st.st_size);
  out->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

// Hidden files and folders, Office owner files ("~$Contract.docx").
bool Ignored(const std::string& rel) {
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    if (rel[pos] == '.' || rel.compare(pos, 2, "~$") == 0) return true;
    pos = slash + 1;
  }
  return false;
}

class Watcher {
 public:
  Watcher(const WatchArgs& a, std::string root, std::string index_abs, Index* index, WatchState* state)
      : a_(a), root_(std::move(root)), index_abs_(std::move(index_abs)), index_(index), state_(state) {
    options_.attachments = true;
  }

  // One pass. An error means the index or the state could not be saved.
  Status Sync() {
    auto t0 = std::chrono::steady_clock::now();
    Counts c;
    auto listed = host::ListFiles(root_);
    if (!listed.ok()) return listed.status();
    std::map<std::string, Stat> seen;
    for (const std::string& f : *listed) {
      std::string rel = f.substr(root_.size() + 1);
      if (Ignored(rel) || f.compare(0, index_abs_.size() + 1, index_abs_ + "/") == 0) continue;
      Stat s;
      if (StatFile(f, &s)) seen.emplace(std::move(rel), s);
    }
    // Deleted files.
    std::vector<std::string> gone;
    for (const auto& [rel, fs] : state_->files) {
      if (!seen.count(rel)) gone.push_back(rel);
    }
    for (const std::string& rel : gone) {
      RemoveDocs(state_->files[rel].ids);
      state_->files.erase(rel);
      Say("- " + rel);
      ++c.removed;
      FB_RETURN_IF_ERROR(Dirty());
    }
    // New and changed files.
    for (const auto& [rel, s] : seen) {
      if (g_stop) break;
      auto it = state_->files.find(rel);
      if (it != state_->files.end() && it->second.size == s.size && it->second.mtime_ns == s.mtime_ns) {
        ++c.unchanged;
        continue;
      }
      std::string path = root_ + "/" + rel;
      if (it == state_->files.end()) {
        auto u = unsupported_.find(rel);
        if (u != unsupported_.end() && u->second.size == s.size && u->second.mtime_ns == s.mtime_ns) continue;
        if (!ingest::IsSupported(path)) {
          unsupported_[rel] = s;
          continue;
        }
      }
      FB_RETURN_IF_ERROR(Update(rel, path, s, &c));
    }
    if (pending_ > 0 || c.changes() > 0) {
      if (!a_.no_dense && c.changes() > 0) {
        Status dense = index_->BuildDense();
        if (!dense.ok()) Say("  dense index not built: " + dense.ToString());
      }
      FB_RETURN_IF_ERROR(Save());
    }
    fmt::print(
        FMT_STRING("sync: {} added, {} changed, {} removed, {} failed, {} unchanged ({:.2f}s){}\n"),
        c.added, c.changed, c.removed, c.failed, c.unchanged, SecondsSince(t0),
        g_stop ? " — stopped early, the rest follows on the next run" : "");
    std::fflush(stdout);
    failed_total_ += c.failed;
    return Status::OK();
  }

  size_t failed_total() const { return failed_total_; }

 private:
  struct Counts {
    size_t added = 0, changed = 0, removed = 0, failed = 0, unchanged = 0;
    size_t changes() const { return added + changed + removed; }
  };

  void Say(const std::string& line) {
    fmt::print(FMT_STRING("{}\n"), TerminalSafe(line, false));  // names and messages from files
    std::fflush(stdout);
  }

  void RemoveDocs(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      Status s = index_->Remove(id);
      if (!s.ok() && !s.IsNotFound()) Say("  cannot remove " + id + ": " + s.ToString());
    }
  }

  // The id a new file gets: like `foldback ingest`, unless another tracked
  // file already has it.
  std::string NewId(const std::string& rel) {
    std::string id = IdFor(root_, root_ + "/" + rel);
    for (const auto& [other, fs] : state_->files) {
      if (other != rel && fs.id == id) return IdWithExtension(root_, root_ + "/" + rel);
    }
    return id;
  }

  Status Update(const std::string& rel, const std::string& path, const Stat& before, Counts* c) {
    auto bytes = host::ReadFile(path);
    if (!bytes.ok()) {
      Say("! " + rel + ": " + bytes.status().ToString());
      ++c->failed;
      return Status::OK();
    }
    Stat after;
    if (!StatFile(path, &after) || after.size != before.size || after.mtime_ns != before.mtime_ns ||
        after.size != bytes->size()) {
      // Still being written: the next pass (or inotify event) picks it up.
      return Status::OK();
    }
    std::string sha = host::Sha256Hex(*bytes);
    auto it = state_->files.find(rel);
    bool known = it != state_->files.end();
    if (known && it->second.sha256 == sha) {
      it->second.size = after.size;  // touched, same content
      it->second.mtime_ns = after.mtime_ns;
      ++c->unchanged;
      return Dirty();
    }
    FileState fs = known ? it->second : FileState();
    if (!known) fs.id = NewId(rel);
    fs.size = after.size;
    fs.mtime_ns = after.mtime_ns;
    fs.sha256 = sha;
    auto ex = ingest::ExtractBytes(*bytes, path, fs.id, options_);
    if (!ex.ok()) {
      // The documents of the last good version stay in the index.
      fs.error = ex.status().ToString();
      Say("! " + rel + ": " + fs.error + (fs.ids.empty() ? "" : " (the previous version stays indexed)"));
      state_->files[rel] = std::move(fs);
      ++c->failed;
      return Dirty();
    }
    for (const std::string& w : ex->warnings) Say("  warning " + rel + ": " + w);
    std::set<std::string> new_ids;
    for (const Document& d : ex->documents) new_ids.insert(d.id);
    std::vector<std::string> stale;
    for (const std::string& id : fs.ids) {
      if (!new_ids.count(id)) stale.push_back(id);
    }
    RemoveDocs(stale);
    fs.ids.clear();
    size_t added = 0;
    for (Document& d : ex->documents) {
      if (!a_.matter.empty()) d.matter = a_.matter;
      if (!d.metadata.count("source_path")) d.metadata["source_path"] = {path};
      auto r = index_->Add(d);
      if (!r.ok()) {
        Say("! " + rel + " (" + d.id + "): " + r.status().ToString());
        continue;
      }
      fs.ids.push_back(d.id);
      ++added;
    }
    fs.error.clear();
    Say(fmt::format(FMT_STRING("{}{} ({} documents)"), (known ? "~ " : "+ "), rel, added));
    ++(known ? c->changed : c->added);
    state_->files[rel] = std::move(fs);
    return Dirty();
  }

  // Counts a change; saves when a batch is full.
  Status Dirty() {
    if (++pending_ >= a_.batch) return Save();
    return Status::OK();
  }

  Status Save() {
    FB_RETURN_IF_ERROR(host::SaveIndex(a_.index_dir, *index_));
    FB_RETURN_IF_ERROR(SaveState(a_.index_dir, *state_));
    pending_ = 0;
    return Status::OK();
  }

  const WatchArgs& a_;
  std::string root_, index_abs_;
  Index* index_;
  WatchState* state_;
  ingest::ExtractOptions options_;
  std::map<std::string, Stat> unsupported_;
  size_t pending_ = 0;
  size_t failed_total_ = 0;
};

#ifdef __linux__
// inotify watches on every folder under root (new folders are added after
// each pass). Returns false when inotify cannot be used.
class FolderEvents {
 public:
  ~FolderEvents() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool Start(const std::string& root, const std::string& skip) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) return false;
    root_ = root;
    skip_ = skip;
    return AddAll() >= 0;
  }

  // Watches every folder; returns how many were not watched before (files
  // created in them before their watch existed need a pass), -1 when
  // inotify cannot be used any more.
  int AddAll() {
    constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                               IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_MODIFY;
    std::error_code ec;
    int added = 0;
    auto add = [&](const std::string& dir) {
      int wd = inotify_add_watch(fd_, dir.c_str(), kMask);
      if (wd < 0) return false;
      added += wds_.insert(wd).second ? 1 : 0;
      return true;
    };
    if (!add(root_)) return Warn();
    for (auto it = std::filesystem::recursive_directory_iterator(
             root_, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_directory(ec)) continue;
      std::string p = it->path().string();
      std::string name = it->path().filename().string();
      if (p == skip_ || (!name.empty() && name[0] == '.')) {
        it.disable_recursion_pending();
        continue;
      }
      if (!add(p)) return Warn();
    }
    return added;
  }

  int fd() const { return fd_; }

  // Reads pending events; true when there were any.
  bool Drain() {
    bool any = false;
    alignas(struct inotify_event) char buf[16384];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      any = true;
    }
    return any;
  }

 private:
  int Warn() {
    fmt::print(stderr,
               FMT_STRING("note: inotify unavailable ({}); relying on the periodic rescan\n"),
               std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    return -1;
  }

  int fd_ = -1;
  std::set<int> wds_;
  std::string root_, skip_;
};
#endif

int Run(const WatchArgs& a) {
  std::error_code ec;
  if (!std::filesystem::is_directory(a.path, ec)) {
    return Fail(Status::InvalidArgument("not a folder: " + a.path));
  }
  if (a.batch == 0) return Fail(Status::InvalidArgument("--batch must be at least 1"));
  std::string root = std::filesystem::canonical(a.path, ec).string();
  if (Status made = host::MakeDirs(a.index_dir); !made.ok()) return Fail(made);
  std::string index_abs = std::filesystem::canonical(a.index_dir, ec).string();

  // One watcher per index.
  std::string lock_path = a.index_dir + "/.watch.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail(Status::FailedPrecondition("another foldback watch is using " + a.index_dir));
  }

  auto state = LoadState(a.index_dir);
  if (!state.ok()) return Fail(state.status());
  if (!state->root.empty() && state->root != root) {
    return Fail(Status::FailedPrecondition("index " + a.index_dir + " is kept in sync with " + state->root +
                                           ", not " + root));
  }
  if (!state->files.empty() && state->matter != a.matter) {
    return Fail(Status::FailedPrecondition("index " + a.index_dir + " was filled with --matter '" +
                                           state->matter + "'"));
  }
  state->root = root;
  state->matter = a.matter;
  auto opened = host::OpenIndex(a.index_dir, /*create=*/true);
  if (!opened.ok()) return Fail(opened.status());

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns on a signal
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Watcher w(a, root, index_abs, opened->get(), &*state);
#ifdef __linux__
  FolderEvents events;
  bool use_events = !a.once && events.Start(root, index_abs);
#else
  bool use_events = false;
#endif
  Status s = w.Sync();
  if (!s.ok()) return Fail(s);
  if (a.once || g_stop) {
    if (g_stop) fmt::print(FMT_STRING("stopped; state saved\n"));
    return w.failed_total() ? 3 : 0;
  }
  fmt::print(FMT_STRING("watching {} ({}, full rescan every {:.0f}s); Ctrl-C to stop\n"), root,
             use_events ? "inotify" : "polling", a.interval);
  std::fflush(stdout);
  using Clock = std::chrono::steady_clock;
  auto next_rescan = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(a.interval * 1000));
  bool dirty = false;
  Clock::time_point first_event, last_event;
  while (!g_stop) {
    int timeout_ms = 500;
#ifdef __linux__
    if (use_events) {
      struct pollfd pfd = {events.fd(), POLLIN, 0};
      int r = ::poll(&pfd, 1, timeout_ms);
      if (r > 0 && events.Drain()) {
        auto now = Clock::now();
        if (!dirty) first_event = now;
        dirty = true;
        last_event = now;
      }
    } else {
      ::poll(nullptr, 0, timeout_ms);
    }
#else
    ::poll(nullptr, 0, timeout_ms);
#endif
    if (g_stop) break;
    auto now = Clock::now();
    bool quiet = dirty && (now - last_event >= std::chrono::seconds(1) || now - first_event >= std::chrono::seconds(10));
    if (quiet || now >= next_rescan) {
      dirty = false;
      s = w.Sync();
      if (!s.ok()) return Fail(s);
#ifdef __linux__
      if (use_events) {
        int fresh = events.AddAll();
        use_events = fresh >= 0;
        if (fresh > 0) {
          // Folders created since the last pass were not watched when their
          // first files arrived: look again once things are quiet.
          dirty = true;
          first_event = last_event = Clock::now();
        }
      }
#endif
      next_rescan = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(a.interval * 1000));
    }
  }
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
