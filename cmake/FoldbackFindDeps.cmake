# Finds foldback's native dependencies and defines imported targets for them:
#   foldback_dep::protobuf_lite  foldback_dep::stemmer  foldback_dep::utf8proc
#   foldback_dep::hnswlib        foldback_dep::json     foldback_dep::eigen
#   foldback_dep::robin_map      foldback_dep::fmt
# and for the native host (foldback::native: ingestion, files, libcurl):
#   CURL::libcurl  pugixml::pugixml  PkgConfig::FOLDBACK_GMIME
#   PkgConfig::FOLDBACK_LIBZIP  PkgConfig::FOLDBACK_POPPLER_CPP  PkgConfig::FOLDBACK_GUMBO
# Used by foldback's own build (native) and by the installed CMake package,
# so that find_package(foldback) consumers link the same libraries.
# All come from Debian packages; run.sh installs them.

if(NOT TARGET foldback_dep::protobuf_lite)
  find_package(Protobuf REQUIRED)
  add_library(foldback_dep::protobuf_lite INTERFACE IMPORTED)
  set_target_properties(foldback_dep::protobuf_lite PROPERTIES
    INTERFACE_LINK_LIBRARIES protobuf::libprotobuf-lite)

  find_path(FOLDBACK_STEMMER_INCLUDE libstemmer.h REQUIRED)
  find_library(FOLDBACK_STEMMER_LIB stemmer REQUIRED)
  add_library(foldback_dep::stemmer UNKNOWN IMPORTED)
  set_target_properties(foldback_dep::stemmer PROPERTIES
    IMPORTED_LOCATION ${FOLDBACK_STEMMER_LIB}
    INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_STEMMER_INCLUDE})

  find_path(FOLDBACK_UTF8PROC_INCLUDE utf8proc.h REQUIRED)
  find_library(FOLDBACK_UTF8PROC_LIB utf8proc REQUIRED)
  add_library(foldback_dep::utf8proc UNKNOWN IMPORTED)
  set_target_properties(foldback_dep::utf8proc PROPERTIES
    IMPORTED_LOCATION ${FOLDBACK_UTF8PROC_LIB}
    INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_UTF8PROC_INCLUDE})

  find_path(FOLDBACK_HNSWLIB_INCLUDE hnswlib/hnswlib.h REQUIRED)
  add_library(foldback_dep::hnswlib INTERFACE IMPORTED)
  set_target_properties(foldback_dep::hnswlib PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_HNSWLIB_INCLUDE})

  # tsl::robin_map (Debian robin-map-dev): open-addressing hash map for the
  # per-word lookups of ingestion.
  find_path(FOLDBACK_ROBIN_MAP_INCLUDE tsl/robin_map.h REQUIRED)
  add_library(foldback_dep::robin_map INTERFACE IMPORTED)
  set_target_properties(foldback_dep::robin_map PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES ${FOLDBACK_ROBIN_MAP_INCLUDE})

  find_package(nlohmann_json 3 REQUIRED)
  add_library(foldback_dep::json INTERFACE IMPORTED)
  set_target_properties(foldback_dep::json PROPERTIES
    INTERFACE_LINK_LIBRARIES nlohmann_json::nlohmann_json)

  find_package(Eigen3 3.3 REQUIRED NO_MODULE)
  add_library(foldback_dep::eigen INTERFACE IMPORTED)
  set_target_properties(foldback_dep::eigen PROPERTIES
    INTERFACE_LINK_LIBRARIES Eigen3::Eigen)

  # {fmt} (Debian libfmt-dev, 9.1): text output and messages, with format
  # strings checked at compile time (FMT_STRING; the build is C++17).
  find_package(fmt 9 REQUIRED)
  add_library(foldback_dep::fmt INTERFACE IMPORTED)
  set_target_properties(foldback_dep::fmt PROPERTIES INTERFACE_LINK_LIBRARIES fmt::fmt)
endif()

# The native host's readers of real documents and its HTTP client.
if(NOT TARGET PkgConfig::FOLDBACK_GMIME)
  find_package(CURL REQUIRED)
  find_package(pugixml REQUIRED)
  find_package(PkgConfig REQUIRED)
  # GMime 3 (mail), libzip (.docx), poppler-cpp (.pdf), gumbo (HTML5).
  pkg_check_modules(FOLDBACK_GMIME REQUIRED IMPORTED_TARGET GLOBAL gmime-3.0)
  pkg_check_modules(FOLDBACK_LIBZIP REQUIRED IMPORTED_TARGET GLOBAL libzip)
  pkg_check_modules(FOLDBACK_POPPLER_CPP REQUIRED IMPORTED_TARGET GLOBAL poppler-cpp)
  pkg_check_modules(FOLDBACK_GUMBO REQUIRED IMPORTED_TARGET GLOBAL gumbo)
endif()
