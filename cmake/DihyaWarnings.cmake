# SPDX-License-Identifier: AGPL-3.0-or-later
# Warnings are errors for everything this project compiles. Packagers building
# with another compiler can keep the warnings and drop the errors with
# -DDIHYA_WERROR=OFF. (CMake adds -Winvalid-pch to every TU that uses a
# precompiled header, so with -Werror a header GCC cannot use fails the build
# instead of silently slowing it.)
option(DIHYA_WERROR "Treat compiler warnings as errors" ON)
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                    -Wformat=2)
if(DIHYA_WERROR)
  add_compile_options(-Werror)
endif()
# GCC 12 reports flow-based false positives from inlined code of nlohmann_json
# (-Wnull-dereference) and yaml-cpp (-Wdangling-pointer) at -O2; neither is
# enabled, so third-party headers cannot break the build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  add_compile_options(-Wno-dangling-pointer)
endif()

if(DIHYA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
