#include "host/feedback_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "host/files.h"
#include "host/ids.h"

namespace foldback::host {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

Status SyncDir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("cannot open directory", dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Errno("cannot fsync directory", dir);
  return Status::OK();
}

Result<std::string> ReadAll(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno("cannot stat", path);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

std::string FeedbackLogPath(const std::string& dir) { return dir + "/feedback.log"; }
std::string FeedbackLockPath(const std::string& dir) { return dir + "/feedback.lock"; }

Result<FeedbackLogContents> ReadFeedbackLogFile(const std::string& dir) {
  std::string path = FeedbackLogPath(dir);
  if (!PathExists(path)) return FeedbackLogContents();
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return ReadFeedbackLog(*bytes);
}

class FeedbackLogFile::Sink : public FeedbackSink {
 public:
  Sink(int fd, std::string path, size_t chunk) : fd_(fd), path_(std::move(path)), chunk_(chunk) {}
  Status Append(std::string_view bytes) override {
    size_t done = 0;
    while (done < bytes.size()) {
      size_t want = bytes.size() - done;
      if (chunk_) want = std::min(want, chunk_);
      ssize_t n = ::write(fd_, bytes.data() + done, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("cannot append to", path_);
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("cannot fsync", path_);
    return Status::OK();
  }

 private:
  int fd_;
  std::string path_;
  size_t chunk_;
};

FeedbackLogFile::FeedbackLogFile(std::string dir, int lock_fd, const FeedbackLogOptions& options)
    : dir_(std::move(dir)), options_(options), lock_fd_(lock_fd) {}

FeedbackLogFile::~FeedbackLogFile() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<FeedbackLogFile>> FeedbackLogFile::Open(const std::string& dir,
                                                               FeedbackOpenReport* report,
                                                               const FeedbackLogOptions& options) {
  FB_RETURN_IF_ERROR(MakeDirs(dir));
  std::string lock_path = FeedbackLockPath(dir);
  int lfd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lfd < 0) return Errno("cannot open", lock_path);
  auto give_up = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(std::max(0.0, options.lock_wait_s)));
  while (::flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e == EINTR) continue;
    if (e != EWOULDBLOCK || std::chrono::steady_clock::now() >= give_up) {
      errno = e;
      Status s = e == EWOULDBLOCK
                     ? Status::Unavailable(
                           "another process holds the feedback log of " + dir +
                           " (a running `foldback serve` owns its index's log: send feedback "
                           "through its API, or stop it)")
                     : Errno("cannot lock", lock_path);
      ::close(lfd);
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::unique_ptr<FeedbackLogFile> log(new FeedbackLogFile(dir, lfd, options));
  FB_RETURN_IF_ERROR(log->OpenLog(report));
  return log;
}

Status FeedbackLogFile::OpenLog(FeedbackOpenReport* report) {
  std::string path = FeedbackLogPath(dir_);
  bool existed = PathExists(path);
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot open", path);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  auto bytes = ReadAll(fd_, path);
  if (!bytes.ok()) return bytes.status();
  FeedbackLogContents contents = ReadFeedbackLog(*bytes);
  uint64_t size = bytes->size();
  if (contents.valid_end < size) {
    // A torn tail: what a crash left of a write nobody was told succeeded.
    if (::ftruncate(fd_, static_cast<off_t>(contents.valid_end)) != 0) {
      return Errno("cannot truncate the torn tail of", path);
    }
    if (::fdatasync(fd_) != 0) return Errno("cannot fsync", path);
  }
  if (!existed) FB_RETURN_IF_ERROR(SyncDir(dir_));
  ids_.clear();
  for (const auto& e : contents.entries) {
    if (e.kind == FeedbackEntry::Kind::kRecord) ids_.insert(e.record.record_id);
  }
  sink_ = std::make_unique<Sink>(fd_, path, options_.write_chunk_bytes);
  writer_ = std::make_unique<FeedbackLogWriter>(sink_.get(), contents.valid_end);
  if (report) {
    report->size = contents.valid_end;
    report->truncated_bytes = size - contents.valid_end;
    report->torn_tail_reason = contents.torn_tail_reason;
    report->entries = contents.entries.size();
    report->damage = contents.damage;
    report->bytes_dropped = contents.bytes_dropped;
  }
  return Status::OK();
}

Status FeedbackLogFile::SyncLocked(std::unique_lock<std::mutex>* lock, uint64_t target) {
  while (synced_ < target) {
    if (!status_.ok()) return status_;
    if (syncing_) {
      cv_.wait(*lock);
      continue;
    }
    syncing_ = true;
    uint64_t covering = appended_;
    FeedbackSink* sink = sink_.get();
    lock->unlock();
    Status s = sink->Sync();
    lock->lock();
    syncing_ = false;
    ++syncs_;
    if (s.ok()) {
      synced_ = std::max(synced_, covering);
    } else {
      status_ = s.WithContext("the feedback log is unusable until reopened");
    }
    cv_.notify_all();
  }
  return Status::OK();
}

Status FeedbackLogFile::Commit(std::unique_lock<std::mutex>* lock) {
  uint64_t mine = ++appended_;
  return SyncLocked(lock, mine);
}

Status FeedbackLogFile::Append(const FeedbackRecord& record) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!status_.ok()) return status_;
  if (ids_.count(record.record_id)) {
    // A retried write: the record is in the log; acknowledge it once
    // everything appended so far is durable.
    FB_RETURN_IF_ERROR(ValidateFeedbackRecord(record));
    return SyncLocked(&lock, appended_);
  }
  Status s = writer_->Add(record);
  if (!s.ok()) {
    if (!writer_->status().ok()) status_ = writer_->status();
    return s;
  }
  ids_.insert(record.record_id);
  return Commit(&lock);
}

Status FeedbackLogFile::Append(const Tombstone& tombstone) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!status_.ok()) return status_;
  Status s = writer_->Add(tombstone);
  if (!s.ok()) {
    if (!writer_->status().ok()) status_ = writer_->status();
    return s;
  }
  return Commit(&lock);
}

