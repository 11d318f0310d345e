# `cmake --install` puts the apps, the libraries, the headers and MeridianConfig.cmake under the
# prefix, so that another project can `find_package(Meridian)` and link Meridian::comm etc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MERIDIAN_EXPORTED_TARGETS meridian_kernels meridian_core meridian_comm meridian_nn meridian_data meridian_trace meridian_dist
    meridian_openblas meridian_hdf5 meridian_isal)
if(MERIDIAN_HAVE_CUDA)
  list(APPEND MERIDIAN_EXPORTED_TARGETS meridian_kernels_cuda meridian_nccl)
endif()
install(TARGETS ${MERIDIAN_EXPORTED_TARGETS} EXPORT MeridianTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/meridian
        FILES_MATCHING PATTERN "*.hpp")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/kernels/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/meridian/kernels
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT MeridianTargets NAMESPACE Meridian:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Meridian)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/MeridianConfig.cmake.in
  ${PROJECT_BINARY_DIR}/MeridianConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Meridian)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/MeridianConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/MeridianConfig.cmake ${PROJECT_BINARY_DIR}/MeridianConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Meridian)
