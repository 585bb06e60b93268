// SPDX-License-Identifier: AGPL-3.0-or-later
#include "migration_files.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <dihya/error.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace migrate_data {
namespace {

namespace fs = std::filesystem;

// A migration larger than this is a mistake (a dump, not a migration); reading
// it whole into memory would be too.
constexpr std::uintmax_t kMaxFileBytes = 64ull * 1024 * 1024;

const char* const kExpected =
    "expected V<version>__<name>.up.sql, V<version>__<name>.down.sql, V<version>__<name>.data.json, "
    "R__<name>.sql or R__<name>.down.sql (version: digits separated by '.' or '_'; name: letters, digits, '_', '-')";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string read_file(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw dihya::Error("cannot read " + path.string() + ": " + ec.message());
  if (size > kMaxFileBytes) {
    throw dihya::Error("" + path.string() + " is larger than 64 MiB; a migration should be small");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw dihya::Error("cannot open " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The first word of a statement, lower-cased, after blanks and comments.
std::string first_word(const std::string& statement) {
  std::size_t i = 0;
  for (;;) {
    while (i < statement.size() && std::isspace(static_cast<unsigned char>(statement[i]))) ++i;
    if (statement.compare(i, 2, "--") == 0) {
      i = statement.find('\n', i);
      if (i == std::string::npos) return {};
    } else if (statement.compare(i, 2, "/*") == 0) {
      i = statement.find("*/", i);
      if (i == std::string::npos) return {};
      i += 2;
    } else {
      break;
    }
  }
  std::string word;
  while (i < statement.size() && std::isalpha(static_cast<unsigned char>(statement[i]))) {
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(statement[i++])));
  }
  if (word == "rollback" || word == "start") {
    // ROLLBACK TO SAVEPOINT stays inside the transaction; START needs TRANSACTION.
    const std::string rest = first_word(statement.substr(i));
    if ((word == "rollback" && rest == "to") || (word == "start" && rest != "transaction")) return word + " " + rest;
  }
  return word;
}

// A transactional script runs inside the transaction that also records its
// history row: its own BEGIN/COMMIT would break that atomicity.
void refuse_transaction_control(const Script& s) {
  const auto statements = split_statements(s.text);
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const std::string word = first_word(statements[i]);
    if (word == "begin" || word == "commit" || word == "rollback" || word == "abort" || word == "start") {
      throw dihya::Error(s.path.string() + ": statement " + std::to_string(i + 1) + " is " + word +
                         ": the plugin runs each migration in its own transaction; remove transaction control, or "
                         "make the first line `-- dihya:no-transaction`");
    }
  }
}

Script load_script(const fs::path& path) {
  Script s;
  s.path = path;
  s.text = read_file(path);
  s.checksum = sha256_hex(s.text);
  s.no_transaction = is_no_transaction(s.text);
  if (!s.no_transaction && path.extension() == ".sql") refuse_transaction_control(s);
  return s;
}

// What one file name says.
struct FileName {
  Kind kind = Kind::sql;
  bool down = false;
  std::optional<Version> version;
  std::string name;
};

std::optional<FileName> parse_file_name(const std::string& file) {
  static const std::regex versioned(
      R"(V([0-9]+(?:[._][0-9]+)*)__([A-Za-z0-9][A-Za-z0-9_-]*)\.(up\.sql|down\.sql|data\.json))");
  static const std::regex repeatable(R"(R__([A-Za-z0-9][A-Za-z0-9_-]*)\.(down\.sql|sql))");
  std::smatch m;
  FileName f;
  if (std::regex_match(file, m, versioned)) {
    f.version = Version::parse(m[1].str());
    if (!f.version) return std::nullopt;
    f.name = m[2].str();
    const std::string suffix = m[3].str();
    f.down = suffix == "down.sql";
    f.kind = suffix == "data.json" ? Kind::data : Kind::sql;
    return f;
  }
  if (std::regex_match(file, m, repeatable)) {
    f.kind = Kind::repeatable;
    f.name = m[1].str();
    f.down = m[2].str() == "down.sql";
    return f;
  }
  return std::nullopt;
}

bool ignored(const std::string& file) {
  return file.empty() || file[0] == '.' || (file.size() > 3 && file.compare(file.size() - 3, 3, ".md") == 0);
}

}  // namespace

