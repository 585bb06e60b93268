// SPDX-License-Identifier: AGPL-3.0-or-later
// The stored templates (dihya.templates, dihya.template_versions): what an
// import would change, applying that change, undoing it from the journal, and
// reading templates for list and export. Values are always bound; the only
// identifiers are our own fixed table names.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "template_files.hpp"

namespace import_templates {

enum class Change { added, changed, unchanged };
const char* change_name(Change change);

// What importing one template does. `undo` is the journal record for it.
struct PlannedImport {
  const SourceTemplate* source = nullptr;
  Change change = Change::added;
  std::optional<long long> template_id;  // none: a new template
  std::optional<int> previous_version;   // the current revision before
  int new_version = 0;                   // the current revision after
  bool new_revision = false;             // false: an identical older revision becomes current again
  nlohmann::json previous_content;       // changed: the current document (for the diff); else null
  nlohmann::json previous_row;           // stack, description, tags, updated_at; null for a new template
};

// True when dihya.templates exists.
bool catalog_exists(pqxx::transaction_base& tx);

// Compares each source with the stored current revision. With `lock`, takes
// the import lock and locks the existing rows (the caller's transaction
// then writes exactly this plan).
std::vector<PlannedImport> plan_import(pqxx::transaction_base& tx, const std::vector<SourceTemplate>& sources, bool lock);

// The journal data of one planned import (never the content).
nlohmann::json undo_record(const PlannedImport& item, const std::string& run_id);

// Writes planned imports (not `unchanged` ones), a batch at a time.
void apply_imports(pqxx::transaction_base& tx, const std::vector<const PlannedImport*>& items, const std::string& run_id);

// Undoes one journalled import, if still possible. Returns what was done:
// "restored", "removed", "already undone", or "kept: <why>".
std::string undo_import(pqxx::transaction_base& tx, const nlohmann::json& record);

// Drops the tables when they are empty (the run that created them is undone).
std::string drop_catalog_if_empty(pqxx::transaction_base& tx);

// Current templates, optionally one name or one tag, sorted by name.
struct StoredTemplate {
  std::string name, stack, description, declared_version, checksum, updated_at;
  nlohmann::json tags;
  std::optional<int> current_version;
  int revisions = 0;
  nlohmann::json content;  // null unless asked for
};
std::vector<StoredTemplate> stored_templates(pqxx::transaction_base& tx, const std::string& name,
                                             const std::string& tag, bool with_content);

}  // namespace import_templates
