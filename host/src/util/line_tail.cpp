// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/line_tail.hpp"

#include <algorithm>
#include <string>

#include "util/unique_fd.hpp"

namespace dihya::host {

bool for_each_line_backward(int fd, std::uint64_t size, std::uint64_t window, std::size_t max_line,
                            const std::function<bool(std::string_view line, std::uint64_t after)>& fn) {
  const std::uint64_t floor = size > window ? size - window : 0;
  std::string pending;  // the end of a line whose start is in an earlier chunk
  std::uint64_t end = size;
  bool torn = true;     // the piece after the last '\n' is no line
  std::size_t chunk_size = 4096;
  while (end > floor) {
    const std::uint64_t from = end - std::min<std::uint64_t>(chunk_size, end - floor);
    chunk_size = std::min<std::size_t>(2 * chunk_size, 1 << 20);
    // buf holds the bytes [from, end + pending.size()) of the file.
    std::string buf(static_cast<std::size_t>(end - from), '\0');
    if (!read_exact(fd, buf.data(), buf.size(), from)) return false;
    buf += pending;
    std::size_t stop = buf.size();
    for (;;) {
      const std::size_t nl = stop == 0 ? std::string::npos : buf.rfind('\n', stop - 1);
      // What comes before the chunk's first '\n' waits for the next chunk
      // (or, at the window's edge, starts before it: no whole line).
      if (nl == std::string::npos && from > 0) break;
      const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
      if (torn) {
        torn = false;
      } else if (!fn(std::string_view(buf.data() + begin, stop - begin), from + stop + 1)) {
        return true;
      }
      if (nl == std::string::npos) break;
      stop = nl;
    }
    pending = buf.substr(0, stop);
    if (pending.size() > max_line) pending.clear();
    end = from;
  }
  return true;
}

}  // namespace dihya::host
