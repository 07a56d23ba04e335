# The packages that ftsr's libraries link, found the same way for ftsr's own
# build (the root CMakeLists.txt) and for projects that use the installed
# package (ftsrConfig.cmake includes this file). Adding a dependency is one
# line at the end of this file plus the target_link_libraries line that
# uses it; build-only tools (CLI11, GoogleTest, Google Benchmark) are found by
# the root CMakeLists.txt instead.
#
# A dependency that is not found sets FTSR_DEPENDENCY_MISSING to a message
# naming it and its Debian package; the includer reports it.
include_guard(DIRECTORY)

# ftsr_dependency(<debian-package> <package> [find_package arguments...]):
# a package with a CMake config or find module.
function(ftsr_dependency debian_package package)
  if(FTSR_DEPENDENCY_MISSING)
    return()
  endif()
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    set(FTSR_DEPENDENCY_MISSING
      "${package} ${ARGN} (Debian package ${debian_package})" PARENT_SCOPE)
  endif()
endfunction()

# ftsr_system_library(<name> <debian-package> <header> <VAR>:<library>...):
# a library without CMake support, located by hand (find_path on <header>,
# find_library per library into the cache variable <VAR>) and offered as
# the imported target ftsr::<name>_libs. Its include directory is
# <NAME>_INCLUDE_DIR.
function(ftsr_system_library name debian_package header)
  if(FTSR_DEPENDENCY_MISSING OR TARGET ftsr::${name}_libs)
    return()
  endif()
  string(TOUPPER ${name} prefix)
  find_path(${prefix}_INCLUDE_DIR ${header})
  set(missing "")
  if(NOT ${prefix}_INCLUDE_DIR)
    set(missing "${header}")
  endif()
  set(libraries "")
  foreach(spec IN LISTS ARGN)
    string(REPLACE ":" ";" spec "${spec}")
    list(GET spec 0 var)
    list(GET spec 1 library)
    find_library(${var} ${library})
    if(${var})
      list(APPEND libraries ${${var}})
    else()
      list(APPEND missing "lib${library}")
    endif()
  endforeach()
  if(missing)
    list(JOIN missing ", " missing)
    set(FTSR_DEPENDENCY_MISSING
      "${name}: ${missing} (Debian package ${debian_package})" PARENT_SCOPE)
    return()
  endif()
  add_library(ftsr::${name}_libs INTERFACE IMPORTED)
  set_target_properties(ftsr::${name}_libs PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${${prefix}_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${libraries}")
endfunction()

# ftsr_pkg_config_module(<debian-package> <PREFIX> <module>): a library that
# ships a pkg-config file only, offered as the imported target
# PkgConfig::<PREFIX> (with the module's compile definitions, which its
# compiled part was built with).
function(ftsr_pkg_config_module debian_package prefix module)
  if(FTSR_DEPENDENCY_MISSING OR TARGET PkgConfig::${prefix})
    return()
  endif()
  find_package(PkgConfig QUIET)
  if(NOT PkgConfig_FOUND)
    set(FTSR_DEPENDENCY_MISSING "pkg-config (Debian package pkgconf)"
      PARENT_SCOPE)
    return()
  endif()
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    set(FTSR_DEPENDENCY_MISSING
      "pkg-config module ${module} (Debian package ${debian_package})"
      PARENT_SCOPE)
  endif()
endfunction()

set(THREADS_PREFER_PTHREAD_FLAG ON)
ftsr_dependency(libc6-dev Threads)
# CAF 0.17 from Debian ships no CMake config. caf_io before caf_core: the
# order a static link needs.
ftsr_system_library(caf libcaf-dev caf/all.hpp
  CAF_IO_LIBRARY:caf_io CAF_CORE_LIBRARY:caf_core)
ftsr_dependency(libboost-serialization-dev Boost COMPONENTS serialization)
ftsr_system_library(lmdb liblmdb-dev lmdb.h LMDB_LIBRARY:lmdb)
ftsr_dependency(libtomlplusplus-dev tomlplusplus)
ftsr_dependency(libssl-dev OpenSSL)
ftsr_dependency(libfmt-dev fmt)
ftsr_dependency(libspdlog-dev spdlog)
ftsr_pkg_config_module(libcpp-httplib-dev HTTPLIB cpp-httplib)
