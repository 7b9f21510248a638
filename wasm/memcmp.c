/* memcmp (and bcmp, which clang emits for memcmp(...) == 0) eight bytes at a
 * time through unaligned loads, for the WebAssembly module. Emscripten's
 * libc (3.1.6) compares a byte per loop iteration unless both pointers are
 * 4-byte aligned, and the strings the core compares rarely are: a short
 * std::string's bytes start one byte into the object in wasm32's libc++.
 * Every string_view and std::string comparison of a search lands here (the
 * term dictionary, the stemmer's cache, stopwords, the binding's hit ids).
 * wasm loads need no alignment and are little-endian, so the first byte
 * that differs is the lowest set byte of the two words' XOR.
 * FB_MEMCMP_NAME lets the native unit test compile this same code under
 * another name and compare it with the host's memcmp. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef FB_MEMCMP_NAME
#define FB_MEMCMP_NAME memcmp
#define FB_BCMP_NAME bcmp
#endif

/* The difference of the first bytes that differ, given the XOR of the
 * words read at l and r (not zero). */
static int FirstDifference(const unsigned char* l, const unsigned char* r, uint64_t x) {
  const unsigned k = (unsigned)__builtin_ctzll(x) >> 3;
  return (int)l[k] - (int)r[k];
}

int FB_MEMCMP_NAME(const void* vl, const void* vr, size_t n) {
  const unsigned char* l = (const unsigned char*)vl;
  const unsigned char* r = (const unsigned char*)vr;
  for (; n >= 8; n -= 8, l += 8, r += 8) {
    uint64_t a, b;
    __builtin_memcpy(&a, l, 8);
    __builtin_memcpy(&b, r, 8);
    if (a != b) return FirstDifference(l, r, a ^ b);
  }
  if (n >= 4) {
    uint32_t a, b;
    __builtin_memcpy(&a, l, 4);
    __builtin_memcpy(&b, r, 4);
    if (a != b) return FirstDifference(l, r, a ^ b);
    n -= 4, l += 4, r += 4;
  }
  for (; n; --n, ++l, ++r) {
    if (*l != *r) return (int)*l - (int)*r;
  }
  return 0;
}

#ifdef FB_BCMP_NAME
int FB_BCMP_NAME(const void* l, const void* r, size_t n) { return FB_MEMCMP_NAME(l, r, n); }
#endif
