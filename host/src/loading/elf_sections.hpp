// SPDX-License-Identifier: AGPL-3.0-or-later
// Reads named sections of an ELF64 shared object straight from the file with
// pread, so the host learns a plugin's metadata and ABI tag without loading
// (and so without running) any of its code. Every offset read from the file is
// bounds-checked: a truncated or hostile file is an error, never a crash.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/unique_fd.hpp"

namespace dihya::host {

class ElfSections {
 public:
  // Reads the section table of the file open on `fd` (borrowed: the sections
  // are read through a duplicate, with pread, so the caller's offset is
  // untouched). Returns nullopt with `*error` set ("not an ELF file", "not a
  // 64-bit little-endian ELF", ...) on failure.
  static std::optional<ElfSections> open(int fd, std::string* error);

  // The bytes of the section named `name` (at most `max_size` bytes, else an
  // error), or nullopt with `*error` set when it is absent or unreadable.
  std::optional<std::string> read(const std::string& name, std::size_t max_size,
                                  std::string* error) const;

  bool has(const std::string& name) const { return sections_.count(name) != 0; }

 private:
  struct Section {
    std::uint64_t offset;
    std::uint64_t size;
  };
  UniqueFd fd_;
  std::map<std::string, Section> sections_;
};

}  // namespace dihya::host
