// SPDX-License-Identifier: AGPL-3.0-or-later
// Small string tests the host's parsers share (C++17's string_view has no
// starts_with). One definition, so that the files of a directory can be
// compiled as one unit (the unity build) without two functions of one name.
#pragma once

#include <string_view>

namespace dihya::host {

inline bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace dihya::host
