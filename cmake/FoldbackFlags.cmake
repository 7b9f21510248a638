# Compiler flags, set per target (never through global CMAKE_CXX_FLAGS, never
# -march=native: binaries must run on any x86-64 / arm64 and in any browser).

# foldback_target_flags(<target>): warnings, C++17, sanitizers when asked.
function(foldback_target_flags target)
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  endif()
  if(EMSCRIPTEN AND FOLDBACK_WASM_SIMD)
    # 128-bit SIMD for the vector distance functions (GCC/Clang vector
    # extensions lower to wasm simd128). FOLDBACK_WASM_SIMD=OFF builds the
    # scalar variant (for engines without SIMD, and to measure the gain).
    target_compile_options(${target} PRIVATE -msimd128)
  endif()
  if(FOLDBACK_FUZZ)
    # Coverage instrumentation for libFuzzer in every foldback target.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
  if(FOLDBACK_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    # The sanitizer build (./run.sh test's longest build): line tables are
    # all a sanitizer report's stack needs, and a precompiled header of the
    # heaviest common headers (clang instantiates their templates once) —
    # about a quarter less compile time at -O0. Only here: the optimised and
    # wasm builds compile without it, so a missing #include still fails.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-gline-tables-only>)
    target_precompile_headers(${target} PRIVATE
      "$<$<COMPILE_LANGUAGE:CXX>:<nlohmann/json.hpp$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<fmt/format.h$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<algorithm$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<functional$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<map$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<memory$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<string$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<unordered_map$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<vector$<ANGLE-R>>")
  endif()
endfunction()
