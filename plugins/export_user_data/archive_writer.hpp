// SPDX-License-Identifier: AGPL-3.0-or-later
// Writes the export archive so that the target path holds either nothing or a
// complete archive: entries go to a temp file (mode 0600) beside the target,
// which is fsynced and renamed to it only by commit(), never over a file that
// appeared at the target in the meantime; destroying an
// uncommitted writer removes the temp file. Entries are added from files of
// known size because a tar entry with a wrong size is silently truncated.
#pragma once

#include <filesystem>
#include <string>

#include <dihya/file_io.hpp>

struct archive;

namespace export_user_data {

enum class ArchiveFormat { zip, tar_zst };

class ArchiveWriter {
 public:
  // Throws dihya::Error when the temp file cannot be created.
  ArchiveWriter(const std::filesystem::path& target, ArchiveFormat format);
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  // Adds the content of `file` as `name`. Throws dihya::Error.
  void add_file(const std::string& name, const std::filesystem::path& file);
  // Finishes the archive, fsyncs it and renames it to the target. Throws
  // dihya::Error, also when the target exists by then (left untouched).
  void commit();

 private:
  void fail(const std::string& what);

  std::filesystem::path target_;
  std::filesystem::path temp_;
  dihya::UniqueFd fd_;
  archive* archive_ = nullptr;
  bool committed_ = false;
};

bool zstd_supported();

}  // namespace export_user_data
