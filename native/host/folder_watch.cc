#include "host/folder_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include <fmt/format.h>

#include "host/files.h"
#include "host/hash.h"
#include "host/ingest_path.h"
#include "ingest/extract.h"

namespace foldback::host {
namespace {

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
  if (!PathExists(path)) return st;
  auto bytes = ReadFile(path);
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
  return WriteFileAtomic(StatePath(dir), j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
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

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct FolderSync::Rep {
  FolderWatchOptions o;
  FolderWatchSink* sink = nullptr;
  std::string root, index_abs;
  int lock_fd = -1;
  WatchState state;
  ingest::ExtractOptions extract;
  std::map<std::string, Stat> unsupported;
  size_t pending = 0;
  size_t failed_total = 0;

  struct Counts {
    size_t added = 0, changed = 0, removed = 0, failed = 0, unchanged = 0;
    size_t changes() const { return added + changed + removed; }
  };

  void Say(const std::string& line) const {
    if (o.say) o.say(line);
  }
  bool Stopping() const { return o.stop && o.stop(); }

  // The id a new file gets: like `foldback ingest`, unless another tracked
  // file already has it.
  std::string NewId(const std::string& rel) {
    std::string id = DocumentIdFor(root, root + "/" + rel);
    for (const auto& [other, fs] : state.files) {
      if (other != rel && fs.id == id) return DocumentIdWithExtension(root, root + "/" + rel);
    }
    return id;
  }

  Status Apply(const std::string& rel, const std::vector<std::string>& remove, std::vector<Document> add,
               std::vector<std::string>* added) {
    std::vector<std::string> problems;
    Status s = sink->Apply(remove, std::move(add), added, &problems);
    for (const std::string& p : problems) Say("! " + rel + " " + p);
    return s;
  }

  Status Update(const std::string& rel, const std::string& path, const Stat& before, Counts* c) {
    auto bytes = ReadFile(path);
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
    std::string sha = Sha256Hex(*bytes);
    auto it = state.files.find(rel);
    bool known = it != state.files.end();
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
    auto ex = ingest::ExtractBytes(*bytes, path, fs.id, extract);
    if (!ex.ok()) {
      // The documents of the last good version stay in the index.
      fs.error = ex.status().ToString();
      Say("! " + rel + ": " + fs.error + (fs.ids.empty() ? "" : " (the previous version stays indexed)"));
      state.files[rel] = std::move(fs);
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
    for (Document& d : ex->documents) {
      if (!o.matter.empty()) d.matter = o.matter;
      if (!d.metadata.count("source_path")) d.metadata["source_path"] = {path};
    }
    std::vector<std::string> added;
    Status applied = Apply(rel, stale, std::move(ex->documents), &added);
    if (!applied.ok()) {
      // Nothing of this version is in: the next pass tries again.
      Say("! " + rel + ": " + applied.ToString());
      ++c->failed;
      return Status::OK();
    }
    fs.ids = std::move(added);
    fs.error.clear();
    Say(fmt::format(FMT_STRING("{}{} ({} documents)"), (known ? "~ " : "+ "), rel, fs.ids.size()));
    ++(known ? c->changed : c->added);
    state.files[rel] = std::move(fs);
    return Dirty();
  }

  // Counts a change; saves when a batch is full.
  Status Dirty() {
    if (++pending >= o.batch) return Save(false);
    return Status::OK();
  }

  Status Save(bool pass_end_with_changes) {
    FB_RETURN_IF_ERROR(sink->Save(pass_end_with_changes));
    FB_RETURN_IF_ERROR(SaveState(o.index_dir, state));
    pending = 0;
    return Status::OK();
  }
};

FolderSync::FolderSync(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

FolderSync::~FolderSync() {
  if (rep_ && rep_->lock_fd >= 0) ::close(rep_->lock_fd);
}

size_t FolderSync::failed_total() const { return rep_->failed_total; }
const std::string& FolderSync::root() const { return rep_->root; }

Result<std::unique_ptr<FolderSync>> FolderSync::Open(FolderWatchOptions options, FolderWatchSink* sink) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.folder, ec)) {
    return Status::InvalidArgument("not a folder: " + options.folder);
  }
  if (options.batch == 0) return Status::InvalidArgument("--batch must be at least 1");
  auto rep = std::make_unique<Rep>();
  rep->root = std::filesystem::canonical(options.folder, ec).string();
  FB_RETURN_IF_ERROR(MakeDirs(options.index_dir));
  rep->index_abs = std::filesystem::canonical(options.index_dir, ec).string();
  // One watcher per index.
  std::string lock_path = options.index_dir + "/.watch.lock";
  rep->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (rep->lock_fd < 0 || ::flock(rep->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (rep->lock_fd >= 0) ::close(rep->lock_fd);
    return Status::FailedPrecondition("another foldback watch is using " + options.index_dir);
  }
  auto state = LoadState(options.index_dir);
  if (!state.ok()) {
    ::close(rep->lock_fd);
    return state.status();
  }
  if (!state->root.empty() && state->root != rep->root) {
    ::close(rep->lock_fd);
    return Status::FailedPrecondition("index " + options.index_dir + " is kept in sync with " + state->root +
                                      ", not " + rep->root);
  }
  if (!state->files.empty() && state->matter != options.matter) {
    ::close(rep->lock_fd);
    return Status::FailedPrecondition("index " + options.index_dir + " was filled with --matter '" +
                                      state->matter + "'");
  }
  rep->state = std::move(*state);
  rep->state.root = rep->root;
  rep->state.matter = options.matter;
  rep->o = std::move(options);
  rep->sink = sink;
  rep->extract.attachments = true;
  return std::unique_ptr<FolderSync>(new FolderSync(std::move(rep)));
}

Status FolderSync::Sync() {
  Rep& r = *rep_;
  auto t0 = std::chrono::steady_clock::now();
  Rep::Counts c;
  auto listed = ListFiles(r.root);
  if (!listed.ok()) return listed.status();
  std::map<std::string, Stat> seen;
  for (const std::string& f : *listed) {
    std::string rel = f.substr(r.root.size() + 1);
    if (Ignored(rel) || f.compare(0, r.index_abs.size() + 1, r.index_abs + "/") == 0) continue;
    Stat s;
    if (StatFile(f, &s)) seen.emplace(std::move(rel), s);
  }
  // Deleted files.
  std::vector<std::string> gone;
  for (const auto& [rel, fs] : r.state.files) {
    if (!seen.count(rel)) gone.push_back(rel);
  }
  for (const std::string& rel : gone) {
    std::vector<std::string> none;
    Status s = r.Apply(rel, r.state.files[rel].ids, {}, &none);
    if (!s.ok()) {
      r.Say("! " + rel + ": " + s.ToString());
      ++c.failed;
      continue;
    }
    r.state.files.erase(rel);
    r.Say("- " + rel);
    ++c.removed;
    FB_RETURN_IF_ERROR(r.Dirty());
  }
  // New and changed files.
  bool stopped = false;
  for (const auto& [rel, s] : seen) {
    if (r.Stopping()) {
      stopped = true;
      break;
    }
    auto it = r.state.files.find(rel);
    if (it != r.state.files.end() && it->second.size == s.size && it->second.mtime_ns == s.mtime_ns) {
      ++c.unchanged;
      continue;
    }
    std::string path = r.root + "/" + rel;
    if (it == r.state.files.end()) {
      auto u = r.unsupported.find(rel);
      if (u != r.unsupported.end() && u->second.size == s.size && u->second.mtime_ns == s.mtime_ns) continue;
      if (!ingest::IsSupported(path)) {
        r.unsupported[rel] = s;
        continue;
      }
    }
    FB_RETURN_IF_ERROR(r.Update(rel, path, s, &c));
  }
  if (r.pending > 0 || c.changes() > 0) FB_RETURN_IF_ERROR(r.Save(c.changes() > 0));
  r.Say(fmt::format(FMT_STRING("sync: {} added, {} changed, {} removed, {} failed, {} unchanged ({:.2f}s){}"),
                    c.added, c.changed, c.removed, c.failed, c.unchanged, SecondsSince(t0),
                    stopped ? " — stopped early, the rest follows on the next run" : ""));
  r.failed_total += c.failed;
  return Status::OK();
}

namespace {

#ifdef __linux__
// inotify watches on every folder under root (new folders are added after
// each pass). Returns false when inotify cannot be used.
class FolderEvents {
 public:
  ~FolderEvents() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool Start(const std::string& root, const std::string& skip, std::function<void(const std::string&)> say) {
    say_ = std::move(say);
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
    if (say_) {
      say_(fmt::format(FMT_STRING("note: inotify unavailable ({}); relying on the periodic rescan"),
                       std::strerror(errno)));
    }
    ::close(fd_);
    fd_ = -1;
    return -1;
  }

  int fd_ = -1;
  std::set<int> wds_;
  std::string root_, skip_;
  std::function<void(const std::string&)> say_;
};
#endif

}  // namespace

Status FolderSync::Watch(const WatchLoopOptions& options) {
  Rep& r = *rep_;
#ifdef __linux__
  FolderEvents events;
  bool use_events = options.use_inotify && events.Start(r.root, r.index_abs, r.o.say);
#else
  bool use_events = false;
#endif
  if (options.on_watching) options.on_watching(use_events);
  using Clock = std::chrono::steady_clock;
  auto interval = std::chrono::milliseconds(static_cast<int64_t>(options.interval_s * 1000));
  auto next_rescan = Clock::now() + interval;
  bool dirty = false;
  Clock::time_point first_event, last_event;
  while (!r.Stopping()) {
    int timeout_ms = 500;
#ifdef __linux__
    if (use_events) {
      struct pollfd pfd = {events.fd(), POLLIN, 0};
      int n = ::poll(&pfd, 1, timeout_ms);
      if (n > 0 && events.Drain()) {
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
    if (r.Stopping()) break;
    auto now = Clock::now();
    bool quiet = dirty && (now - last_event >= std::chrono::seconds(1) ||
                           now - first_event >= std::chrono::seconds(10));
    if (quiet || now >= next_rescan) {
      dirty = false;
      FB_RETURN_IF_ERROR(Sync());
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
      next_rescan = Clock::now() + interval;
    }
  }
  return Status::OK();
}

}  // namespace foldback::host
