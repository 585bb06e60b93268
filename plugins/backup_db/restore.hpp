// SPDX-License-Identifier: AGPL-3.0-or-later
// mode=restore: a backup into a database of the same server, reversibly.
// An existing target is first dumped to <backup_dir>/.snapshots/<run-id>/,
// the snapshot journalled, and only then dropped and recreated; a target that
// did not exist is journalled before it is created. Undoing either is
// idempotent: the snapshot is restored over a freshly recreated database, or
// the created database is dropped if it still exists.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <dihya/plugin.hpp>

namespace backup_db {

// The path parameter `key`, normalised; empty when it is not given.
std::filesystem::path param_path(const dihya::Params& params, const char* key);

// Semantic checks of a restore: target name, reachable server, and a
// non-empty target refused without force.
void validate_restore(const dihya::Params& params, dihya::Context& ctx, std::vector<dihya::ValidationError>& errors);

dihya::Result restore(const dihya::Params& params, dihya::Context& ctx);

// Undo entries "restore_snapshot" and "drop_created_database"; each returns
// what it did, for the rollback summary.
std::string undo_restore_snapshot(const nlohmann::json& data, dihya::Context& ctx);
std::string undo_created_database(const nlohmann::json& data, dihya::Context& ctx);

}  // namespace backup_db
