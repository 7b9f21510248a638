/* The C tests' check: CHECK(cond) reports a failed condition with its file
 * and line and counts it in `failures`; the test exits non-zero when any
 * failed. Included once per test program. */
#ifndef FOLDBACK_TESTS_C_TEST_CHECK_H_
#define FOLDBACK_TESTS_C_TEST_CHECK_H_

#include <stdio.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#endif /* FOLDBACK_TESTS_C_TEST_CHECK_H_ */
