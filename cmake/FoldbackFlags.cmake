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
  endif()
endfunction()
