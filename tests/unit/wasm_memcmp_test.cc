// wasm/memcmp.c, the WebAssembly module's memcmp, compiled here under
// another name and compared with the host's memcmp: every length up to 40,
// every alignment of both sides, a difference at every position, bytes
// above 0x7F (compared as unsigned char).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

extern "C" {
#define FB_MEMCMP_NAME fb_test_memcmp
#define FB_BCMP_NAME fb_test_bcmp
#include "../../wasm/memcmp.c"
}

namespace {

int Sign(int v) { return (v > 0) - (v < 0); }

TEST(WasmMemcmp, AgreesWithTheHostsMemcmp) {
  std::mt19937 rng(7);
  std::vector<unsigned char> a(64), b(64);
  size_t checked = 0;
  for (size_t n = 0; n <= 40; ++n) {
    for (size_t oa = 0; oa < 8; ++oa) {
      for (size_t ob = 0; ob < 8; ++ob) {
        for (auto& c : a) c = static_cast<unsigned char>(rng());
        std::memcpy(b.data() + ob, a.data() + oa, n);
        const unsigned char* l = a.data() + oa;
        unsigned char* r = b.data() + ob;
        ASSERT_EQ(fb_test_memcmp(l, r, n), 0) << n;
        ASSERT_EQ(fb_test_bcmp(l, r, n), 0) << n;
        for (size_t at = 0; at < n; ++at) {
          const unsigned char keep = r[at];
          for (unsigned char v : {static_cast<unsigned char>(keep + 1), static_cast<unsigned char>(keep ^ 0x80),
                                  static_cast<unsigned char>(0), static_cast<unsigned char>(0xFF)}) {
            if (v == keep) continue;
            r[at] = v;
            // A second difference after the first must not change the answer.
            if (at + 1 < n) r[n - 1] ^= 0x55;
            ASSERT_EQ(Sign(fb_test_memcmp(l, r, n)), Sign(std::memcmp(l, r, n)))
                << "n=" << n << " at=" << at << " offsets " << oa << "," << ob;
            ASSERT_NE(fb_test_bcmp(l, r, n), 0);
            ++checked;
            if (at + 1 < n) r[n - 1] ^= 0x55;
            r[at] = keep;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 100000u);
}

}  // namespace
