# The git commit a build came from, recorded in every run.json. Refreshed at build time so that a
# rebuild after a commit reports the new SHA without re-running CMake.
set(MERIDIAN_VERSION_CPP "${PROJECT_BINARY_DIR}/generated/version_info.cpp")
add_custom_target(meridian_version_info
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUTPUT=${MERIDIAN_VERSION_CPP}
          -DVERSION=${PROJECT_VERSION} -P ${PROJECT_SOURCE_DIR}/cmake/WriteVersionInfo.cmake
  BYPRODUCTS ${MERIDIAN_VERSION_CPP}
  COMMENT "Recording the git commit of this build")
