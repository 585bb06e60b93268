// SPDX-License-Identifier: AGPL-3.0-or-later
// The ABI tag every plugin carries. Plugins exchange C++ types (std::string,
// nlohmann::json, std::unique_ptr) with the host, so a plugin is loadable only
// when it was built against the same SDK major version *and* the same C++
// standard library ABI. The host compares the tag before it runs any code.
#pragma once

#include <string>

// 2.0: Plugin holds its embedded metadata; Context lost its libpqxx member
// layout and gained own_database(); DIHYA_PLUGIN no longer uses Boost.DLL.
#define DIHYA_ABI_MAJOR 2
#define DIHYA_ABI_MINOR 0

#define DIHYA_ABI_STR2(x) #x
#define DIHYA_ABI_STR(x) DIHYA_ABI_STR2(x)

#if defined(_GLIBCXX_RELEASE)
#define DIHYA_ABI_STDLIB "libstdc++-cxx11abi" DIHYA_ABI_STR(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define DIHYA_ABI_STDLIB "libc++-abi" DIHYA_ABI_STR(_LIBCPP_ABI_VERSION)
#else
#define DIHYA_ABI_STDLIB "unknown-stdlib"
#endif

// "dihya-abi <major>.<minor> <stdlib>", e.g. "dihya-abi 2.0 libstdc++-cxx11abi1".
#define DIHYA_ABI_TAG \
  "dihya-abi " DIHYA_ABI_STR(DIHYA_ABI_MAJOR) "." DIHYA_ABI_STR(DIHYA_ABI_MINOR) " " DIHYA_ABI_STDLIB

namespace dihya {

inline constexpr int kAbiMajor = DIHYA_ABI_MAJOR;
inline constexpr int kAbiMinor = DIHYA_ABI_MINOR;
inline constexpr const char* kAbiTag = DIHYA_ABI_TAG;

}  // namespace dihya
