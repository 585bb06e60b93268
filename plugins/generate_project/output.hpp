// SPDX-License-Identifier: AGPL-3.0-or-later
// Writing a rendered project into its target directory, and undoing it.
// The target must be new or empty (or `force`); every directory and file is
// journaled before it is created (path + SHA-256 of what will be written; a
// file that is replaced keeps its previous content in the journal), files are
// written to a temporary name then renamed, and no path ever goes through a
// symbolic link (openat with O_NOFOLLOW, component by component). Rollback
// removes only what this run created and nobody changed since; edited files
// are kept and reported.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <dihya/context.hpp>
#include <dihya/journal.hpp>
#include <dihya/result.hpp>
#include <dihya/template_format.hpp>
#include <nlohmann/json.hpp>

#include "render.hpp"

namespace generate_project {

using dihya::templates::sha256_hex;

inline constexpr std::size_t kMaxReplacedBytes = 4u << 20;

struct TargetState {
  bool exists = false;
  std::vector<std::string> replaced;  // rendered paths that exist already (force)
};

// `out` absolute, lexically normal and without a trailing slash ("/" stays):
// lstat of "link/" follows the link, so a slash would get past the refusals.
std::filesystem::path normal_out(const std::filesystem::path& out);

// Checks that `out` can receive `files`: not a symlink, new or empty unless
// `force`, no symlink or type clash on any rendered path. Throws dihya::Error.
TargetState inspect_target(const std::filesystem::path& out, const std::vector<RenderedFile>& files, bool force);

// Writes the files (journaling first). Returns the list of written files.
nlohmann::json write_project(const std::filesystem::path& out, const std::vector<RenderedFile>& files, bool force,
                             dihya::Context& ctx);

// Undoes a run from its journal entries, newest first. Idempotent. Each kept
// (edited) file is logged as a warning, named in the summary and listed in
// the report.
dihya::Result rollback_project(const std::vector<dihya::UndoEntry>& newest_first, dihya::Logger& log);

}  // namespace generate_project
