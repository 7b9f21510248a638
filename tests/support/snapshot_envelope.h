// A snapshot's envelope around a payload the test wrote itself (an old
// format version, deliberately malformed fields), with a correct checksum so
// that what the reader judges is the payload. The layout is
// core/src/store/snapshot.cc's: magic, version, u64 length, masked CRC-32C.
#ifndef FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_
#define FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_

#include <cstdint>
#include <string>

#include "store/bytes.h"
#include "store/crc32c.h"

namespace foldback::testing {

inline std::string SealSnapshot(uint32_t format_version, const std::string& payload) {
  std::string out = "FBSN";
  store::PutU32(&out, format_version);
  store::PutU32(&out, static_cast<uint32_t>(payload.size()));
  store::PutU32(&out, static_cast<uint32_t>(static_cast<uint64_t>(payload.size()) >> 32));
  store::PutU32(&out, store::MaskCrc(store::Crc32c(payload)));
  return out + payload;
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_SNAPSHOT_ENVELOPE_H_
