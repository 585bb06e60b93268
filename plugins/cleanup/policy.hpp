// SPDX-License-Identifier: AGPL-3.0-or-later
// The retention policy file: what cleanup deletes or anonymises, validated
// against a JSON Schema (valijson) before anything is read from the database,
// so a bad file is one line naming the problem and nothing runs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <dihya/fk_graph.hpp>
#include <nlohmann/json.hpp>

#include "log_files.hpp"

namespace cleanup {

struct ColumnRule {
  std::string column;
  std::string strategy;  // null, fixed, hash, mask, fake
  nlohmann::json value;  // fixed
  std::string kind;      // fake: email, name, phone, text

  // The fixed value as the text bound for it (PostgreSQL casts it to the column's type).
  std::string fixed_text() const { return value.is_string() ? value.get<std::string>() : value.dump(); }
};

struct TableRule {
  dihya::TableName table;
  std::string timestamp_column;  // retention only
  long long older_than_seconds = 0;
  std::string older_than;
  std::string action = "delete";  // delete or anonymise
  std::vector<ColumnRule> columns;
};

struct Policy {
  std::vector<TableRule> retention;
  std::string erase_default_action = "delete";
  std::map<dihya::TableName, TableRule> erase_rules;
  dihya::FkGraphConfig graph;
  std::vector<LogRule> logs;
  bool uses_salt = false;
};

// Throws dihya::Error "<path>: <what>".
Policy load_policy(const std::string& path);

}  // namespace cleanup
