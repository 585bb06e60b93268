// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/elf_sections.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace dihya::host {
namespace {

bool read_exact(int fd, void* buffer, std::size_t size, std::uint64_t offset) {
  auto* out = static_cast<char*>(buffer);
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

}  // namespace

std::optional<ElfSections> ElfSections::open(int file_fd, std::string* error) {
  UniqueFd fd(::fcntl(file_fd, F_DUPFD_CLOEXEC, 3));
  if (!fd) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "not a regular file";
    return std::nullopt;
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  Elf64_Ehdr header{};
  if (!read_exact(fd.get(), &header, sizeof header, 0) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    *error = "not an ELF file";
    return std::nullopt;
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB) {
    *error = "not a 64-bit little-endian ELF file";
    return std::nullopt;
  }
  if (header.e_type != ET_DYN) {
    *error = "not a shared library";
    return std::nullopt;
  }
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
      header.e_shstrndx >= header.e_shnum ||
      !fits(header.e_shoff, std::uint64_t{header.e_shnum} * sizeof(Elf64_Shdr), file_size)) {
    *error = "damaged ELF section table";
    return std::nullopt;
  }

  std::vector<Elf64_Shdr> table(header.e_shnum);
  if (!read_exact(fd.get(), table.data(), table.size() * sizeof(Elf64_Shdr), header.e_shoff)) {
    *error = "damaged ELF section table";
    return std::nullopt;
  }
  const Elf64_Shdr& names = table[header.e_shstrndx];
  if (names.sh_size > (1u << 20) || !fits(names.sh_offset, names.sh_size, file_size)) {
    *error = "damaged ELF section names";
    return std::nullopt;
  }
  std::string strtab(names.sh_size, '\0');
  if (!read_exact(fd.get(), strtab.data(), strtab.size(), names.sh_offset)) {
    *error = "damaged ELF section names";
    return std::nullopt;
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

std::optional<std::string> ElfSections::read(const std::string& name, std::size_t max_size,
                                             std::string* error) const {
  auto it = sections_.find(name);
  if (it == sections_.end()) {
    *error = "no " + name + " section";
    return std::nullopt;
  }
  if (it->second.size > max_size) {
    *error = "section " + name + " is larger than " + std::to_string(max_size) + " bytes";
    return std::nullopt;
  }
  std::string bytes(it->second.size, '\0');
  if (!read_exact(fd_.get(), bytes.data(), bytes.size(), it->second.offset)) {
    *error = "cannot read section " + name;
    return std::nullopt;
  }
  return bytes;
}

}  // namespace dihya::host
