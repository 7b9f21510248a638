#include "store/field_writer.h"

#include <limits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message_lite.h>

#include "store/crc32c.h"

namespace foldback::store {
namespace {

constexpr uint32_t kLengthDelimited = 2;

void PutVarint(uint64_t v, std::string* out) {
  uint8_t buf[10];  // the longest varint of 64 bits
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

Status TooLarge(std::string_view what) {
  return Status::Internal("snapshot serialization failed: " + std::string(what) +
                          " is larger than 2 GiB");
}

}  // namespace

Status FieldWriter::AppendField(uint32_t number, const google::protobuf::MessageLite& m,
                                std::string_view what) {
  const size_t size = m.ByteSizeLong();
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) return TooLarge(what);
  PutVarint(number << 3 | kLengthDelimited, &buffer_);
  PutVarint(size, &buffer_);
  if (!m.AppendToString(&buffer_)) return TooLarge(what);
  return MaybeFlush();
}

Status FieldWriter::AppendFields(const google::protobuf::MessageLite& m, std::string_view what) {
  if (m.ByteSizeLong() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !m.AppendToString(&buffer_)) {
    return TooLarge(what);
  }
  return MaybeFlush();
}

Status FieldWriter::BeginBytesField(uint32_t number, uint64_t size) {
  PutVarint(number << 3 | kLengthDelimited, &buffer_);
  PutVarint(size, &buffer_);
  return MaybeFlush();
}

Status FieldWriter::AppendRaw(std::string_view bytes) {
  buffer_.append(bytes);
  return MaybeFlush();
}

Status FieldWriter::Flush() {
  if (buffer_.empty()) return Status::OK();
  crc_ = Crc32cExtend(crc_, buffer_.data(), buffer_.size());
  length_ += buffer_.size();
  Status s = sink_->Append(buffer_);
  buffer_.clear();
  // A large piece's buffer is not kept for the documents that follow.
  if (buffer_.capacity() > 4 * flush_bytes_) std::string().swap(buffer_);
  return s;
}

}  // namespace foldback::store