std::optional<Version> Version::parse(std::string_view text) {
  Version v;
  std::string part;
  auto flush = [&]() -> bool {
    if (part.empty()) return false;
    const auto first = part.find_first_not_of('0');
    v.parts_.push_back(first == std::string::npos ? "0" : part.substr(first));
    part.clear();
    return true;
  };
  for (char c : text) {
    if (is_digit(c)) {
      part += c;
    } else if (c == '.' || c == '_') {
      if (!flush()) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (!flush()) return std::nullopt;
  while (!v.parts_.empty() && v.parts_.back() == "0") v.parts_.pop_back();
  for (const auto& p : v.parts_) v.text_ += (v.text_.empty() ? "" : ".") + p;
  if (v.text_.empty()) v.text_ = "0";
  return v;
}

int compare(const Version& a, const Version& b) {
  const std::size_t n = std::max(a.parts_.size(), b.parts_.size());
  static const std::string zero = "0";
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& x = i < a.parts_.size() ? a.parts_[i] : zero;
    const std::string& y = i < b.parts_.size() ? b.parts_[i] : zero;
    // Without leading zeros, a longer digit string is a larger number.
    if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::sql:
      return "sql";
    case Kind::data:
      return "data";
    case Kind::repeatable:
      return "repeatable";
  }
  return "sql";
}

std::string Migration::label() const { return version ? "V" + version->text() + "__" + name : "R__" + name; }

const Migration* MigrationSet::find(const Version& version) const {
  for (const auto& m : versioned) {
    if (*m.version == version) return &m;
  }
  return nullptr;
}

const Migration* MigrationSet::find_repeatable(const std::string& name) const {
  for (const auto& m : repeatable) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

MigrationSet load_migrations(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw dihya::Error("migrations_dir " + dir.string() + " is not a directory");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) files.push_back(it->path());
  if (ec) throw dihya::Error("cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());

  // Ups keyed by canonical version (or repeatable name); downs matched after.
  std::map<std::string, Migration> ups;
  std::vector<std::pair<FileName, fs::path>> downs;
  for (const auto& path : files) {
    const std::string file = path.filename().string();
    if (ignored(file)) continue;
    if (!fs::is_regular_file(path, ec)) {
      throw dihya::Error("" + path.string() + " is not a regular file; a migrations folder holds only migration files");
    }
    const auto parsed = parse_file_name(file);
    if (!parsed) throw dihya::Error("bad migration file name " + path.string() + ": " + kExpected);
    if (parsed->version && parsed->version->is_zero()) {
      throw dihya::Error("" + path.string() + ": version 0 is reserved for \"before the first migration\"");
    }
    if (parsed->down) {
      downs.emplace_back(*parsed, path);
      continue;
    }
    const std::string key = parsed->version ? "V" + parsed->version->text() : "R__" + parsed->name;
    if (auto it = ups.find(key); it != ups.end()) {
      throw dihya::Error("duplicate " +
                         (parsed->version ? "version " + parsed->version->text() : "repeatable " + parsed->name) +
                         ": " + it->second.up.path.string() + " and " + path.string());
    }
    Migration m;
    m.kind = parsed->kind;
    m.version = parsed->version;
    m.name = parsed->name;
    m.up = load_script(path);
    ups.emplace(key, std::move(m));
  }
  for (const auto& [parsed, path] : downs) {
    const std::string key = parsed.version ? "V" + parsed.version->text() : "R__" + parsed.name;
    auto it = ups.find(key);
    if (it == ups.end() || it->second.name != parsed.name) {
      throw dihya::Error("" + path.string() + " has no matching up migration (" +
                         (parsed.version ? "V" + parsed.version->text() + "__" + parsed.name + ".up.sql or .data.json"
                                         : "R__" + parsed.name + ".sql") +
                         ")");
    }
    if (it->second.down) {
      throw dihya::Error("duplicate down migration: " + it->second.down->path.string() + " and " + path.string());
    }
    it->second.down = load_script(path);
  }
  MigrationSet set;
  for (auto& [key, m] : ups) (m.version ? set.versioned : set.repeatable).push_back(std::move(m));
  std::sort(set.versioned.begin(), set.versioned.end(),
            [](const Migration& a, const Migration& b) { return *a.version < *b.version; });
  return set;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw dihya::Error("OpenSSL could not compute a SHA-256");
  }
  static const char* const hex = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

bool is_no_transaction(std::string_view text) {
  const auto eol = text.find('\n');
  std::string_view first = text.substr(0, eol);
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ' || first.back() == '\t'))
    first.remove_suffix(1);
  return first == "-- dihya:no-transaction";
}

std::vector<std::string> split_statements(std::string_view sql) {
  std::vector<std::string> out;
  std::string current;
  bool meaningful = false;  // the current piece holds more than blanks and comments
  auto push = [&] {
    if (meaningful) {
      const auto b = current.find_first_not_of(" \t\r\n");
      const auto e = current.find_last_not_of(" \t\r\n");
      out.push_back(current.substr(b, e - b + 1));
    }
    current.clear();
    meaningful = false;
  };
  const std::size_t n = sql.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = sql[i];
    const char next = i + 1 < n ? sql[i + 1] : '\0';
    std::size_t end = i + 1;  // one past the token starting at i
    bool is_code = !std::isspace(static_cast<unsigned char>(c));
    if (c == '-' && next == '-') {
      end = sql.find('\n', i);
      end = end == std::string_view::npos ? n : end;
      is_code = false;
    } else if (c == '/' && next == '*') {
      int depth = 0;
      end = i;
      while (end < n) {
        if (sql.compare(end, 2, "/*") == 0) {
          ++depth;
          end += 2;
          continue;
        }
        if (sql.compare(end, 2, "*/") == 0) {
          end += 2;
          if (--depth == 0) break;
          continue;
        }
        ++end;
      }
      is_code = false;
    } else if (c == '\'' || c == '"') {
      // E'...' strings take backslash escapes; '' (or "") is an escaped quote.
      const bool escapes =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !is_ident_char(sql[i - 2]));
      end = i + 1;
      while (end < n) {
        if (escapes && sql[end] == '\\') {
          end += 2;
          continue;
        }
        if (sql[end] == c) {
          if (end + 1 < n && sql[end + 1] == c) {
            end += 2;
            continue;
          }
          ++end;
          break;
        }
        ++end;
      }
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty; $1 is a parameter, not a tag).
      std::size_t t = i + 1;
      if (t < n && !is_digit(sql[t])) {
        while (t < n && is_ident_char(sql[t])) ++t;
        if (t < n && sql[t] == '$') {
          const std::string tag(sql.substr(i, t - i + 1));
          const auto close = sql.find(tag, t + 1);
          end = close == std::string_view::npos ? n : close + tag.size();
        }
      }
    } else if (c == ';') {
      push();
      i = end;
      continue;
    }
    if (end > n) end = n;
    current.append(sql.substr(i, end - i));
    meaningful = meaningful || is_code;
    i = end;
  }
  push();
  return out;
}

}  // namespace migrate_data
