// SPDX-License-Identifier: AGPL-3.0-or-later
// The migrations folder as data: which files are versioned migrations, data
// migrations and repeatables, in which order, with the statements and SHA-256
// of each. The folder may be laid out for another tool (golang-migrate,
// Flyway, diesel, dbmate, goose) and is read as it is. Loading is pure (no
// database): a folder that does not parse is refused as a whole, in one line
// naming the file, before anything runs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dihya/sha256.hpp>

#include "sql_script.hpp"

namespace migrate_data {

// A migration version: numeric parts separated by '.' or '_' ("1", "1.1",
// "2_3", "20261125093000"). Parts are compared as numbers of any length;
// trailing zero parts do not count, so 1 and 1.0 are the same version.
// The all-zero version is the base ("before the first migration"), except in
// layouts where a migration may be numbered zero (diesel's 00000000000000):
// such a version sorts above the base and below every other one.
class Version {
 public:
  static std::optional<Version> parse(std::string_view text);
  // A version of a real migration (a file, a history row): all zeros is
  // numbered zero, not the base.
  static std::optional<Version> parse_applied(std::string_view text);
  // The canonical form stored in the history table: parts joined by '.'
  // ("0" for the base; the digits as written for a migration numbered zero).
  const std::string& text() const { return text_; }
  bool is_zero() const { return parts_.empty() && !numbered_zero_; }
  bool is_numbered_zero() const { return numbered_zero_; }
  friend int compare(const Version& a, const Version& b);
  friend bool operator<(const Version& a, const Version& b) { return compare(a, b) < 0; }
  friend bool operator==(const Version& a, const Version& b) { return compare(a, b) == 0; }

 private:
  std::vector<std::string> parts_;  // digit strings without leading zeros
  std::string text_;
  bool numbered_zero_ = false;
};

enum class Kind { sql, data, repeatable };
const char* kind_name(Kind kind);

// Whose file layout the folder follows.
enum class Layout { dihya, golang_migrate, flyway, diesel, dbmate, goose };
const char* layout_name(Layout layout);  // "dihya", "golang-migrate", ...
std::optional<Layout> parse_layout(std::string_view name);
// How a script of `layout` says "run me outside a transaction", for messages.
std::string no_transaction_marker(Layout layout);

// One script as it will run: a whole file, or a section of one (dbmate, goose).
struct Script {
  std::filesystem::path path;
  std::string file;             // as the history names it: "V1__x.up.sql", "2024-01-02-030405_x/up.sql"
  std::string text;             // the script (the section for dbmate and goose)
  std::size_t first_line = 1;   // line of the file where `text` starts
  std::string checksum;         // SHA-256 of the whole file's bytes, hex
  bool no_transaction = false;  // the layout's marker says so (or the tool would)
  std::vector<Statement> statements;
};

struct Migration {
  Kind kind = Kind::sql;
  std::optional<Version> version;  // absent for repeatables
  std::string name;
  Script up;  // the up script (V..up.sql, V..data.json, R__..sql, N_x.up.sql, <dir>/up.sql, a section...)
  std::optional<Script> down;
  std::string down_hint;  // where its down would be, for "has no down" messages
  // "V1.1__name" or "R__name": how the operator sees it.
  std::string label() const;
};

struct MigrationSet {
  Layout layout = Layout::dihya;
  std::vector<Migration> versioned;   // ascending version
  std::vector<Migration> repeatable;  // by name
  const Migration* find(const Version& version) const;
  const Migration* find_repeatable(const std::string& name) const;
};

// Reads every migration of `dir`, in `layout` or, when absent, in the layout
// its file names (and for dbmate and goose, their markers) say. Hidden files
// and *.md are ignored. A folder mixing layouts, a name that fits no
// migration, a symbolic link, invalid UTF-8, a duplicate version, a down
// without its up, a statement that cannot run in the transaction the script
// runs in: dihya::Error naming the file (and line).
MigrationSet load_migrations(const std::filesystem::path& dir, std::optional<Layout> layout = std::nullopt);

using dihya::sha256_hex;

// True when the script's first line is `-- dihya:no-transaction`.
bool is_no_transaction(std::string_view text);

}  // namespace migrate_data
