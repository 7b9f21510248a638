// A read-only reader of OLE2 compound files (MS-CFB, versions 3 and 4) over
// bytes in memory: header, FAT with its DIFAT, mini FAT and mini stream,
// the directory's red-black trees flattened to child lists.
//
// Every count and offset from the file is checked before use: sector chains
// are followed at most once per sector (a loop is Corruption), directory
// trees are walked once per entry (a cycle or shared subtree is
// Corruption), stream sizes are checked against their chains and the
// limits. Nothing here throws (bad_alloc aside) or reads out of bounds.
#ifndef FOLDBACK_MSG_CFB_H_
#define FOLDBACK_MSG_CFB_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/status.h"

namespace foldback::msg {

struct CfbLimits {
  uint32_t max_directory_entries = 100000;
  uint64_t max_stream_bytes = 256ull << 20;
  uint64_t max_total_bytes = 1ull << 30;
};

class CompoundFile {
 public:
  enum class Type : uint8_t { kEmpty = 0, kStorage = 1, kStream = 2, kRoot = 5 };

  struct Entry {
    std::string name;  // UTF-8
    Type type = Type::kEmpty;
    uint32_t start = 0;
    uint64_t size = 0;
    std::vector<uint32_t> children;  // entry indexes, for storages and the root
  };

  // Parses header, FAT, mini FAT and directory. InvalidArgument when `bytes`
  // does not start with the compound file signature; Corruption otherwise.
  // `bytes` must outlive the object.
  static Result<CompoundFile> Open(std::string_view bytes, const CfbLimits& limits);

  // The root storage's index (0).
  uint32_t root() const { return 0; }
  const Entry& entry(uint32_t index) const { return entries_[index]; }
  // The child of storage `parent` named `name` (case-insensitive for ASCII,
  // as MS-CFB compares names), or -1.
  int64_t Find(uint32_t parent, std::string_view name) const;
  // The bytes of stream `index`. Corruption when its chain is broken or
  // shorter than its size; OutOfRange past a limit.
  Result<std::string> Read(uint32_t index);

 private:
  Status Init();
  Status Chain(const std::vector<uint32_t>& fat, uint32_t start, uint64_t max_sectors, const char* what,
               std::vector<uint32_t>* out) const;
  Status LoadDirectory();

  std::string_view bytes_;
  CfbLimits limits_;
  uint32_t sector_shift_ = 9;
  uint32_t sector_size_ = 512;
  uint32_t mini_cutoff_ = 4096;
  uint64_t sectors_in_file_ = 0;
  std::vector<uint32_t> fat_;
  std::vector<uint32_t> mini_fat_;
  std::vector<uint32_t> mini_stream_sectors_;  // the root's chain
  uint64_t mini_stream_size_ = 0;
  std::vector<Entry> entries_;
  uint64_t total_read_ = 0;
};

}  // namespace foldback::msg

#endif  // FOLDBACK_MSG_CFB_H_
