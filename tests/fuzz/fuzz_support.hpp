// SPDX-License-Identifier: AGPL-3.0-or-later
// Shared by the libFuzzer targets of tests/fuzz: how a broken invariant ends
// the run (a message, then __builtin_trap(), which libFuzzer reports as a
// crash with the input saved), the check that a call under test throws
// nothing but the one error type it may answer with, and the files the
// targets write their inputs to and read back.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
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

// The bytes of `file`; nothing when it cannot be opened.
inline std::optional<std::string> read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces `file` with `bytes`. A write that fails is the harness's own
// failure, not a finding: the run stops with exit 1 (no crash reported).
inline void write_bytes(const char* target, const std::filesystem::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) {
    std::fprintf(stderr, "%s: cannot write %s\n", target, file.c_str());
    std::exit(1);
  }
}

}  // namespace dihya::fuzz
