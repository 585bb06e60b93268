// SPDX-License-Identifier: AGPL-3.0-or-later
// The progress line drawn on stderr while a plugin works, only when stderr is
// a terminal and NO_COLOR is unset. Log lines printed meanwhile clear it first.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dihya::host {

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(std::uint64_t done, std::uint64_t total, const std::string& what);
  // Erases the bar so that other output starts on a clean line.
  void clear();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace dihya::host
