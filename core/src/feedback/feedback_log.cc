// The feedback log: LevelDB's log format (db/log_format.h there) over a
// host-supplied sink.
//
// The log is a sequence of blocks of `block_size` bytes (32 KiB). A block
// holds physical records; each is a 7-byte header — masked CRC-32C of type
// and data (4 bytes LE), data length (2 bytes LE), type (1 byte) — and the
// data. A logical entry that does not fit in what is left of the block is cut
// into FIRST, MIDDLE..., LAST fragments; one that fits is FULL. A block tail
// too short for a header is zero padding. So a damaged byte costs at most
// the rest of its block: the reader resynchronises at the next block.
//
// Entries: one kind byte (1 record, 2 tombstone), then protobuf bytes.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <google/protobuf/arena.h>

#include <fmt/format.h>

#include "feedback/record_internal.h"
#include "foldback/feedback.h"
#include "store/crc32c.h"

namespace foldback {
namespace {

constexpr size_t kHeaderSize = 7;
enum FragmentType : uint8_t { kZeroType = 0, kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };
constexpr uint8_t kEntryRecord = 1;
constexpr uint8_t kEntryTombstone = 2;
// Logical entries larger than this are refused by the reader too (a damaged
// or hostile log must not make it allocate without bound).
constexpr size_t kMaxLogical = FeedbackLimits::kMaxEntryBytes + 1;

bool BlockSizeOk(size_t b) { return b > kHeaderSize && b - kHeaderSize <= 0xFFFF; }

uint32_t FragmentCrc(uint8_t type, const char* data, size_t n) {
  char t = static_cast<char>(type);
  return store::Crc32cExtend(store::Crc32cExtend(0, &t, 1), data, n);
}

uint32_t Load32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

// Frames one entry, continuing a log of `*log_size` bytes.
void Frame(std::string_view payload, size_t block_size, uint64_t* log_size, std::string* out) {
  size_t block_offset = static_cast<size_t>(*log_size % block_size);
  const char* ptr = payload.data();
  size_t left = payload.size();
  bool begin = true;
  do {
    size_t leftover = block_size - block_offset;
    if (leftover < kHeaderSize) {
      out->append(leftover, '\0');  // zero padding of the block tail
      *log_size += leftover;
      block_offset = 0;
    }
    size_t avail = block_size - block_offset - kHeaderSize;
    size_t n = std::min(left, avail);
    bool end = n == left;
    uint8_t type = begin && end ? kFull : begin ? kFirst : end ? kLast : kMiddle;
    uint32_t crc = store::MaskCrc(FragmentCrc(type, ptr, n));
    char header[kHeaderSize] = {static_cast<char>(crc),       static_cast<char>(crc >> 8),
                                static_cast<char>(crc >> 16), static_cast<char>(crc >> 24),
                                static_cast<char>(n),         static_cast<char>(n >> 8),
                                static_cast<char>(type)};
    out->append(header, kHeaderSize);
    out->append(ptr, n);
    block_offset += kHeaderSize + n;
    *log_size += kHeaderSize + n;
    ptr += n;
    left -= n;
    begin = false;
  } while (left > 0);
}

}  // namespace

// ---------------------------------------------------------------- sinks

FeedbackSink::~FeedbackSink() = default;

Status MemorySink::Append(std::string_view bytes) {
  data_.append(bytes);
  return Status::OK();
}

Status MemorySink::Sync() {
  ++syncs_;
  return Status::OK();
}

// ---------------------------------------------------------------- writer

FeedbackLogWriter::FeedbackLogWriter(FeedbackSink* sink, uint64_t log_size, size_t block_size)
    : sink_(sink), log_size_(log_size), block_size_(block_size) {
  if (!BlockSizeOk(block_size)) {
    status_ = Status::InvalidArgument("feedback log block size must be in 8..65542");
  } else if (!sink) {
    status_ = Status::InvalidArgument("feedback log writer without a sink");
  }
}

Status FeedbackLogWriter::AppendFramed(const std::string& framed, uint64_t new_size) {
  Status s = sink_->Append(framed);
  if (!s.ok()) {
    status_ = s.WithContext("feedback log append failed; reopen the log");
    return status_;
  }
  log_size_ = new_size;
  return Status::OK();
}

Status FeedbackLogWriter::AddEncoded(std::string_view payload) {
  if (!status_.ok()) return status_;
  if (payload.empty() || payload.size() > kMaxLogical) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("a feedback log entry is 1..{} bytes"), kMaxLogical));
  }
  std::string framed;
  framed.reserve(payload.size() + kHeaderSize * (payload.size() / block_size_ + 2));
  uint64_t size = log_size_;
  Frame(payload, block_size_, &size, &framed);
  return AppendFramed(framed, size);
}

