// Host-side identifiers and time: UUIDv7 record ids, unix milliseconds.
// (The core reads no clock and draws no randomness; the host supplies both.)
#ifndef FOLDBACK_NATIVE_HOST_IDS_H_
#define FOLDBACK_NATIVE_HOST_IDS_H_

#include <cstdint>
#include <string>

namespace foldback::host {

// Milliseconds since the Unix epoch (system clock).
int64_t UnixMillis();

// A UUIDv7 (RFC 9562): 48-bit unix milliseconds, then 74 random bits from
// the kernel (getrandom), in the 8-4-4-4-12 lowercase text form. Ids made
// later sort after earlier ones (to the millisecond).
std::string NewUuidV7(int64_t unix_ms);
inline std::string NewUuidV7() { return NewUuidV7(UnixMillis()); }

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_IDS_H_
