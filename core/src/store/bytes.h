// Fixed-width little-endian arrays in std::string buffers: the portable form
// of numeric data in snapshots (identical on x86-64, arm64, wasm32).
#ifndef FOLDBACK_STORE_BYTES_H_
#define FOLDBACK_STORE_BYTES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace foldback::store {

inline void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}

inline uint32_t GetU32(std::string_view in, size_t index) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data()) + index * 4;
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void PutF32(std::string* out, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  PutU32(out, v);
}

inline float GetF32(std::string_view in, size_t index) {
  uint32_t v = GetU32(in, index);
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

// Number of u32/f32 values in `in`, or SIZE_MAX when its size is not a
// multiple of 4.
inline size_t Count32(std::string_view in) {
  return in.size() % 4 == 0 ? in.size() / 4 : SIZE_MAX;
}

}  // namespace foldback::store

#endif  // FOLDBACK_STORE_BYTES_H_