Status FeedbackLogFile::AppendBatch(const std::vector<FeedbackRecord>& records) {
  // Validate everything before writing anything.
  for (const FeedbackRecord& r : records) {
    Status s = ValidateFeedbackRecord(r);
    if (!s.ok()) return s.WithContext("record '" + r.record_id + "'");
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (!status_.ok()) return status_;
  // Records new to the log, each once; framed together, one write.
  std::vector<FeedbackRecord> fresh;
  std::unordered_set<std::string> in_batch;
  bool all_new = true;
  for (const FeedbackRecord& r : records) {
    all_new &= !ids_.count(r.record_id) && in_batch.insert(r.record_id).second;
  }
  Status s;
  if (all_new) {
    s = writer_->AddBatch(records);
  } else {
    in_batch.clear();
    for (const FeedbackRecord& r : records) {
      if (!ids_.count(r.record_id) && in_batch.insert(r.record_id).second) fresh.push_back(r);
    }
    s = writer_->AddBatch(fresh);
  }
  if (!s.ok()) {
    if (!writer_->status().ok()) status_ = writer_->status();
    return s;
  }
  for (const FeedbackRecord& r : records) ids_.insert(r.record_id);
  return Commit(&lock);
}

Status FeedbackLogFile::Compact(CompactReport* report) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !syncing_; });
  std::string path = FeedbackLogPath(dir_);
  auto bytes = ReadAll(fd_, path);
  if (!bytes.ok()) return bytes.status();
  FeedbackLogContents contents = ReadFeedbackLog(*bytes);
  FeedbackState state = ApplyFeedbackLog(contents);
  auto compacted = CompactFeedbackLog(state);
  if (!compacted.ok()) return compacted.status();
  CompactReport rep;
  rep.bytes_before = bytes->size();
  rep.bytes_after = compacted->size();
  rep.records = state.records.size();
  rep.tombstones = state.tombstones.size();
  rep.duplicates = state.duplicates;
  rep.deleted = state.deleted;
  rep.bytes_dropped = contents.bytes_dropped;
  if (!contents.damage.empty()) {
    rep.damaged_copy = fmt::format(FMT_STRING("{}.damaged-{}"), path, UnixMillis());
    FB_RETURN_IF_ERROR(WriteFileAtomic(rep.damaged_copy, *bytes));
  }
  FB_RETURN_IF_ERROR(WriteFileAtomic(path, *compacted));
  FB_RETURN_IF_ERROR(OpenLog(nullptr));
  // Whatever was appended before is in the new file, which is durable.
  status_ = Status::OK();
  synced_ = appended_;
  cv_.notify_all();
  if (report) *report = rep;
  return Status::OK();
}

bool FeedbackLogFile::Contains(const std::string& record_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ids_.count(record_id) > 0;
}

uint64_t FeedbackLogFile::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writer_ ? writer_->log_size() : 0;
}

size_t FeedbackLogFile::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

}  // namespace foldback::host
