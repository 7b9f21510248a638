// Files for the native host: reading, crash-safe replacement, listing.
#ifndef FOLDBACK_NATIVE_HOST_FILES_H_
#define FOLDBACK_NATIVE_HOST_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "foldback/status.h"

namespace foldback::host {

// Reads a whole file. IOError names the path and the reason.
Result<std::string> ReadFile(const std::string& path);

// Replaces `path` with `data` so that a crash at any moment leaves either the
// old or the new content, never a mix: write a temp file in the same folder,
// fsync it, rename it over `path`, fsync the folder.
Status WriteFileAtomic(const std::string& path, const std::string& data);

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
