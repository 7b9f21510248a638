#include "msg/cfb.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "text/utf8.h"

namespace foldback::msg {
namespace {

constexpr uint32_t kMaxRegSect = 0xFFFFFFFA;
constexpr uint32_t kEndOfChain = 0xFFFFFFFE;
constexpr uint32_t kFreeSect = 0xFFFFFFFF;
constexpr uint32_t kNoStream = 0xFFFFFFFF;
constexpr uint32_t kMiniSectorSize = 64;
constexpr size_t kHeaderSize = 512;
constexpr char kSignature[] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

uint16_t U16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
}
uint32_t U32(std::string_view b, size_t at) { return U16(b, at) | (static_cast<uint32_t>(U16(b, at + 2)) << 16); }
uint64_t U64(std::string_view b, size_t at) { return U32(b, at) | (static_cast<uint64_t>(U32(b, at + 4)) << 32); }

std::string Num(uint64_t v) { return fmt::to_string(v); }

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<CompoundFile> CompoundFile::Open(std::string_view bytes, const CfbLimits& limits) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) {
    return Status::InvalidArgument("not an OLE2 compound file (no D0 CF 11 E0 signature)");
  }
  CompoundFile f;
  f.bytes_ = bytes;
  f.limits_ = limits;
  Status s = f.Init();
  if (!s.ok()) return s;
  return f;
}

Status CompoundFile::Init() {
  if (bytes_.size() < kHeaderSize) {
    return Status::Corruption("compound file truncated: " + Num(bytes_.size()) + " bytes, less than its header");
  }
  uint16_t major = U16(bytes_, 26);
  sector_shift_ = U16(bytes_, 30);
  if (U16(bytes_, 28) != 0xFFFE) return Status::Corruption("compound file: bad byte order mark");
  if (!((major == 3 && sector_shift_ == 9) || (major == 4 && sector_shift_ == 12))) {
    return Status::Corruption("compound file: unknown version " + Num(major) + " with sector shift " +
                              Num(sector_shift_));
  }
  if (U16(bytes_, 32) != 6) return Status::Corruption("compound file: mini sector shift is not 6");
  sector_size_ = 1u << sector_shift_;
  mini_cutoff_ = U32(bytes_, 56);
  if (mini_cutoff_ != 4096) return Status::Corruption("compound file: mini stream cutoff is not 4096");
  if (bytes_.size() <= sector_size_) return Status::Corruption("compound file truncated: no sector after the header");
  sectors_in_file_ = (bytes_.size() - sector_size_ + sector_size_ - 1) / sector_size_;

  // FAT sectors: 109 in the header, the rest in the DIFAT chain.
  uint32_t fat_sectors = U32(bytes_, 44);
  if (fat_sectors == 0 || fat_sectors > sectors_in_file_) {
    return Status::Corruption("compound file: " + Num(fat_sectors) + " FAT sectors in a file of " +
                              Num(sectors_in_file_) + " sectors");
  }
  std::vector<uint32_t> fat_ids;
  fat_ids.reserve(fat_sectors);
  for (uint32_t i = 0; i < 109 && fat_ids.size() < fat_sectors; ++i) fat_ids.push_back(U32(bytes_, 76 + 4 * i));
  uint32_t difat = U32(bytes_, 68);
  uint32_t difat_count = U32(bytes_, 72);
  const uint32_t per_difat = sector_size_ / 4 - 1;
  uint64_t difat_seen = 0;
  while (fat_ids.size() < fat_sectors) {
    if (difat == kEndOfChain || difat == kFreeSect) {
      return Status::Corruption("compound file: the DIFAT lists " + Num(fat_ids.size()) + " of " +
                                Num(fat_sectors) + " FAT sectors");
    }
    if (difat >= sectors_in_file_) return Status::Corruption("compound file: DIFAT sector outside the file");
    if (++difat_seen > difat_count || difat_seen > sectors_in_file_) {
      return Status::Corruption("compound file: the DIFAT chain is longer than declared (a loop?)");
    }
    uint64_t off = (static_cast<uint64_t>(difat) + 1) << sector_shift_;
    if (off + sector_size_ > bytes_.size()) return Status::Corruption("compound file truncated in the DIFAT");
    for (uint32_t i = 0; i < per_difat && fat_ids.size() < fat_sectors; ++i) {
      fat_ids.push_back(U32(bytes_, off + 4 * i));
    }
    difat = U32(bytes_, off + 4 * per_difat);
  }
  fat_.reserve(static_cast<size_t>(fat_sectors) * (sector_size_ / 4));
  for (uint32_t id : fat_ids) {
    if (id >= sectors_in_file_) {
      return Status::Corruption("compound file: FAT sector " + Num(id) + " outside the file");
    }
    uint64_t off = (static_cast<uint64_t>(id) + 1) << sector_shift_;
    for (uint32_t i = 0; i < sector_size_ / 4; ++i) {
      // A last sector cut short reads as free entries.
      fat_.push_back(off + 4 * i + 4 <= bytes_.size() ? U32(bytes_, off + 4 * i) : kFreeSect);
    }
  }

  FB_RETURN_IF_ERROR(LoadDirectory());

  // The mini stream (the root's data) and the mini FAT.
  const Entry& root = entries_[0];
  mini_stream_size_ = root.size;
  if (mini_stream_size_ > 0) {
    if (mini_stream_size_ > limits_.max_stream_bytes) {
      return Status::OutOfRange("compound file: mini stream of " + Num(mini_stream_size_) + " bytes (limit " +
                                Num(limits_.max_stream_bytes) + ")");
    }
    uint64_t need = (mini_stream_size_ + sector_size_ - 1) / sector_size_;
    FB_RETURN_IF_ERROR(Chain(fat_, root.start, need, "mini stream", &mini_stream_sectors_));
    uint32_t mini_fat_start = U32(bytes_, 60);
    uint32_t mini_fat_sectors = U32(bytes_, 64);
    if (mini_fat_sectors > sectors_in_file_) return Status::Corruption("compound file: mini FAT larger than the file");
    std::vector<uint32_t> ids;
    if (mini_fat_sectors > 0) FB_RETURN_IF_ERROR(Chain(fat_, mini_fat_start, mini_fat_sectors, "mini FAT", &ids));
    for (uint32_t id : ids) {
      uint64_t off = (static_cast<uint64_t>(id) + 1) << sector_shift_;
      for (uint32_t i = 0; i < sector_size_ / 4; ++i) {
        mini_fat_.push_back(off + 4 * i + 4 <= bytes_.size() ? U32(bytes_, off + 4 * i) : kFreeSect);
      }
    }
  }
  return Status::OK();
}

