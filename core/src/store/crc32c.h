// CRC-32C (Castagnoli), the checksum of LevelDB's log format and of iSCSI.
// Debian bookworm packages no CRC-32C library (google/crc32c is not in it),
// so this is the standard table-driven form; tests check it against the
// published check values (RFC 3720 B.4).
#ifndef FOLDBACK_STORE_CRC32C_H_
#define FOLDBACK_STORE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace foldback::store {

// Returns the CRC-32C of data, continuing from `init` (the CRC of what came
// before; 0 for a fresh start).
uint32_t Crc32cExtend(uint32_t init, const char* data, size_t n);
inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

// LevelDB's masking: a CRC stored next to data that itself contains CRCs is
// masked so that CRCs of CRCs do not look valid by accident.
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t UnmaskCrc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace foldback::store

#endif  // FOLDBACK_STORE_CRC32C_H_
