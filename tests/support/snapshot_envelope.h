// A snapshot's envelope around a payload the test wrote itself (an old
// format version, deliberately malformed fields), with a correct checksum so
// that what the reader judges is the payload. The layout is
// core/src/store/snapshot.cc's: magic and version, then the u64 length and
// masked CRC-32C before the payload (formats 1-3) or after it (format 4).
#ifndef FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_
#define FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "store/bytes.h"
#include "store/crc32c.h"

namespace foldback::testing {

inline std::string SealSnapshot(uint32_t format_version, const std::string& payload) {
  std::string sums;
  store::PutU32(&sums, static_cast<uint32_t>(payload.size()));
  store::PutU32(&sums, static_cast<uint32_t>(static_cast<uint64_t>(payload.size()) >> 32));
  store::PutU32(&sums, store::MaskCrc(store::Crc32c(payload)));
  std::string out = "FBSN";
  store::PutU32(&out, format_version);
  if (format_version >= 4) return out + payload + sums;
  return out + sums + payload;
}

// The payload of a sealed snapshot (the envelope's sizes taken on trust).
inline std::string_view SnapshotPayload(std::string_view bytes) {
  if (bytes.size() < 8) return {};
  if (store::GetU32(bytes, 1) >= 4)
    return bytes.size() < 20 ? std::string_view() : bytes.substr(8, bytes.size() - 20);
  return bytes.size() < 20 ? std::string_view() : bytes.substr(20);
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_
