// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugin's log. Lines go to the run's log file and, at info and above, to
// the operator's terminal; the host redacts any secret value they contain.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace dihya {

enum class LogLevel { debug, info, warn, error };

class Logger {
 public:
  virtual ~Logger() = default;

  // Writes one line. Thread-safe.
  virtual void write(LogLevel level, std::string_view message) = 0;

  template <typename... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) {
    write(LogLevel::debug, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) {
    write(LogLevel::info, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> format, Args&&... args) {
    write(LogLevel::warn, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) {
    write(LogLevel::error, fmt::format(format, std::forward<Args>(args)...));
  }
};

}  // namespace dihya
