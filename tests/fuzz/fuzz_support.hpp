// SPDX-License-Identifier: AGPL-3.0-or-later
// Shared by the libFuzzer targets of tests/fuzz: how a broken invariant ends
// the run (a message, then __builtin_trap(), which libFuzzer reports as a
// crash with the input saved), and the check that a call under test throws
// nothing but the one error type it may answer with.
#pragma once

#include <cstdio>
#include <exception>
#include <typeinfo>

namespace dihya::fuzz {

[[noreturn]] inline void fail(const char* target, const char* what) {
  std::fprintf(stderr, "%s: invariant broken: %s\n", target, what);
  std::fflush(stderr);
  __builtin_trap();
}

// Runs `fn`: true when it returned, false when it threw `Allowed` and
// `may_refuse`; any other exception (or `Allowed` when !may_refuse) is a bug.
template <typename Allowed, typename F>
bool call(const char* target, const char* name, bool may_refuse, F&& fn) {
  try {
    fn();
    return true;
  } catch (const Allowed& e) {
    if (may_refuse) return false;
    std::fprintf(stderr, "%s: %s threw %s: %s\n", target, name, typeid(e).name(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s threw %s: %s\n", target, name, typeid(e).name(), e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: %s threw a non-std exception\n", target, name);
  }
  fail(target, "an unexpected exception escaped");
}

}  // namespace dihya::fuzz
