// A snapshot's payload on its way to the host's SnapshotSink: top-level
// fields appended to a buffer that goes to the sink whenever it holds a few
// MiB, the payload's length and CRC-32C kept as it goes (the envelope's
// trailer, store/snapshot.cc). The writer's peak is the buffer: one field,
// which the snapshot keeps to a piece (about 64 MiB) or a document.
#ifndef FOLDBACK_STORE_FIELD_WRITER_H_
#define FOLDBACK_STORE_FIELD_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "foldback/index.h"
#include "foldback/status.h"

namespace google::protobuf {
class MessageLite;
}

namespace foldback::store {

class FieldWriter {
 public:
  // The buffer is handed on once it holds this much (by default).
  static constexpr size_t kFlushBytes = size_t{4} << 20;

  explicit FieldWriter(SnapshotSink* sink, size_t flush_bytes = kFlushBytes)
      : sink_(sink), flush_bytes_(flush_bytes) {}

  // Appends `m` as field `number` of the Snapshot, exactly as serializing
  // the whole message would (tag, length, value). Internal when `m` passes
  // protobuf's 2 GiB (`what` names it); the sink's error when it fails.
  Status AppendField(uint32_t number, const google::protobuf::MessageLite& m,
                     std::string_view what);
  // Appends every field of `m` (the payload's small fields, written as one
  // message).
  Status AppendFields(const google::protobuf::MessageLite& m, std::string_view what);
  // A `bytes` field written in parts: its tag and length, then its value
  // through AppendRaw (exactly `size` bytes, the caller's duty).
  Status BeginBytesField(uint32_t number, uint64_t size);
  Status AppendRaw(std::string_view bytes);
  // Hands the rest of the buffer to the sink.
  Status Flush();

  // What has been appended so far (flushed or not).
  uint64_t length() const { return length_ + buffer_.size(); }
  // The CRC-32C of the bytes flushed so far; final after Flush().
  uint32_t crc() const { return crc_; }

 private:
  Status MaybeFlush() { return buffer_.size() >= flush_bytes_ ? Flush() : Status::OK(); }

  SnapshotSink* sink_;
  size_t flush_bytes_;
  std::string buffer_;
  uint64_t length_ = 0;  // flushed
  uint32_t crc_ = 0;
};

}  // namespace foldback::store

#endif  // FOLDBACK_STORE_FIELD_WRITER_H_