Status FeedbackLogWriter::AddBatch(const std::vector<FeedbackRecord>& records) {
  if (!status_.ok()) return status_;
  std::string framed, payload;
  uint64_t size = log_size_;
  google::protobuf::Arena arena;
  size_t on_arena = 0;
  for (const FeedbackRecord& r : records) {
    if (++on_arena == 256) {  // bound the arena's memory
      arena.Reset();
      on_arena = 0;
    }
    payload.assign(1, static_cast<char>(kEntryRecord));
    Status s = feedback::AppendEncodedRecord(r, &arena, &payload);
    if (!s.ok()) return s.WithContext("record '" + r.record_id + "'");
    if (framed.empty()) framed.reserve((payload.size() + 2 * kHeaderSize) * records.size() * 5 / 4);
    Frame(payload, block_size_, &size, &framed);
  }
  if (framed.empty()) return Status::OK();
  return AppendFramed(framed, size);
}

Status FeedbackLogWriter::Add(const FeedbackRecord& record) {
  if (!status_.ok()) return status_;
  google::protobuf::Arena arena;
  std::string payload(1, static_cast<char>(kEntryRecord));
  FB_RETURN_IF_ERROR(feedback::AppendEncodedRecord(record, &arena, &payload));
  return AddEncoded(payload);
}

Status FeedbackLogWriter::Add(const Tombstone& tombstone) {
  if (!status_.ok()) return status_;
  auto encoded = EncodeTombstone(tombstone);
  if (!encoded.ok()) return encoded.status();
  std::string payload;
  payload.push_back(static_cast<char>(kEntryTombstone));
  payload.append(*encoded);
  return AddEncoded(payload);
}

Status FeedbackLogWriter::Sync() {
  if (!status_.ok()) return status_;
  Status s = sink_->Sync();
  if (!s.ok()) status_ = s.WithContext("feedback log sync failed; reopen the log");
  return s;
}

// ---------------------------------------------------------------- reader

namespace {

class Reader {
 public:
  Reader(std::string_view bytes, size_t block_size, FeedbackLogContents* out)
      : in_(bytes), block_(block_size), out_(out) {}

  void Run() {
    const size_t n = in_.size();
    size_t pos = 0;
    while (pos < n) {
      size_t block_end_full = (pos / block_ + 1) * block_;
      size_t block_end = std::min(n, block_end_full);
      size_t room = block_end_full - pos;  // left in the block, by layout
      size_t have = block_end - pos;       // left in the block, in the data
      if (room < kHeaderSize) {            // block tail: padding
        pos = block_end;
        continue;
      }
      if (have < kHeaderSize) {
        Damage(pos, have, "truncated fragment header");
        pos = n;
        break;
      }
      const char* h = in_.data() + pos;
      uint32_t stored = Load32(h);
      size_t len = static_cast<unsigned char>(h[4]) |
                   static_cast<size_t>(static_cast<unsigned char>(h[5])) << 8;
      uint8_t type = static_cast<uint8_t>(h[6]);
      if (type == kZeroType && len == 0 && stored == 0) {
        Damage(pos, have, "zeroed bytes where a fragment should start");
        DropPartial("fragmented entry cut by zeroed bytes");
        pos = block_end;
        continue;
      }
      if (kHeaderSize + len > room) {
        Damage(pos, have, "fragment length runs past its block");
        DropPartial("fragmented entry cut by a damaged fragment");
        pos = block_end;
        continue;
      }
      if (kHeaderSize + len > have) {
        Damage(pos, have, "truncated fragment");
        DropPartial("fragmented entry cut by a truncated fragment");
        pos = n;
        break;
      }
      const char* data = h + kHeaderSize;
      if (store::UnmaskCrc(stored) != FragmentCrc(type, data, len)) {
        Damage(pos, have, "checksum mismatch");
        DropPartial("fragmented entry cut by a checksum mismatch");
        pos = block_end;
        continue;
      }
      size_t frag_start = pos;
      pos += kHeaderSize + len;
      std::string_view frag(data, len);
      switch (type) {
        case kFull:
          DropPartial("fragmented entry without its last fragment");
          Emit(frag_start, pos, frag);
          break;
        case kFirst:
          DropPartial("fragmented entry without its last fragment");
          partial_ = true;
          partial_start_ = frag_start;
          partial_end_ = pos;
          scratch_.assign(frag);
          break;
        case kMiddle:
        case kLast:
          if (!partial_) {
            Damage(frag_start, pos - frag_start, "fragment without the start of its entry");
            break;
          }
          if (scratch_.size() + len > kMaxLogical) {
            partial_end_ = pos;
            DropPartial("fragmented entry exceeds the entry size limit");
            break;
          }
          scratch_.append(frag);
          partial_end_ = pos;
          if (type == kLast) {
            partial_ = false;
            Emit(partial_start_, pos, scratch_);
            scratch_.clear();
          }
          break;
        default:
          Damage(frag_start, pos - frag_start,
                 fmt::format(FMT_STRING("unknown fragment type {}"), type));
          DropPartial("fragmented entry cut by an unknown fragment");
          break;
      }
    }
    DropPartial("fragmented entry without its last fragment");
    Classify(n);
  }

