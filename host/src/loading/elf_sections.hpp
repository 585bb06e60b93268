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
  // untouched). Throws a load error (errors.hpp, exit 3) saying what is wrong
  // ("not an ELF file", "not a 64-bit little-endian ELF", ...), without the
  // file's name: the caller knows it.
  static ElfSections open(int fd);

  // The bytes of the section named `name` (at most `max_size` bytes); throws a
  // load error when it is absent, too large or unreadable.
  std::string read(const std::string& name, std::size_t max_size) const;

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
