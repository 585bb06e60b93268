// SPDX-License-Identifier: AGPL-3.0-or-later
// The migrations folder as data: which files are versioned migrations, data
// migrations and repeatables, in which order, with the bytes and SHA-256 of
// each. Loading is pure (no database): a folder that does not parse is
// refused as a whole, naming the file, before anything runs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace migrate_data {

// A migration version: numeric parts separated by '.' or '_' ("1", "1.1",
// "2_3", "20261125093000"). Parts are compared as numbers of any length;
// trailing zero parts do not count, so 1 and 1.0 are the same version.
class Version {
 public:
  static std::optional<Version> parse(std::string_view text);
  // The canonical form stored in the history table: parts joined by '.'.
  const std::string& text() const { return text_; }
  bool is_zero() const { return parts_.empty(); }
  friend int compare(const Version& a, const Version& b);
  friend bool operator<(const Version& a, const Version& b) { return compare(a, b) < 0; }
  friend bool operator==(const Version& a, const Version& b) { return compare(a, b) == 0; }

 private:
  std::vector<std::string> parts_;  // digit strings without leading zeros
  std::string text_;
};

enum class Kind { sql, data, repeatable };
const char* kind_name(Kind kind);

// One file's content as it will run.
struct Script {
  std::filesystem::path path;
  std::string text;
  std::string checksum;         // SHA-256 of the file's bytes, hex
  bool no_transaction = false;  // first line is `-- dihya:no-transaction`
};

struct Migration {
  Kind kind = Kind::sql;
  std::optional<Version> version;  // absent for repeatables
  std::string name;
  Script up;  // V..up.sql, V..data.json or R__..sql
  std::optional<Script> down;
  // "V1.1__name" or "R__name": how the operator sees it.
  std::string label() const;
};

struct MigrationSet {
  std::vector<Migration> versioned;   // ascending version
  std::vector<Migration> repeatable;  // by name
  const Migration* find(const Version& version) const;
  const Migration* find_repeatable(const std::string& name) const;
};

// Reads every migration of `dir`. Hidden files and *.md are ignored; any other
// entry that is not a well-named migration file, a duplicate version, or a down
// file without its up throws dihya::Error naming the file.
MigrationSet load_migrations(const std::filesystem::path& dir);

std::string sha256_hex(std::string_view bytes);

// True when the script's first line is `-- dihya:no-transaction`.
bool is_no_transaction(std::string_view text);

// Splits a script into statements on top-level ';', aware of quotes,
// dollar-quoting and comments; comment-only pieces are dropped. Used for
// no-transaction scripts, whose statements must each run on their own.
std::vector<std::string> split_statements(std::string_view sql);

}  // namespace migrate_data
