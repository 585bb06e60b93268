// SPDX-License-Identifier: AGPL-3.0-or-later
#include "migration_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <dihya/error.hpp>
#include <dihya/file_io.hpp>
#include <dihya/utf8.hpp>
#include <map>
#include <regex>
#include <set>

namespace migrate_data {
namespace {

namespace fs = std::filesystem;

// A migration larger than this is a mistake (a dump, not a migration); reading
// it whole into memory would be too.
constexpr std::uintmax_t kMaxFileBytes = 64ull * 1024 * 1024;

const char* const kExpectedDihya =
    "expected V<version>__<name>.up.sql, V<version>__<name>.down.sql, V<version>__<name>.data.json, "
    "R__<name>.sql or R__<name>.down.sql (version: digits separated by '.' or '_'; name: letters, digits, '_', '-')";

const char* expected_names(std::optional<Layout> layout) {
  if (!layout) {
    return "expected the migrations of one tool: dihya (V<version>__<name>.up.sql/.down.sql/.data.json, "
           "R__<name>.sql), golang-migrate (<N>_<name>.up.sql/.down.sql), Flyway (V<version>__<name>.sql, "
           "U<version>__<name>.sql, R__<name>.sql), diesel (<version>_<name>/up.sql), dbmate (<N>_<name>.sql with "
           "`-- migrate:up`) or goose (<N>_<name>.sql with `-- +goose Up`)";
  }
  switch (*layout) {
    case Layout::dihya:
      return kExpectedDihya;
    case Layout::golang_migrate:
      return "expected <N>_<name>.up.sql or <N>_<name>.down.sql (layout golang-migrate)";
    case Layout::flyway:
      return "expected V<version>__<name>.sql, U<version>__<name>.sql, R__<name>.sql or <script>.sql.conf "
             "(layout flyway)";
    case Layout::diesel:
      return "expected folders <version>_<name> holding up.sql, down.sql and metadata.toml (layout diesel)";
    case Layout::dbmate:
      return "expected <N>_<name>.sql with a `-- migrate:up` section (layout dbmate)";
    case Layout::goose:
      return "expected <N>_<name>.sql with a `-- +goose Up` section (layout goose)";
  }
  return kExpectedDihya;
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// A name for a one-line message: bytes that are not printable UTF-8 as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  const bool utf8 = dihya::valid_utf8(s);
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)) {
      static const char* const hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string at_line(const fs::path& path, std::size_t line) {
  return printable(path.string()) + ":" + std::to_string(line);
}

std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + std::min(offset, text.size()), '\n'));
}

// Opened without following a link, and checked on the descriptor: a file
// swapped for a link (or a FIFO) after the listing is refused, not read.
std::string read_file(const fs::path& path) {
  const dihya::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    throw dihya::Error("cannot open " + printable(path.string()) + ": " + std::error_code(errno, std::generic_category()).message());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw dihya::Error(printable(path.string()) + " is not a regular file; a migrations folder holds only migration files");
  }
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxFileBytes) {
    throw dihya::Error(printable(path.string()) + " is larger than 64 MiB; a migration should be small");
  }
  std::string bytes;
  if (const std::error_code ec = dihya::read_all(fd.get(), &bytes, kMaxFileBytes)) {
    if (ec.value() == EFBIG) {
      throw dihya::Error(printable(path.string()) + " is larger than 64 MiB; a migration should be small");
    }
    throw dihya::Error("cannot read " + printable(path.string()));
  }
  if (const auto bad = dihya::first_invalid_utf8(bytes); bad != std::string::npos) {
    throw dihya::Error(at_line(path, line_of(bytes, bad)) + ": not valid UTF-8 (byte " + std::to_string(bad) +
                       "); migrations are UTF-8 text");
  }
  // libpq takes the SQL as a C string: whatever follows a NUL would be cut
  // off silently and the migration still recorded as applied.
  if (const auto nul = bytes.find('\0'); nul != std::string::npos) {
    throw dihya::Error(at_line(path, line_of(bytes, nul)) + ": NUL byte (offset " + std::to_string(nul) +
                       "); migrations are text, remove it");
  }
  return bytes;
}

