// How much repetitive work a test does. Tests that exist for their size
// (a 50 MB input, a byte-flip sweep over a whole log) run in full in the
// optimised build; the ASan+UBSan build, about ten times slower, runs the
// same code paths over a fraction of the input. The sanitizers look for
// memory and undefined-behaviour errors, which the smaller run reaches just
// the same; the optimised run is the one that checks the size.
#ifndef FOLDBACK_TESTS_SUPPORT_TEST_BUDGET_H_
#define FOLDBACK_TESTS_SUPPORT_TEST_BUDGET_H_

#include <cstddef>

namespace foldback::testing {

#if defined(FOLDBACK_SANITIZED)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// `n` in the optimised build, `n / divisor` (at least 1) under the sanitizers.
constexpr size_t SanitizerScaled(size_t n, size_t divisor) {
  return !kSanitized ? n : (n / divisor > 0 ? n / divisor : 1);
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_TEST_BUDGET_H_
