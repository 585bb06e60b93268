// SPDX-License-Identifier: AGPL-3.0-or-later
// The one exception type a plugin throws to report a failure. The host catches
// everything at the plugin boundary; dihya::Error marks a failure the plugin
// understood, so its message is shown to the operator as is.
#pragma once

#include <stdexcept>
#include <string>

namespace dihya {

// Visible across shared objects so the host can catch what a plugin built with
// -fvisibility=hidden throws.
class __attribute__((visibility("default"))) Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dihya