// One entry of the folder: a file, or a diesel migration folder.
struct Entry {
  fs::path path;
  std::string name;
  bool directory = false;
  std::optional<std::string> bytes;  // read once, when the content is needed
  const std::string& content() {
    if (!bytes) bytes = read_file(path);
    return *bytes;
  }
};

bool ignored(const std::string& file) {
  return file.empty() || file[0] == '.' || (file.size() > 3 && file.compare(file.size() - 3, 3, ".md") == 0);
}

// The entries of `dir`, sorted, refusing what a migrations folder must not
// hold: links (which may lead anywhere), devices, names that are not UTF-8.
std::vector<Entry> list_entries(const fs::path& dir) {
  std::error_code ec;
  std::vector<Entry> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    Entry e;
    e.path = it->path();
    e.name = e.path.filename().string();
    if (!dihya::valid_utf8(e.name) || printable(e.name) != e.name) {
      throw dihya::Error("file name " + printable(e.path.string()) +
                         " is not printable UTF-8; rename it (migration names are text)");
    }
    if (ignored(e.name)) continue;
    const auto st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_symlink(st)) {
      throw dihya::Error(printable(e.path.string()) +
                         " is a symbolic link; a migrations folder holds only regular files and folders of its own "
                         "(a link may lead outside it)");
    }
    if (fs::is_directory(st)) {
      e.directory = true;
    } else if (!fs::is_regular_file(st)) {
      throw dihya::Error(printable(e.path.string()) +
                         " is not a regular file; a migrations folder holds only migration files");
    }
    out.push_back(std::move(e));
  }
  if (ec) throw dihya::Error("cannot list " + printable(dir.string()) + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

// File-name patterns (names are short: a regex is fine for them, never for
// file contents, where libstdc++'s recursion could exhaust the stack).
struct NamePatterns {
  std::regex dihya_versioned{R"(V([0-9]+(?:[._][0-9]+)*)__([A-Za-z0-9][A-Za-z0-9_-]*)\.(up\.sql|down\.sql|data\.json))"};
  std::regex dihya_repeatable{R"(R__([A-Za-z0-9][A-Za-z0-9_-]*)\.(down\.sql|sql))"};
  std::regex flyway_versioned{R"(([VU])([0-9]+(?:[._][0-9]+)*)__(.+)\.sql)"};
  std::regex flyway_repeatable{R"(R__(.+)\.sql)"};
  std::regex flyway_conf{R"([VUR].*\.sql\.conf)"};
  std::regex golang_migrate{R"(([0-9]+)_(.+)\.(up|down)\.sql)"};
  std::regex numbered_sql{R"(([0-9]+)_(.+)\.sql)"};
  std::regex diesel_folder{R"(([0-9][0-9-]*)_(.+))"};
};

const NamePatterns& patterns() {
  static const NamePatterns p;
  return p;
}

bool matches(const std::string& name, const std::regex& pattern, std::smatch* m = nullptr) {
  std::smatch local;
  return std::regex_match(name, m ? *m : local, pattern);
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return std::string(s);
}

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// dbmate: a line "--[blanks]migrate:up|down[ options]" -> {direction, options}.
std::optional<std::pair<std::string, std::string>> dbmate_marker(std::string_view line) {
  if (line.substr(0, 2) != "--") return std::nullopt;
  line = skip_blanks(line.substr(2));
  if (line.substr(0, 8) != "migrate:") return std::nullopt;
  line.remove_prefix(8);
  for (const char* dir : {"up", "down"}) {
    const std::string_view d(dir);
    if (line.substr(0, d.size()) == d &&
        (line.size() == d.size() || std::isspace(static_cast<unsigned char>(line[d.size()])))) {
      return std::make_pair(std::string(d), trim(line.substr(d.size())));
    }
  }
  return std::nullopt;
}

// goose: a line "-- +goose <annotation>" -> the annotation.
std::optional<std::string> goose_annotation(std::string_view line) {
  const std::string t = trim(line);
  std::string_view v(t);
  if (v.substr(0, 2) != "--") return std::nullopt;
  v = skip_blanks(v.substr(2));
  if (v.substr(0, 6) != "+goose" || v.size() == 6 || (v[6] != ' ' && v[6] != '\t')) return std::nullopt;
  return trim(v.substr(6));
}

// Calls `each(line_text, begin_offset, next_offset, line_number)` per line.
template <typename F>
void for_each_line(const std::string& text, F each) {
  std::size_t pos = 0, line = 1;
  while (pos < text.size()) {
    const auto eol = text.find('\n', pos);
    const std::size_t next = eol == std::string::npos ? text.size() : eol + 1;
    each(std::string_view(text).substr(pos, next - pos), pos, next, line);
    pos = next;
    ++line;
  }
}

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_dbmate_up(const std::string& text) {
  bool found = false;
  for_each_line(text, [&](std::string_view l, std::size_t, std::size_t, std::size_t) {
    const auto m = dbmate_marker(l);
    found = found || (m && m->first == "up");
  });
  return found;
}

bool has_goose_up(const std::string& text) {
  bool found = false;
  for_each_line(text, [&](std::string_view l, std::size_t, std::size_t, std::size_t) {
    const auto a = goose_annotation(l);
    found = found || (a && lowered(*a) == "up");
  });
  return found;
}

// Which layout an entry's name (and, for <N>_<name>.sql, its markers) says.
// nullopt: fits none; `neutral`: fits dihya and Flyway alike (R__x.sql).
struct Signal {
  std::optional<Layout> layout;
  bool neutral = false;
};

Signal signal_of(Entry& e) {
  const std::string& n = e.name;
  if (e.directory) return matches(n, patterns().diesel_folder) ? Signal{Layout::diesel} : Signal{};
  if (matches(n, patterns().dihya_versioned)) return {Layout::dihya};
  // V1__add.users.up.sql: meant as dihya's, and Flyway's pattern would take
  // it as "add.users.up" (its down file then never used).
  const auto ends_with = [&n](std::string_view suffix) {
    return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (n.compare(0, 1, "V") == 0 && (ends_with(".up.sql") || ends_with(".down.sql") || ends_with(".data.json"))) {
    throw dihya::Error("bad migration file name " + printable(e.path.string()) +
                       ": a dihya migration is V<version>__<name>.up.sql, .down.sql or .data.json, its name made of "
                       "letters, digits, '_' and '-'");
  }
  if (n.size() > 11 && n.compare(0, 3, "R__") == 0 && n.compare(n.size() - 9, 9, ".down.sql") == 0)
    return {Layout::dihya};
  if (matches(n, patterns().flyway_repeatable)) return {std::nullopt, true};
  if (matches(n, patterns().flyway_conf) || matches(n, patterns().flyway_versioned)) return {Layout::flyway};
  if (matches(n, patterns().golang_migrate)) return {Layout::golang_migrate};
  if (matches(n, patterns().numbered_sql)) {
    const std::string& text = e.content();
    if (has_dbmate_up(text)) return {Layout::dbmate};
    if (has_goose_up(text)) return {Layout::goose};
  }
  return {};
}

Layout detect_layout(std::vector<Entry>& entries, const fs::path& dir) {
  std::map<Layout, std::string> seen;  // layout -> first file that says so
  for (auto& e : entries) {
    const Signal s = signal_of(e);
    if (s.layout) seen.emplace(*s.layout, e.name + (e.directory ? "/" : ""));
    if (!s.layout && !s.neutral) {
      throw dihya::Error("bad migration file name " + printable(e.path.string()) + ": " + expected_names(std::nullopt));
    }
  }
  if (seen.size() > 1) {
    std::string which;
    for (const auto& [layout, file] : seen) {
      which += std::string(which.empty() ? "" : " and ") + layout_name(layout) + " (" + file + ")";
    }
    throw dihya::Error("migrations_dir " + printable(dir.string()) + " mixes layouts: " + which +
                       "; keep one tool's files in a folder, or choose one with -p layout=<name>");
  }
  return seen.empty() ? Layout::dihya : seen.begin()->first;
}

// What one entry contributes: an up, a down, or (Flyway) a script setting.
struct Piece {
  bool down = false;
  Kind kind = Kind::sql;
  std::optional<Version> version;
  std::string name;
  Script script;
  std::string down_hint;
};

Script whole_file(Entry& e, const fs::path& path) {
  Script s;
  s.path = path;
  s.file = e.name;
  s.text = path == e.path ? e.content() : read_file(path);
  s.checksum = sha256_hex(s.text);
  return s;
}

std::optional<Version> version_or_throw(const std::string& digits, const Entry& e, bool zero_allowed) {
  auto v = zero_allowed ? Version::parse_applied(digits) : Version::parse(digits);
  if (!v) throw dihya::Error("bad version in " + printable(e.path.string()));
  if (v->is_zero()) {
    throw dihya::Error(printable(e.path.string()) + ": version 0 is reserved for \"before the first migration\"");
  }
  return v;
}

[[noreturn]] void bad_name(const Entry& e, Layout layout) {
  throw dihya::Error("bad migration file name " + printable(e.path.string()) + ": " + expected_names(layout));
}

std::vector<Piece> read_dihya(Entry& e) {
  std::smatch m;
  Piece p;
  if (matches(e.name, patterns().dihya_versioned, &m)) {
    p.version = version_or_throw(m[1].str(), e, false);
    p.name = m[2].str();
    const std::string suffix = m[3].str();
    p.down = suffix == "down.sql";
    p.kind = suffix == "data.json" ? Kind::data : Kind::sql;
    p.down_hint = "V" + m[1].str() + "__" + p.name + ".down.sql";
  } else if (matches(e.name, patterns().dihya_repeatable, &m)) {
    p.kind = Kind::repeatable;
    p.name = m[1].str();
    p.down = m[2].str() == "down.sql";
    p.down_hint = "R__" + p.name + ".down.sql";
  } else {
    bad_name(e, Layout::dihya);
  }
  p.script = whole_file(e, e.path);
  p.script.no_transaction = is_no_transaction(p.script.text);
  return {p};
}

bool first_line_is(std::string_view text, std::string_view marker) {
  std::string_view first = text.substr(0, text.find('\n'));
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
  return first == marker;
}

std::vector<Piece> read_golang_migrate(Entry& e) {
  std::smatch m;
  if (e.directory || !matches(e.name, patterns().golang_migrate, &m)) bad_name(e, Layout::golang_migrate);
  Piece p;
  p.version = version_or_throw(m[1].str(), e, true);
  p.name = m[2].str();
  p.down = m[3].str() == "down";
  p.down_hint = m[1].str() + "_" + p.name + ".down.sql";
  p.script = whole_file(e, e.path);
  // Mattermost's morph marks such scripts with this first line.
  p.script.no_transaction =
      first_line_is(p.script.text, "-- morph:nontransactional") || is_no_transaction(p.script.text);
  return {p};
}

std::vector<Piece> read_flyway(Entry& e) {
  std::smatch m;
  Piece p;
  if (e.directory) bad_name(e, Layout::flyway);
  if (matches(e.name, patterns().flyway_conf)) return {};  // read with its script
  if (matches(e.name, patterns().flyway_versioned, &m)) {
    p.version = version_or_throw(m[2].str(), e, true);
    p.name = m[3].str();
    p.down = m[1].str() == "U";
    p.down_hint = "U" + m[2].str() + "__" + p.name + ".sql";
  } else if (matches(e.name, patterns().flyway_repeatable, &m)) {
    p.kind = Kind::repeatable;
    p.name = m[1].str();
  } else {
    bad_name(e, Layout::flyway);
  }
  p.script = whole_file(e, e.path);
  // Flyway's per-script configuration: only executeInTransaction matters here.
  const fs::path conf = e.path.string() + ".conf";
  std::error_code ec;
  if (fs::exists(fs::symlink_status(conf, ec))) {
    const std::string text = read_file(conf);
    std::size_t pos = 0, line = 1;
    while (pos <= text.size()) {
      const auto eol = std::min(text.find('\n', pos), text.size());
      std::string l = text.substr(pos, eol - pos);
      l.erase(std::remove_if(l.begin(), l.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
              l.end());
      if (l == "executeInTransaction=false") {
        p.script.no_transaction = true;
      } else if (!l.empty() && l[0] != '#' && l != "executeInTransaction=true" && l.rfind("encoding=", 0) != 0) {
        throw dihya::Error(at_line(conf, line) + ": unsupported setting '" + printable(l) +
                           "' (only executeInTransaction and encoding are understood)");
      }
      pos = eol + 1;
      ++line;
    }
  }
  return {p};
}

std::vector<Piece> read_diesel(Entry& e) {
  std::smatch m;
  if (!e.directory || !matches(e.name, patterns().diesel_folder, &m)) bad_name(e, Layout::diesel);
  std::string digits = m[1].str();
  digits.erase(std::remove(digits.begin(), digits.end(), '-'), digits.end());
  const auto version = version_or_throw(digits, e, true);
  bool no_transaction = false;
  std::vector<Piece> out;
  std::optional<Entry> up, down;
  for (auto& inner : list_entries(e.path)) {
    if (inner.directory) bad_name(inner, Layout::diesel);
    if (inner.name == "up.sql") {
      up = std::move(inner);
    } else if (inner.name == "down.sql") {
      down = std::move(inner);
    } else if (inner.name == "metadata.toml") {
      const std::string& text = inner.content();
      std::size_t pos = 0, line = 1;
      while (pos <= text.size()) {
        const auto eol = std::min(text.find('\n', pos), text.size());
        std::string l = text.substr(pos, eol - pos);
        if (const auto hash = l.find('#'); hash != std::string::npos) l.erase(hash);
        l.erase(std::remove_if(l.begin(), l.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
                l.end());
        if (l == "run_in_transaction=false") {
          no_transaction = true;
        } else if (!l.empty() && l != "run_in_transaction=true") {
          throw dihya::Error(at_line(inner.path, line) + ": unsupported setting '" + printable(l) +
                             "' (only run_in_transaction is understood)");
        }
        pos = eol + 1;
        ++line;
      }
    } else {
      throw dihya::Error("bad migration file name " + printable(inner.path.string()) +
                         ": a diesel migration folder holds up.sql, down.sql and metadata.toml");
    }
  }
  for (auto* f : {&up, &down}) {
    if (!*f) continue;
    Piece p;
    p.down = f == &down;
    p.version = version;
    p.name = m[2].str();
    p.down_hint = e.name + "/down.sql";
    p.script = whole_file(**f, (*f)->path);
    p.script.file = e.name + "/" + (*f)->name;
    p.script.no_transaction = no_transaction;
    out.push_back(std::move(p));
  }
  if (!up && down) {
    throw dihya::Error(printable(down->path.string()) + " has no matching up migration (" + e.name + "/up.sql)");
  }
  if (!up) throw dihya::Error(printable(e.path.string()) + " holds no up.sql");
  return out;
}

// A file holding both directions, cut at its marker lines.
struct Section {
  std::size_t begin = std::string::npos;  // offset of the text after the marker line
  std::size_t end = std::string::npos;
  std::size_t first_line = 0;
  bool present() const { return begin != std::string::npos; }
};

Script section_script(const Script& file, const Section& s) {
  Script out;
  out.path = file.path;
  out.file = file.file;
  out.checksum = file.checksum;
  out.text = file.text.substr(s.begin, s.end - s.begin);
  out.first_line = s.first_line;
  return out;
}

std::vector<Piece> sectioned(Entry& e, Layout layout, const Section& up, const Section& down, bool up_no_tx,
                             bool down_no_tx, const std::smatch& m) {
  const Script file = whole_file(e, e.path);
  const auto version = version_or_throw(m[1].str(), e, true);
  std::vector<Piece> out;
  Piece p;
  p.version = version;
  p.name = m[2].str();
  p.down_hint = e.name + (layout == Layout::dbmate ? " (a `-- migrate:down` section)" : " (a `-- +goose Down` section)");
  p.script = section_script(file, up);
  p.script.no_transaction = up_no_tx;
  out.push_back(p);
  if (down.present()) {
    p.down = true;
    p.script = section_script(file, down);
    p.script.no_transaction = down_no_tx;
    out.push_back(p);
  }
  return out;
}

bool only_comments(std::string_view text) { return split_statements(text).empty(); }

std::vector<Piece> read_dbmate(Entry& e) {
  std::smatch m;
  if (e.directory || !matches(e.name, patterns().numbered_sql, &m)) bad_name(e, Layout::dbmate);
  const std::string& text = e.content();
  Section up, down;
  bool up_no_tx = false, down_no_tx = false;
  for_each_line(text, [&](std::string_view l, std::size_t begin, std::size_t next, std::size_t line) {
    const auto marker = dbmate_marker(l);
    if (!marker) return;
    const bool is_up = marker->first == "up";
    Section& s = is_up ? up : down;
    if (s.present()) throw dihya::Error(at_line(e.path, line) + ": a second `-- migrate:" + marker->first + "` marker");
    if (!is_up && !up.present()) {
      throw dihya::Error(at_line(e.path, line) + ": `-- migrate:down` comes before `-- migrate:up`");
    }
    if (is_up && !only_comments(std::string_view(text).substr(0, begin))) {
      throw dihya::Error(printable(e.path.string()) + ": SQL before `-- migrate:up` (line " + std::to_string(line) +
                         "); dbmate runs only the sections");
    }
    if (!is_up) up.end = begin;
    s.begin = next;
    s.end = text.size();
    s.first_line = line + 1;
    const std::string& option = marker->second;
    if (!option.empty() && option != "transaction:false" && option != "transaction:true") {
      throw dihya::Error(at_line(e.path, line) + ": unsupported dbmate option '" + printable(option) +
                         "' (only transaction:false and transaction:true)");
    }
    (is_up ? up_no_tx : down_no_tx) = option == "transaction:false";
  });
  if (!up.present()) bad_name(e, Layout::dbmate);
  return sectioned(e, Layout::dbmate, up, down, up_no_tx, down_no_tx, m);
}

std::vector<Piece> read_goose(Entry& e) {
  std::smatch m;
  if (e.directory || !matches(e.name, patterns().numbered_sql, &m)) bad_name(e, Layout::goose);
  const std::string& text = e.content();
  Section up, down;
  bool no_tx = false;
  std::size_t open_block = 0;  // line of an unclosed StatementBegin
  for_each_line(text, [&](std::string_view l, std::size_t begin, std::size_t next, std::size_t line) {
    const auto annotation = goose_annotation(l);
    if (!annotation) return;
    const std::string& word = *annotation;
    const std::string lower = lowered(word);
    if (lower == "up" || lower == "down") {
      const bool is_up = lower == "up";
      Section& s = is_up ? up : down;
      if (s.present()) throw dihya::Error(at_line(e.path, line) + ": a second `-- +goose " + word + "`");
      if (!is_up && !up.present()) {
        throw dihya::Error(at_line(e.path, line) + ": `-- +goose Down` comes before `-- +goose Up`");
      }
      if (open_block) throw dihya::Error(at_line(e.path, open_block) + ": StatementBegin without StatementEnd");
      if (is_up && !only_comments(std::string_view(text).substr(0, begin))) {
        throw dihya::Error(printable(e.path.string()) + ": SQL before `-- +goose Up` (line " + std::to_string(line) +
                           "); goose runs only the sections");
      }
      if (!is_up) up.end = begin;
      s.begin = next;
      s.end = text.size();
      s.first_line = line + 1;
    } else if (lower == "no transaction") {
      no_tx = true;
    } else if (lower == "statementbegin") {
      if (open_block) throw dihya::Error(at_line(e.path, line) + ": StatementBegin inside another one");
      open_block = line;
    } else if (lower == "statementend") {
      if (!open_block) throw dihya::Error(at_line(e.path, line) + ": StatementEnd without StatementBegin");
      open_block = 0;
    } else {
      throw dihya::Error(at_line(e.path, line) + ": unsupported goose annotation `-- +goose " + printable(word) +
                         "` (Up, Down, NO TRANSACTION, StatementBegin, StatementEnd)");
    }
  });
  if (open_block) throw dihya::Error(at_line(e.path, open_block) + ": StatementBegin without StatementEnd");
  if (!up.present()) bad_name(e, Layout::goose);
  return sectioned(e, Layout::goose, up, down, no_tx, no_tx, m);
}

std::vector<Piece> read_entry(Entry& e, Layout layout) {
  switch (layout) {
    case Layout::dihya:
      if (e.directory) bad_name(e, layout);
      return read_dihya(e);
    case Layout::golang_migrate:
      return read_golang_migrate(e);
    case Layout::flyway:
      return read_flyway(e);
    case Layout::diesel:
      return read_diesel(e);
    case Layout::dbmate:
      return read_dbmate(e);
    case Layout::goose:
      return read_goose(e);
  }
  bad_name(e, layout);
}

// Cuts the script into statements and checks them against the transaction
// it will run in.
void prepare_script(Script& s, Layout layout) {
  if (s.path.extension() != ".sql") return;  // .data.json: not SQL
  s.statements = layout == Layout::goose ? split_goose_statements(s.text, s.first_line)
                                         : split_statements(s.text, s.first_line);
  if (s.no_transaction) return;
  drop_transaction_wrapper(s.statements);
  for (std::size_t i = 0; i < s.statements.size(); ++i) {
    const Statement& st = s.statements[i];
    if (const std::string word = transaction_control(st); !word.empty()) {
      throw dihya::Error(printable(s.path.string()) + ": statement " + std::to_string(i + 1) + " is " + word +
                         " (line " + std::to_string(st.line) + ")" +
                         ": the plugin runs each migration in its own transaction; remove transaction control, or "
                         "run the script outside a transaction with " + no_transaction_marker(layout));
    }
  }
  for (const auto& st : s.statements) {
    const std::string what = cannot_run_in_transaction(st);
    if (what.empty()) continue;
    // Flyway runs such a script outside a transaction by itself, and
    // golang-migrate sends a one-statement file without one.
    if (layout == Layout::flyway || (layout == Layout::golang_migrate && s.statements.size() == 1)) {
      s.no_transaction = true;
      return;
    }
    throw dihya::Error(at_line(s.path, st.line) + ": " + what +
                       " cannot run inside a transaction, and this script runs in one: mark it with " +
                       no_transaction_marker(layout));
  }
}

}  // namespace

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::dihya:
      return "dihya";
    case Layout::golang_migrate:
      return "golang-migrate";
    case Layout::flyway:
      return "flyway";
    case Layout::diesel:
      return "diesel";
    case Layout::dbmate:
      return "dbmate";
    case Layout::goose:
      return "goose";
  }
  return "dihya";
}

std::optional<Layout> parse_layout(std::string_view name) {
  for (Layout l : {Layout::dihya, Layout::golang_migrate, Layout::flyway, Layout::diesel, Layout::dbmate,
                   Layout::goose}) {
    if (name == layout_name(l)) return l;
  }
  return std::nullopt;
}

std::string no_transaction_marker(Layout layout) {
  switch (layout) {
    case Layout::dihya:
      return "a first line `-- dihya:no-transaction`";
    case Layout::golang_migrate:
      return "a first line `-- morph:nontransactional` (or put the statement alone in its file)";
    case Layout::flyway:
      return "`executeInTransaction=false` in <script>.sql.conf";
    case Layout::diesel:
      return "`run_in_transaction = false` in the migration's metadata.toml";
    case Layout::dbmate:
      return "`-- migrate:up transaction:false` (or `-- migrate:down transaction:false`)";
    case Layout::goose:
      return "`-- +goose NO TRANSACTION`";
  }
  return "";
}

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
    if (is_ascii_digit(c)) {
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

std::optional<Version> Version::parse_applied(std::string_view text) {
  auto v = parse(text);
  if (v && v->parts_.empty()) {
    v->numbered_zero_ = true;
    v->text_ = std::string(text);
    std::replace(v->text_.begin(), v->text_.end(), '_', '.');
  }
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
  if (n == 0 && a.numbered_zero_ != b.numbered_zero_) return a.numbered_zero_ ? 1 : -1;
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

MigrationSet load_migrations(const fs::path& dir, std::optional<Layout> requested) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw dihya::Error("migrations_dir " + printable(dir.string()) + " is not a directory");
  }
  std::vector<Entry> entries = list_entries(dir);
  MigrationSet set;
  set.layout = requested ? *requested : detect_layout(entries, dir);

  // Ups keyed by canonical version (or repeatable name); downs matched after.
  std::map<std::string, Migration> ups;
  std::vector<Piece> downs;
  for (auto& e : entries) {
    for (auto& p : read_entry(e, set.layout)) {
      prepare_script(p.script, set.layout);
      if (p.down) {
        downs.push_back(std::move(p));
        continue;
      }
      const std::string key = p.version ? "V" + p.version->text() : "R__" + p.name;
      if (auto it = ups.find(key); it != ups.end()) {
        throw dihya::Error("duplicate " + (p.version ? "version " + p.version->text() : "repeatable " + p.name) +
                           ": " + printable(it->second.up.path.string()) + " and " + printable(p.script.path.string()));
      }
      Migration m;
      m.kind = p.kind;
      m.version = p.version;
      m.name = p.name;
      m.down_hint = p.down_hint;
      m.up = std::move(p.script);
      ups.emplace(key, std::move(m));
    }
  }
  for (auto& p : downs) {
    const std::string key = p.version ? "V" + p.version->text() : "R__" + p.name;
    auto it = ups.find(key);
    // dihya pairs by version and name; the other tools pair by version.
    if (it == ups.end() || (set.layout == Layout::dihya && it->second.name != p.name)) {
      throw dihya::Error(printable(p.script.path.string()) + " has no matching up migration (" +
                         (set.layout != Layout::dihya
                              ? "version " + (p.version ? p.version->text() : p.name)
                              : p.version ? "V" + p.version->text() + "__" + p.name + ".up.sql or .data.json"
                                          : "R__" + p.name + ".sql") +
                         ")");
    }
    if (it->second.down) {
      throw dihya::Error("duplicate down migration: " + printable(it->second.down->path.string()) + " and " +
                         printable(p.script.path.string()));
    }
    it->second.down = std::move(p.script);
  }
  for (auto& [key, m] : ups) (m.version ? set.versioned : set.repeatable).push_back(std::move(m));
  std::sort(set.versioned.begin(), set.versioned.end(),
            [](const Migration& a, const Migration& b) { return *a.version < *b.version; });
  return set;
}

bool is_no_transaction(std::string_view text) { return first_line_is(text, "-- dihya:no-transaction"); }

}  // namespace migrate_data
