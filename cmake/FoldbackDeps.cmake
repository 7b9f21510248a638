# Dependencies of the build. Native: Debian packages (FoldbackFindDeps.cmake).
# WebAssembly: protobuf-lite, libstemmer and utf8proc compiled from Debian
# source packages by wasm/build-deps.sh into FOLDBACK_WASM_DEPS; header-only
# libraries (hnswlib, nlohmann-json, Eigen, robin-map, and {fmt} used header-only)
# from Debian's headers, each exposed through its own folder — never all of
# /usr/include.

find_program(FOLDBACK_PROTOC protoc REQUIRED)

if(NOT EMSCRIPTEN)
  include(FoldbackFindDeps)
  return()
endif()

foreach(lib protobuf-lite stemmer utf8proc)
  if(NOT EXISTS ${FOLDBACK_WASM_DEPS}/lib/lib${lib}.a)
    message(FATAL_ERROR "lib${lib}.a for wasm32 is missing in ${FOLDBACK_WASM_DEPS}; "
                        "run wasm/build-deps.sh ${FOLDBACK_WASM_DEPS} (./run.sh does)")
  endif()
endforeach()

add_library(foldback_dep::protobuf_lite STATIC IMPORTED)
set_target_properties(foldback_dep::protobuf_lite PROPERTIES
  IMPORTED_LOCATION ${FOLDBACK_WASM_DEPS}/lib/libprotobuf-lite.a
  INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_WASM_DEPS}/include)
add_library(foldback_dep::stemmer STATIC IMPORTED)
set_target_properties(foldback_dep::stemmer PROPERTIES
  IMPORTED_LOCATION ${FOLDBACK_WASM_DEPS}/lib/libstemmer.a
  INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_WASM_DEPS}/include)
add_library(foldback_dep::utf8proc STATIC IMPORTED)
set_target_properties(foldback_dep::utf8proc PROPERTIES
  IMPORTED_LOCATION ${FOLDBACK_WASM_DEPS}/lib/libutf8proc.a
  INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_WASM_DEPS}/include
  INTERFACE_COMPILE_DEFINITIONS UTF8PROC_STATIC)

# Header-only libraries: a private include folder with one link per library.
set(_hdrs ${CMAKE_BINARY_DIR}/header-only)
file(MAKE_DIRECTORY ${_hdrs})
foreach(pair "hnswlib:/usr/include/hnswlib" "nlohmann:/usr/include/nlohmann"
             "Eigen:/usr/include/eigen3/Eigen" "tsl:/usr/include/tsl" "fmt:/usr/include/fmt")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 path)
  if(NOT EXISTS ${path})
    message(FATAL_ERROR "${path} is missing: install the Debian package (./run.sh does)")
  endif()
  if(NOT EXISTS ${_hdrs}/${name})
    file(CREATE_LINK ${path} ${_hdrs}/${name} SYMBOLIC)
  endif()
endforeach()
foreach(name hnswlib json eigen robin_map fmt)
  add_library(foldback_dep::${name} INTERFACE IMPORTED)
  set_target_properties(foldback_dep::${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_hdrs})
endforeach()
# {fmt} header-only (Debian's libfmt-dev headers; its compiled part is
# format-inl.h, included by FMT_HEADER_ONLY). FMT_STATIC_THOUSANDS_SEPARATOR
# keeps std::locale out of the module (foldback formats no numbers by locale);
# FMT_USE_LONG_DOUBLE=0 drops the 128-bit soft-float printing foldback never
# asks for.
set_target_properties(foldback_dep::fmt PROPERTIES INTERFACE_COMPILE_DEFINITIONS
  "FMT_HEADER_ONLY=1;FMT_STATIC_THOUSANDS_SEPARATOR=',';FMT_USE_LONG_DOUBLE=0")
