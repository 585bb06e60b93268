// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/progress_bar.hpp"

#include <cstdio>

#include <fmt/format.h>

namespace dihya::host {

void ProgressBar::update(std::uint64_t done, std::uint64_t total, const std::string& what) {
  if (!enabled_) return;
  // Redrawing more than ~20 times a second costs more than it tells.
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(50) && done != total) return;
  last_draw_ = now;
  std::string line;
  if (total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int filled = static_cast<int>(fraction * 30);
    line = fmt::format("\r[{}{}] {:3.0f}% {} {}/{}", std::string(static_cast<std::size_t>(filled), '#'),
                       std::string(static_cast<std::size_t>(30 - filled), ' '), fraction * 100, what, done, total);
  } else {
    line = fmt::format("\r{}: {}", what, done);
  }
  std::fputs(line.c_str(), stderr);
  std::fputs("\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace dihya::host