 private:
  void Damage(uint64_t offset, uint64_t bytes, std::string reason) {
    raw_.push_back({offset, bytes, std::move(reason)});
  }

  void DropPartial(const char* reason) {
    if (!partial_) return;
    Damage(partial_start_, partial_end_ - partial_start_, reason);
    partial_ = false;
    scratch_.clear();
  }

  void Emit(uint64_t start, uint64_t end, std::string_view payload) {
    out_->valid_end = end;
    auto entry_damage = [&](std::string reason) {
      raw_.push_back({start, end - start, std::move(reason)});
    };
    if (payload.empty()) return entry_damage("empty entry");
    uint8_t kind = static_cast<uint8_t>(payload[0]);
    std::string_view body = payload.substr(1);
    FeedbackEntry e;
    e.offset = start;
    if (kind == kEntryRecord) {
      auto r = DecodeFeedbackRecord(body);
      if (!r.ok()) return entry_damage(r.status().message());
      e.kind = FeedbackEntry::Kind::kRecord;
      e.record = std::move(r.value());
    } else if (kind == kEntryTombstone) {
      auto t = DecodeTombstone(body);
      if (!t.ok()) return entry_damage(t.status().message());
      e.kind = FeedbackEntry::Kind::kTombstone;
      e.tombstone = std::move(t.value());
    } else {
      return entry_damage(fmt::format(FMT_STRING("unknown entry kind {}"), kind));
    }
    out_->entries.push_back(std::move(e));
  }

  // Damage before valid_end is corruption; what lies after it is the torn
  // tail (nothing readable follows).
  void Classify(size_t n) {
    for (auto& d : raw_) {
      if (d.offset >= out_->valid_end) {
        if (out_->torn_tail_reason.empty()) out_->torn_tail_reason = d.reason;
        continue;
      }
      out_->bytes_dropped += d.bytes;
      out_->damage.push_back(std::move(d));
    }
    out_->torn_tail_bytes = n - out_->valid_end;
    if (out_->torn_tail_bytes > 0 && out_->torn_tail_reason.empty()) {
      out_->torn_tail_reason = "block padding without a following fragment";
    }
    std::sort(out_->damage.begin(), out_->damage.end(),
              [](const LogDamage& a, const LogDamage& b) { return a.offset < b.offset; });
  }

  std::string_view in_;
  size_t block_;
  FeedbackLogContents* out_;
  std::vector<LogDamage> raw_;
  bool partial_ = false;
  uint64_t partial_start_ = 0, partial_end_ = 0;
  std::string scratch_;
};

}  // namespace

FeedbackLogContents ReadFeedbackLog(std::string_view bytes, size_t block_size) {
  FeedbackLogContents out;
  if (!BlockSizeOk(block_size)) {
    out.damage.push_back({0, bytes.size(), "invalid block size"});
    out.bytes_dropped = bytes.size();
    return out;
  }
  Reader(bytes, block_size, &out).Run();
  return out;
}

