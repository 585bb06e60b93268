// SPDX-License-Identifier: AGPL-3.0-or-later
// Run ids: "20261125T215053.123Z-3f9a1c", the UTC start time to the millisecond
// and 24 random bits. Sorting ids as strings sorts runs by start time, so
// `history` needs no index. An id from a user is checked with is_valid_run_id()
// before it becomes part of a path: the strict shape leaves no room for '/',
// "..", or anything else a shell or a file system would interpret.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace dihya::host {

// A fresh id for a run starting at `now`. Two runs started in the same
// millisecond differ in the random part (1 chance in 16.7 million to collide;
// RunStore::create then refuses the second). Thread-safe.
std::string new_run_id(std::chrono::system_clock::time_point now);

// True only for the exact shape new_run_id() produces.
bool is_valid_run_id(std::string_view id);

}  // namespace dihya::host
