// Content hashes for the native host (change detection in `foldback watch`).
#ifndef FOLDBACK_NATIVE_HOST_HASH_H_
#define FOLDBACK_NATIVE_HOST_HASH_H_

#include <string>
#include <string_view>

namespace foldback::host {

// SHA-256 of `data` as 64 lower-case hex digits (GLib's GChecksum).
std::string Sha256Hex(std::string_view data);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_HASH_H_
