#include "host/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <random>

namespace foldback::host {

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewUuidV7(int64_t unix_ms) {
  uint8_t b[16] = {0};
  // Bytes 6..15 random; getrandom(2) from the kernel, the C++ random device
  // if it is missing (very old kernels, seccomp).
  size_t filled = 0;
  while (filled < 10) {
    ssize_t n = ::getrandom(b + 6 + filled, 10 - filled, 0);
    if (n > 0) {
      filled += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (filled < 10) {
    std::random_device rd;
    for (size_t i = filled; i < 10; ++i) b[6 + i] = static_cast<uint8_t>(rd());
  }
  uint64_t ms = static_cast<uint64_t>(unix_ms) & 0xFFFFFFFFFFFFull;
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x70);  // version 7
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // variant 0b10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 0x0F]);
  }
  return s;
}

}  // namespace foldback::host
