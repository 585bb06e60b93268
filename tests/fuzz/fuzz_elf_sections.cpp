// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the ELF section reader (loading/elf_sections.hpp).
// A plugin file is input: `dihya-host check <file>` and `list` over a plugin
// directory read whatever lies there, before anything is loaded. Whatever the
// file holds, the reader must answer or throw its load error (a HostError),
// never crash, hang, allocate beyond the file's size or trip a sanitizer.
//
// The input is the file. It is opened and its sections read as
// loading/plugin_file.cpp reads them (the ABI tag and the metadata, with the
// host's limits). Checked (__builtin_trap() when broken):
//  - nothing but HostError is thrown;
//  - open() accepts only a 64-bit little-endian ELF shared object;
//  - read() returns at most max_size bytes, and only for a name has() knows;
//  - the bytes read() returns are those of a section of that name in the
//    file (found again here from the input, with its own bounds checks).
#include <sys/mman.h>
#include <unistd.h>

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "errors.hpp"
#include "loading/elf_sections.hpp"
#include "util/unique_fd.hpp"

#include "fuzz_support.hpp"

namespace elf_sections_fuzz {

using dihya::host::ElfSections;
using dihya::host::HostError;

// The sections the host reads and their limits (loading/plugin_file.cpp).
struct Wanted {
  const char* name;
  std::size_t max_size;
};
constexpr Wanted kWanted[] = {{".dihya_abi", 256}, {".dihya_meta", 1 << 20}};
// Names only asked about: present in every real plugin, or never valid.
constexpr const char* kAsked[] = {".shstrtab", ".text", ".bss", "", ".dihya_meta.x"};

[[noreturn]] void fail(const char* what) { dihya::fuzz::fail("fuzz_elf_sections", what); }

// Runs `fn`; a HostError is an allowed answer (false), anything else a bug.
template <typename F>
bool host_call(const char* name, F&& fn) {
  return dihya::fuzz::call<HostError>("fuzz_elf_sections", name, true, std::forward<F>(fn));
}

// One in-memory file for the whole run, rewritten for each input.
int input_file() {
  static const int fd = [] {
    const int made = ::memfd_create("fuzz_elf_sections", MFD_CLOEXEC);
    if (made < 0) {
      std::perror("fuzz_elf_sections: memfd_create");
      std::abort();
    }
    return made;
  }();
  return fd;
}

void write_input(std::string_view bytes) {
  const int fd = input_file();
  if (::ftruncate(fd, 0) != 0 || !dihya::host::write_exact(fd, bytes.data(), bytes.size(), 0)) {
    std::perror("fuzz_elf_sections: writing the input");
    std::abort();
  }
}

template <typename T>
std::optional<T> struct_at(std::string_view bytes, std::uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Whether some section header of `file` names `name` and covers exactly `got`.
bool some_section_holds(std::string_view file, const std::string& name, const std::string& got) {
  const auto header = struct_at<Elf64_Ehdr>(file, 0);
  if (!header) return false;
  const auto header_at = [&](std::uint64_t i) { return struct_at<Elf64_Shdr>(file, header->e_shoff + i * sizeof(Elf64_Shdr)); };
  if (header->e_shoff > file.size()) return false;
  const auto names = header_at(header->e_shstrndx);
  if (!names || names->sh_offset > file.size()) return false;
  const std::string_view strtab = file.substr(names->sh_offset, names->sh_size);
  for (std::uint64_t i = 0; i < header->e_shnum; ++i) {
    const auto s = header_at(i);
    if (!s || s->sh_name >= strtab.size() || s->sh_type == SHT_NOBITS) continue;
    const std::string_view rest = strtab.substr(s->sh_name);
    if (rest.substr(0, rest.find('\0')) != name || s->sh_size != got.size() || s->sh_offset > file.size()) continue;
    if (file.substr(s->sh_offset, s->sh_size) == got) return true;
  }
  return false;
}

void check_is_elf64_so(std::string_view file) {
  const auto header = struct_at<Elf64_Ehdr>(file, 0);
  if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
      header->e_ident[EI_DATA] != ELFDATA2LSB || header->e_type != ET_DYN) {
    fail("open() accepted what is not a 64-bit little-endian ELF shared object");
  }
}

void check_read(std::string_view file, const ElfSections& elf, const std::string& name, std::size_t max_size) {
  std::string got;
  const bool read = host_call("ElfSections::read", [&] { got = elf.read(name, max_size); });
  if (!read) return;
  if (!elf.has(name)) fail("read() returned a section has() does not know");
  if (got.size() > max_size) fail("read() returned more than max_size bytes");
  if (!some_section_holds(file, name, got)) fail("read() returned bytes no section of that name holds");
}

void run_one(std::string_view file) {
  write_input(file);
  std::optional<ElfSections> elf;
  host_call("ElfSections::open", [&] { elf.emplace(ElfSections::open(input_file())); });
  if (!elf) return;
  check_is_elf64_so(file);
  for (const Wanted& w : kWanted) {
    check_read(file, *elf, w.name, w.max_size);
    check_read(file, *elf, w.name, 16);  // a limit below the section's size must refuse, not cut
  }
  for (const char* name : kAsked) {
    if (!elf->has(name)) continue;
    check_read(file, *elf, name, 4096);
  }
}

}  // namespace elf_sections_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  elf_sections_fuzz::run_one(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
