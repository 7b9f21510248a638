// Host-side identifiers and time: UUIDv7 ids (trace ids, record ids), unix
// milliseconds. The core reads no clock and draws no randomness; the host
// supplies both.
#ifndef FOLDBACK_NATIVE_HOST_IDS_H_
#define FOLDBACK_NATIVE_HOST_IDS_H_

#include <cstdint>
#include <string>

namespace foldback::host {

// Milliseconds since the Unix epoch (system clock).
int64_t UnixMillis();

// A UUIDv7 (RFC 9562 §5.7): 48 bits of unix milliseconds, version 7, 74
// random bits from the kernel (getrandom), variant 0b10; lowercase
// 8-4-4-4-12 text. Ids made in later milliseconds sort after earlier ones.
std::string NewUuidV7(int64_t unix_ms);
inline std::string NewUuidV7() { return NewUuidV7(UnixMillis()); }

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_IDS_H_
