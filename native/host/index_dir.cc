#include "host/index_dir.h"

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

Status SaveIndex(const std::string& dir, const Index& index) {
  FB_RETURN_IF_ERROR(MakeDirs(dir));
  auto bytes = index.Snapshot();
  if (!bytes.ok()) return bytes.status();
  // Earlier writers killed mid-write left their temp files: a snapshot
  // each, which would pile up.
  RemoveStaleTemps(SnapshotPath(dir));
  return WriteFileAtomic(SnapshotPath(dir), *bytes);
}

}  // namespace foldback::host
