// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/elf_sections.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "errors.hpp"

namespace dihya::host {
namespace {

bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

}  // namespace

ElfSections ElfSections::open(int file_fd) {
  UniqueFd fd(::fcntl(file_fd, F_DUPFD_CLOEXEC, 3));
  if (!fd) {
    throw load_error(std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw load_error("not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  Elf64_Ehdr header{};
  if (!read_exact(fd.get(), &header, sizeof header, 0) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    throw load_error("not an ELF file");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB) {
    throw load_error("not a 64-bit little-endian ELF file");
  }
  if (header.e_type != ET_DYN) {
    throw load_error("not a shared library");
  }
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
      header.e_shstrndx >= header.e_shnum ||
      !fits(header.e_shoff, std::uint64_t{header.e_shnum} * sizeof(Elf64_Shdr), file_size)) {
    throw load_error("damaged ELF section table");
  }

  std::vector<Elf64_Shdr> table(header.e_shnum);
  if (!read_exact(fd.get(), table.data(), table.size() * sizeof(Elf64_Shdr), header.e_shoff)) {
    throw load_error("damaged ELF section table");
  }
  const Elf64_Shdr& names = table[header.e_shstrndx];
  if (names.sh_size > (1u << 20) || !fits(names.sh_offset, names.sh_size, file_size)) {
    throw load_error("damaged ELF section names");
  }
  std::string strtab(names.sh_size, '\0');
  if (!read_exact(fd.get(), strtab.data(), strtab.size(), names.sh_offset)) {
    throw load_error("damaged ELF section names");
  }

  ElfSections result;
  for (const Elf64_Shdr& s : table) {
    if (s.sh_name >= strtab.size() || s.sh_type == SHT_NOBITS) continue;
    std::string name(strtab.c_str() + s.sh_name);
    if (fits(s.sh_offset, s.sh_size, file_size)) result.sections_[name] = {s.sh_offset, s.sh_size};
  }
  result.fd_ = std::move(fd);
  return result;
}

std::string ElfSections::read(const std::string& name, std::size_t max_size) const {
  auto it = sections_.find(name);
  if (it == sections_.end()) {
    throw load_error("no " + name + " section");
  }
  if (it->second.size > max_size) {
    throw load_error("section " + name + " is larger than " + std::to_string(max_size) + " bytes");
  }
  std::string bytes(it->second.size, '\0');
  if (!read_exact(fd_.get(), bytes.data(), bytes.size(), it->second.offset)) {
    throw load_error("cannot read section " + name);
  }
  return bytes;
}

}  // namespace dihya::host