// Follows `fat` from `start` until `max_sectors` sectors are collected or
// the chain ends. A chain cannot hold more sectors than the file (or the
// mini stream) has: more steps than that is a loop.
Status CompoundFile::Chain(const std::vector<uint32_t>& fat, uint32_t start, uint64_t max_sectors, const char* what,
                           std::vector<uint32_t>* out) const {
  const bool mini = &fat == &mini_fat_;
  const uint64_t bound = mini ? (mini_stream_size_ + kMiniSectorSize - 1) / kMiniSectorSize : sectors_in_file_;
  out->clear();
  uint32_t cur = start;
  while (out->size() < max_sectors) {
    if (cur == kEndOfChain) {
      if (max_sectors == UINT64_MAX) break;
      return Status::Corruption(std::string("compound file: the ") + what + " chain ends after " +
                                Num(out->size()) + " of " + Num(max_sectors) + " sectors (truncated?)");
    }
    if (cur > kMaxRegSect || cur >= bound || cur >= fat.size()) {
      return Status::Corruption(std::string("compound file: the ") + what + " chain points to sector " + Num(cur) +
                                ", outside the " + (mini ? "mini stream" : "file (truncated?)"));
    }
    if (out->size() >= bound) {
      return Status::Corruption(std::string("compound file: the ") + what + " chain loops");
    }
    out->push_back(cur);
    cur = fat[cur];
  }
  // A sector twice in one chain is a loop, even one the size stops in.
  std::vector<uint32_t> sorted(*out);
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return Status::Corruption(std::string("compound file: the ") + what + " chain loops");
  }
  return Status::OK();
}

