/* memcpy, memmove and memset as WebAssembly's bulk-memory instructions
 * (memory.copy, memory.fill), for the SIMD build of the module (every engine
 * with wasm SIMD has bulk memory). Emscripten's libc (3.1.6) copies 4 bytes a
 * loop iteration and calls out to JavaScript from 512 bytes; a search copies
 * each hit's text twice (into the hit, then into the buffer JS decodes), and
 * those copies were 7% of a scoped search through the package
 * (docs/benchmarks.md, issue 13 item 7). With -mbulk-memory the builtins
 * below compile to the instructions themselves, not to calls; these strong
 * definitions replace libc's weak ones at link time. */
#include <stddef.h>

#if !defined(__wasm_bulk_memory__)
#error "bulk_memory.c needs -mbulk-memory"
#endif

void* memcpy(void* restrict dest, const void* restrict src, size_t n) {
  return __builtin_memcpy(dest, src, n);
}

void* memmove(void* dest, const void* src, size_t n) { return __builtin_memmove(dest, src, n); }

void* memset(void* dest, int c, size_t n) { return __builtin_memset(dest, c, n); }
