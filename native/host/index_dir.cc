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
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  auto index = Index::FromSnapshot(*bytes);
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
  auto bytes = index.Snapshot();
  Status s = bytes.status();
  if (s.ok()) {
    // Earlier writers killed mid-write left their temp files: a snapshot
    // each, which would pile up.
    RemoveStaleTemps(SnapshotPath(dir));
    s = WriteFileAtomic(SnapshotPath(dir), *bytes);
  }
  ::close(lock);
  return s;
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