Status CompoundFile::LoadDirectory() {
  uint32_t first = U32(bytes_, 48);
  const uint64_t per_sector = sector_size_ / 128;
  const uint64_t max_sectors = (static_cast<uint64_t>(limits_.max_directory_entries) + per_sector - 1) / per_sector;
  std::vector<uint32_t> ids;
  Status s = Chain(fat_, first, UINT64_MAX, "directory", &ids);
  if (!s.ok()) return s;
  if (ids.empty()) return Status::Corruption("compound file: empty directory");
  if (ids.size() > max_sectors) {
    return Status::OutOfRange("compound file: more than " + Num(limits_.max_directory_entries) +
                              " directory entries");
  }
  entries_.reserve(ids.size() * per_sector);
  for (uint32_t id : ids) {
    uint64_t off = (static_cast<uint64_t>(id) + 1) << sector_shift_;
    for (uint64_t k = 0; k < per_sector; ++k, off += 128) {
      Entry e;
      if (off + 128 > bytes_.size()) {
        entries_.push_back(std::move(e));  // cut short: unused
        continue;
      }
      std::string_view raw = bytes_.substr(off, 128);
      uint16_t name_len = U16(raw, 64);
      uint8_t type = static_cast<uint8_t>(raw[66]);
      if (type == 1 || type == 2 || type == 5) {
        e.type = static_cast<Type>(type);
        size_t chars = name_len >= 2 && name_len <= 64 ? name_len / 2 - 1 : 0;
        for (size_t i = 0; i < chars; ++i) {
          char32_t c = U16(raw, 2 * i);
          if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
          text::AppendUtf8(c, &e.name);
        }
        e.start = U32(raw, 116);
        e.size = sector_shift_ == 9 ? U32(raw, 120) : U64(raw, 120);
      }
      entries_.push_back(std::move(e));
    }
  }
  if (entries_[0].type != Type::kRoot) return Status::Corruption("compound file: the first directory entry is not the root");

  // Flatten the trees: each storage's children are a red-black tree of
  // siblings (left, right) under its child pointer. Each entry may be
  // reached once.
  std::vector<bool> seen(entries_.size(), false);
  seen[0] = true;
  std::vector<uint32_t> storages{0};
  for (size_t si = 0; si < storages.size(); ++si) {
    uint32_t parent = storages[si];
    // Raw pointers of an entry: re-read from the directory bytes.
    auto raw_of = [&](uint32_t index) -> std::string_view {
      uint64_t sector = ids[index / per_sector];
      uint64_t off = ((sector + 1) << sector_shift_) + (index % per_sector) * 128;
      return off + 128 <= bytes_.size() ? bytes_.substr(off, 128) : std::string_view();
    };
    std::string_view praw = raw_of(parent);
    if (praw.empty()) continue;
    std::vector<uint32_t> stack{U32(praw, 76)};
    while (!stack.empty()) {
      uint32_t cur = stack.back();
      stack.pop_back();
      if (cur == kNoStream) continue;
      if (cur >= entries_.size()) {
        return Status::Corruption("compound file: directory entry " + Num(cur) + " does not exist");
      }
      if (seen[cur]) return Status::Corruption("compound file: the directory tree has a cycle");
      seen[cur] = true;
      std::string_view raw = raw_of(cur);
      if (raw.empty() || entries_[cur].type == Type::kEmpty || entries_[cur].type == Type::kRoot) {
        return Status::Corruption("compound file: the directory tree reaches an unused entry");
      }
      entries_[parent].children.push_back(cur);
      if (entries_[cur].type == Type::kStorage) storages.push_back(cur);
      stack.push_back(U32(raw, 68));
      stack.push_back(U32(raw, 72));
    }
  }
  return Status::OK();
}

int64_t CompoundFile::Find(uint32_t parent, std::string_view name) const {
  for (uint32_t c : entries_[parent].children) {
    const std::string& n = entries_[c].name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i) eq = AsciiLower(n[i]) == AsciiLower(name[i]);
    if (eq) return c;
  }
  return -1;
}

Result<std::string> CompoundFile::Read(uint32_t index) {
  const Entry& e = entries_[index];
  if (e.type != Type::kStream) return Status::Corruption("compound file: '" + e.name + "' is not a stream");
  if (e.size > limits_.max_stream_bytes) {
    return Status::OutOfRange("compound file: stream '" + e.name + "' has " + Num(e.size) + " bytes (limit " +
                              Num(limits_.max_stream_bytes) + ")");
  }
  if (e.size > limits_.max_total_bytes - std::min(total_read_, limits_.max_total_bytes)) {
    return Status::OutOfRange("compound file: more than " + Num(limits_.max_total_bytes) +
                              " bytes of streams read in all (limit)");
  }
  total_read_ += e.size;
  std::string out;
  if (e.size == 0) return out;
  out.reserve(e.size);
  const bool mini = e.size < mini_cutoff_;
  const uint32_t unit = mini ? kMiniSectorSize : sector_size_;
  std::vector<uint32_t> chain;
  FB_RETURN_IF_ERROR(Chain(mini ? mini_fat_ : fat_, e.start, (e.size + unit - 1) / unit,
                           mini ? "mini stream" : "stream", &chain));
  uint64_t left = e.size;
  for (uint32_t s : chain) {
    uint64_t n = std::min<uint64_t>(left, unit);
    if (mini) {
      uint64_t pos = static_cast<uint64_t>(s) * kMiniSectorSize;  // in the mini stream
      if (pos + n > mini_stream_size_) return Status::Corruption("compound file: mini sector past the mini stream");
      uint64_t in_sector = pos % sector_size_;  // 64-byte units never straddle a sector
      uint64_t off = ((static_cast<uint64_t>(mini_stream_sectors_[pos / sector_size_]) + 1) << sector_shift_) + in_sector;
      if (off + n > bytes_.size()) return Status::Corruption("compound file truncated inside '" + e.name + "'");
      out.append(bytes_.substr(off, n));
    } else {
      uint64_t off = (static_cast<uint64_t>(s) + 1) << sector_shift_;
      if (off + n > bytes_.size()) return Status::Corruption("compound file truncated inside '" + e.name + "'");
      out.append(bytes_.substr(off, n));
    }
    left -= n;
  }
  return out;
}

}  // namespace foldback::msg
