# `cmake --install`: headers, libraries, the foldback CLI, a CMake package
# (find_package(foldback) -> foldback::core, foldback::native, foldback::c)
# and a pkg-config file for the C ABI.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS foldback_core foldback_native foldback_c
  EXPORT foldbackTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS foldback RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/foldback
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/core/include/foldback/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/foldback)
# The native host's public headers (foldback::native), under their folders.
foreach(dir_files
    "host:feedback_log.h;feedback_record.h;files.h;hash.h;ids.h;index_dir.h;ingest_path.h;traces.h"
    "ingest:extract.h"
    "llm:endpoint.h;llm_client.h")
  string(REPLACE ":" ";" parts "${dir_files}")
  list(POP_FRONT parts dir)
  list(TRANSFORM parts PREPEND ${PROJECT_SOURCE_DIR}/native/${dir}/)
  install(FILES ${parts} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/foldback/native/${dir})
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/corpus/cuad/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/foldback/demo)

install(EXPORT foldbackTargets NAMESPACE foldback::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/foldback)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/foldbackConfig.cmake.in
  ${PROJECT_BINARY_DIR}/foldbackConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/foldback)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/foldbackConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/foldbackConfig.cmake
              ${PROJECT_BINARY_DIR}/foldbackConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FoldbackFindDeps.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/foldback)

configure_file(${PROJECT_SOURCE_DIR}/cmake/foldback.pc.in ${PROJECT_BINARY_DIR}/foldback.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/foldback.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
