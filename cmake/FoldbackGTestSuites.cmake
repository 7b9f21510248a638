# One CTest test per GoogleTest *suite* of a test binary, instead of one per
# test as gtest_discover_tests registers them.
#
# Why: the unit suite runs in the ASan+UBSan build, whose binary is large
# (about 175 MB); starting it costs about 0.3 s of CPU (relocations, shadow
# memory, LeakSanitizer at exit) before a test runs, and there are about 500
# tests. One process per suite runs the same tests with about a fifth of the
# starts. A failing suite's output names the failing test; to run one test:
#   build/asan/bin/foldback_unit_tests --gtest_filter='Suite.Test'
#
# Used two ways: included by tests/CMakeLists.txt for the function, and run in
# script mode (cmake -P) after each link to list the suites, as
# gtest_discover_tests does for tests.

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -D TEST_EXECUTABLE=... -D CTEST_FILE=... -D TEST_TIMEOUT=... -P this
  execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests
                  OUTPUT_VARIABLE _out ERROR_VARIABLE _err RESULT_VARIABLE _rc
                  TIMEOUT 60)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "listing the tests of ${TEST_EXECUTABLE} failed (${_rc}): ${_err}")
  endif()
  set(_script "")
  set(_count 0)
  string(REPLACE "\n" ";" _lines "${_out}")
  foreach(_line IN LISTS _lines)
    # A suite line is the suite's name and a dot, then for typed or
    # parameterized suites a comment: "Stores/JobsCli.  # TypeParam = ...".
    # Test lines start with spaces; gtest_main's banner has no final dot.
    if(_line MATCHES "^([A-Za-z0-9_/]+)\\.( .*)?$")
      set(_name "${CMAKE_MATCH_1}.*")
      string(APPEND _script
             "add_test([=[${_name}]=] [=[${TEST_EXECUTABLE}]=] [=[--gtest_filter=${_name}]=])\n"
             "set_tests_properties([=[${_name}]=] PROPERTIES TIMEOUT ${TEST_TIMEOUT})\n")
      math(EXPR _count "${_count} + 1")
    endif()
  endforeach()
  if(_count EQUAL 0)
    message(FATAL_ERROR "${TEST_EXECUTABLE} lists no test suite")
  endif()
  file(WRITE "${CTEST_FILE}" "${_script}")
  return()
endif()

# foldback_add_gtest_suites(TARGET TIMEOUT seconds): registers TARGET's
# suites with CTest once TARGET is linked.
function(foldback_add_gtest_suites target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT" "")
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 600)
  endif()
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  add_custom_command(
    TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D TEST_EXECUTABLE=$<TARGET_FILE:${target}>
            -D CTEST_FILE=${ctest_file} -D TEST_TIMEOUT=${arg_TIMEOUT}
            -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    BYPRODUCTS ${ctest_file}
    VERBATIM)
  # CTest includes this at run time; before the first link there is nothing
  # to list, which must show as a failing test rather than none.
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")
  file(WRITE "${include_file}"
       "if(EXISTS [=[${ctest_file}]=])\n"
       "  include([=[${ctest_file}]=])\n"
       "else()\n"
       "  add_test([=[${target}_NOT_BUILT]=] [=[${target}_NOT_BUILT]=])\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
