// Files for the native host: reading, crash-safe replacement, listing.
#ifndef FOLDBACK_NATIVE_HOST_FILES_H_
#define FOLDBACK_NATIVE_HOST_FILES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/status.h"

namespace foldback::host {

// Reads a whole file. IOError names the path and the reason.
Result<std::string> ReadFile(const std::string& path);

// Replaces `path` with `data` so that a crash at any moment leaves either the
// old or the new content, never a mix: write a temp file in the same folder,
// fsync it, rename it over `path`, fsync the folder.
Status WriteFileAtomic(const std::string& path, const std::string& data);

// WriteFileAtomic for content written piece by piece (a snapshot streamed
// from Index::WriteSnapshot): Append writes to the temp file, Commit
// fsyncs it, renames it over `path` and fsyncs the folder. Destroyed
// without a successful Commit (an error, a sink that gave up), it removes
// the temp file: `path` keeps its old content.
class AtomicFile {
 public:
  static Result<AtomicFile> Create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Status Append(std::string_view bytes);
  Status Commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  AtomicFile(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  std::string path_;
  std::string tmp_;
  int fd_ = -1;  // -1 once committed or abandoned
};

// A file mapped read-only, for reading a large file without a copy of it
// on the heap (its pages are the page cache's, dropped under pressure and
// by the kernel once unmapped). Unmapped when destroyed.
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view bytes() const { return {data_, size_}; }

 private:
  MappedFile(const char* data, size_t size) : data_(data), size_(size) {}
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Removes the temp files WriteFileAtomic left beside `path` when its writer
// died before the rename (kill -9, a crash, power loss):
// `<path>.tmp-<pid>-<n>` whose process no longer runs. A live writer's temp
// file is left alone. Returns how many were removed.
size_t RemoveStaleTemps(const std::string& path);

// Creates a directory and its parents (no error if it exists).
Status MakeDirs(const std::string& path);

// Regular files under `root` (recursively), sorted; `root` may be a file.
Result<std::vector<std::string>> ListFiles(const std::string& root);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
uint64_t FileSize(const std::string& path);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_FILES_H_
