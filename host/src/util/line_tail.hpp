// SPDX-License-Identifier: AGPL-3.0-or-later
// Walking the lines of an append-only file backwards from its end: what the
// audit log's completion (its last whole entry under a torn tail) and the
// state log's carried audit lines both read, a few KiB in the common case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace dihya::host {

// Calls fn(line, after) for each whole line of the first `size` bytes of
// `fd`, newest first: `line` without its '\n', `after` the offset just past
// that '\n'. The bytes after the last '\n' (a line torn by a crash) are no
// line, nor is one that starts more than `window` bytes before `size`. Reads
// in chunks of 4 KiB doubling up to 1 MiB; a piece longer than `max_line`
// without a '\n' is dropped (damage: the walk goes on before it). Stops when
// fn returns false. False with errno set when a read fails.
bool for_each_line_backward(int fd, std::uint64_t size, std::uint64_t window, std::size_t max_line,
                            const std::function<bool(std::string_view line, std::uint64_t after)>& fn);

}  // namespace dihya::host
