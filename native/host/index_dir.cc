#include "host/index_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/files.h"

namespace foldback::host {

std::string SnapshotPath(const std::string& dir) { return dir + "/index.fbsnap"; }

Result<std::unique_ptr<Index>> OpenIndex(const std::string& dir, bool create,
                                         const IndexOptions& options) {
  std::string path = SnapshotPath(dir);
  if (!PathExists(path)) {
    if (!create) return Status::NotFound("no index in " + dir + " (run `foldback ingest` first)");
    return Index::Create(options);
  }
  // Mapped, not read: the snapshot is never a second copy on the heap
  // beside the index being built from it (FromSnapshot keeps nothing of
  // the bytes; the mapping goes when this returns).
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  auto index = Index::FromSnapshot(mapped->bytes());
  if (!index.ok()) return index.status().WithContext(path);
  return index;
}

namespace {

std::string ServeLockPath(const std::string& dir) { return dir + "/serve.lock"; }

// flock(2) on `<dir>/serve.lock` without waiting: the descriptor, -1 with
// errno set when it cannot be had.
int TryServeLock(const std::string& dir, int how) {
  int fd = ::open(ServeLockPath(dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  while (::flock(fd, how | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

Status SaveIndex(const std::string& dir, const Index& index) {
  FB_RETURN_IF_ERROR(MakeDirs(dir));
  // Shared while the snapshot is written: a server cannot start meanwhile,
  // and a running one refuses this write.
  int lock = TryServeLock(dir, LOCK_SH);
  if (lock < 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          "a running `foldback serve` owns " + dir +
          ": change it through the server (POST or DELETE /v1/documents, serve --watch), or "
          "stop the server first");
    }
    return Status::IOError("cannot lock " + ServeLockPath(dir) + ": " + std::strerror(errno));
  }
  // Earlier writers killed mid-write left their temp files: a snapshot
  // each, which would pile up.
  RemoveStaleTemps(SnapshotPath(dir));
  Status s = WriteSnapshotFile(SnapshotPath(dir), index);
  ::close(lock);
  return s;
}

Status WriteSnapshotFile(const std::string& path, const Index& index) {
  auto file = WriteSnapshotTemp(path, index);
  if (!file.ok()) return file.status();
  return file->Commit();
}

Result<AtomicFile> WriteSnapshotTemp(const std::string& path, const Index& index) {
  auto file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  // The core hands the snapshot over piece by piece; each goes to the temp
  // file as it comes, so neither side holds the whole snapshot.
  class FileSink : public SnapshotSink {
   public:
    explicit FileSink(AtomicFile* f) : f_(f) {}
    Status Append(std::string_view bytes) override { return f_->Append(bytes); }

   private:
    AtomicFile* f_;
  } sink(&*file);
  FB_RETURN_IF_ERROR(index.WriteSnapshot(sink));  // the temp file goes with `file`
  return file;
}

Result<int> HoldServeLock(const std::string& dir) {
  int fd = TryServeLock(dir, LOCK_EX);
  if (fd >= 0) return fd;
  if (errno == EWOULDBLOCK) {
    return Status::Unavailable("another `foldback serve` serves " + dir +
                               " (or a command is saving it; try again)");
  }
  return Status::IOError("cannot lock " + ServeLockPath(dir) + ": " + std::strerror(errno));
}

}  // namespace foldback::host
