// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for what migrate_data reads from a migrations folder: the
// statement splitters (psql's rules, goose's blocks) and the loader of every
// layout, fed one file. Beyond "no crash", it checks the promises: statements
// are non-empty, start with code, come in file order with lines inside the
// file; the loader either succeeds with such statements or throws a
// dihya::Error whose message is one line of valid UTF-8.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dihya/error.hpp>
#include <dihya/utf8.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "../migration_files.hpp"
#include "../sql_script.hpp"

namespace {

namespace fs = std::filesystem;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_statements(const std::vector<migrate_data::Statement>& statements, std::string_view text,
                      std::size_t first_line) {
  const std::size_t last_line = first_line + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  std::size_t previous = first_line;
  for (const auto& s : statements) {
    require(!s.text.empty());
    require(s.text.find_first_of(" \t\r\n") != 0);
    require(s.line >= previous && s.line <= last_line);
    previous = s.line;
    migrate_data::first_word(s.text);
    migrate_data::cannot_run_in_transaction(s);
  }
}

// One file per layout's naming, in a folder of its own, loaded in auto mode.
void check_loader(std::string_view bytes) {
  // Removed when the fuzzer exits.
  struct TempRoot {
    fs::path path;
    TempRoot() {
      char tmpl[] = "/tmp/fuzz_migrate_data.XXXXXX";
      const char* made = ::mkdtemp(tmpl);
      require(made != nullptr);
      path = made;
    }
    ~TempRoot() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const TempRoot temp;
  const fs::path& root = temp.path;
  for (const char* name : {"1_a.sql", "1_a.up.sql", "V1__a.up.sql", "V1__a.sql", "2024-01-01-000000_a/up.sql"}) {
    fs::remove_all(root / "m");
    const fs::path file = root / "m" / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    try {
      const auto set = migrate_data::load_migrations(root / "m");
      for (const auto& m : set.versioned) {
        check_statements(m.up.statements, m.up.text, m.up.first_line);
        if (m.down) check_statements(m.down->statements, m.down->text, m.down->first_line);
      }
    } catch (const dihya::Error& e) {
      const std::string message = e.what();
      require(!message.empty() && message.find('\n') == std::string::npos);
      require(dihya::valid_utf8(message));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_statements(migrate_data::split_statements(text, 1), text, 1);
  check_statements(migrate_data::split_goose_statements(text, 3), text, 3);
  check_loader(text);
  return 0;
}