// ---------------------------------------------------------------- state

bool RecordTouchesMatters(const FeedbackRecord& r, const std::set<std::string>& matters) {
  if (matters.empty()) return false;
  if (!r.matter.empty() && matters.count(r.matter)) return true;
  for (const auto& s : r.results) {
    if (!s.matter.empty() && matters.count(s.matter)) return true;
  }
  return false;
}

namespace {

// The tombstone a record's `replaces` entry stands for.
Tombstone ReplacementTombstone(const FeedbackRecord& record, const std::string& id) {
  Tombstone t;
  t.record_id = id;
  t.time_ms = record.time_ms;
  t.user = record.user;
  return t;
}

}  // namespace

FeedbackState ApplyFeedbackLog(const FeedbackLogContents& contents) {
  FeedbackState st;
  std::set<std::pair<std::string, std::string>> tombstone_keys;
  auto apply = [&](const Tombstone& t) {
    if (!tombstone_keys.insert({t.record_id, t.matter}).second) return;
    st.tombstones.push_back(t);
    if (!t.record_id.empty()) st.deleted_records.insert(t.record_id);
    if (!t.matter.empty()) st.forgotten_matters.insert(t.matter);
  };
  for (const FeedbackEntry& e : contents.entries) {
    if (e.kind == FeedbackEntry::Kind::kTombstone) {
      apply(e.tombstone);
      continue;
    }
    // A record's replacements are tombstones written with it: they stand
    // whatever becomes of the record (a retry, a later tombstone).
    for (const std::string& id : e.record.replaces) apply(ReplacementTombstone(e.record, id));
  }
  std::unordered_set<std::string> seen;
  for (const FeedbackEntry& e : contents.entries) {
    if (e.kind != FeedbackEntry::Kind::kRecord) continue;
    const FeedbackRecord& r = e.record;
    if (!seen.insert(r.record_id).second) {
      ++st.duplicates;
      continue;
    }
    if (st.deleted_records.count(r.record_id) || RecordTouchesMatters(r, st.forgotten_matters)) {
      ++st.deleted;
      continue;
    }
    st.records.push_back(r);
  }
  return st;
}

std::vector<std::string> EarlierJudgments(const FeedbackState& state,
                                          const FeedbackRecord& record) {
  std::vector<std::string> out;
  for (const FeedbackRecord& earlier : state.records) {
    if (earlier.trace_id == record.trace_id && earlier.user == record.user &&
        earlier.record_id != record.record_id) {
      out.push_back(earlier.record_id);
    }
  }
  return out;
}

void ApplyReplacements(const FeedbackRecord& record, FeedbackState* state) {
  for (const std::string& id : record.replaces) {
    if (!state->deleted_records.insert(id).second) continue;  // already a tombstone's
    state->tombstones.push_back(ReplacementTombstone(record, id));
    auto& live = state->records;
    auto gone = std::remove_if(live.begin(), live.end(),
                               [&](const FeedbackRecord& r) { return r.record_id == id; });
    state->deleted += static_cast<uint64_t>(live.end() - gone);
    live.erase(gone, live.end());
  }
}

size_t RecordsTouchingMatter(const FeedbackState& state, const std::string& matter) {
  if (matter.empty()) return 0;
  const std::set<std::string> one = {matter};
  size_t n = 0;
  for (const FeedbackRecord& r : state.records) n += RecordTouchesMatters(r, one);
  return n;
}

const FeedbackRecord* FeedbackState::Find(std::string_view record_id) const {
  for (const auto& r : records) {
    if (r.record_id == record_id) return &r;
  }
  return nullptr;
}

Result<std::string> CompactFeedbackLog(const FeedbackState& state, size_t block_size) {
  MemorySink sink;
  FeedbackLogWriter writer(&sink, 0, block_size);
  for (const Tombstone& t : state.tombstones) FB_RETURN_IF_ERROR(writer.Add(t));
  for (const FeedbackRecord& r : state.records) FB_RETURN_IF_ERROR(writer.Add(r));
  return std::move(*sink.mutable_data());
}

}  // namespace foldback
