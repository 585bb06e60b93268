// SPDX-License-Identifier: AGPL-3.0-or-later
// The run journal: entries come back as recorded, a torn last line (a crash
// mid-write) is ignored, rollback markers are kept, damage is refused.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>

#include "temp_dir.hpp"
#include "dihya/error.hpp"
#include "journal/run_journal.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::UndoEntry;
using dihya::host::read_journal;
using dihya::host::RunJournal;

using dihya::testing::TempDir;

using dihya::testing::read_text;

void append_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << text;
}

// A journal with three entries, as a run deleting three rows would leave it.
fs::path make_journal(const TempDir& dir) {
  auto file = dir.path() / "journal.jsonl";
  auto journal = RunJournal::create(file);
  for (int id = 1; id <= 3; ++id) {
    journal.record(UndoEntry{"delete_row", {{"table", "users"}, {"id", id}}});
  }
  return file;
}

}  // namespace

TEST_CASE("recorded undo entries read back oldest first", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);

  auto contents = read_journal(file);
  REQUIRE(contents.entries.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(contents.entries[i].action == "delete_row");
    CHECK(contents.entries[i].data == nlohmann::json{{"table", "users"}, {"id", i + 1}});
  }
  CHECK_FALSE(contents.rollback_started);
  CHECK_FALSE(contents.rollback_done);
  CHECK_FALSE(contents.torn_tail);
}

TEST_CASE("journal lines put the index first", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);
  CHECK(read_text(file).rfind(R"({"i":0,"action":"delete_row","data":)", 0) == 0);
}

TEST_CASE("a new journal is private and never replaces an existing one", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);

  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK_THROWS_WITH(RunJournal::create(file), Catch::Contains(file.string()));
  CHECK(read_journal(file).entries.size() == 3);
}

TEST_CASE("a missing journal reads as empty", "[journal]") {
  TempDir dir;
  auto contents = read_journal(dir.path() / "journal.jsonl");
  CHECK(contents.entries.empty());
  CHECK_FALSE(contents.torn_tail);
}

TEST_CASE("a torn last journal line is ignored", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);
  append_text(file, R"({"i":3,"action":"delete_row","da)");

  auto contents = read_journal(file);
  CHECK(contents.entries.size() == 3);
  CHECK(contents.torn_tail);
}

TEST_CASE("rollback markers are recorded", "[journal]") {
  TempDir dir;
  auto file = dir.path() / "journal.jsonl";
  auto journal = RunJournal::create(file);
  journal.record(UndoEntry{"delete_row", {{"id", 1}}});

  SECTION("started only: the rollback was interrupted") {
    journal.mark_rollback_started();
    auto contents = read_journal(file);
    CHECK(contents.rollback_started);
    CHECK_FALSE(contents.rollback_done);
  }
  SECTION("started and done") {
    journal.mark_rollback_started();
    journal.mark_rollback_done();
    auto contents = read_journal(file);
    CHECK(contents.rollback_started);
    CHECK(contents.rollback_done);
    CHECK(contents.entries.size() == 1);
  }
}

TEST_CASE("reopening a journal cuts a torn tail and continues it", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);
  append_text(file, R"({"i":3,"act)");

  auto journal = RunJournal::reopen(file);
  CHECK(journal.entry_count() == 3);
  journal.mark_rollback_started();
  journal.record(UndoEntry{"delete_row", {{"id", 4}}});

  auto contents = read_journal(file);
  CHECK_FALSE(contents.torn_tail);
  CHECK(contents.rollback_started);
  REQUIRE(contents.entries.size() == 4);
  CHECK(contents.entries[3].data["id"] == 4);
}

TEST_CASE("a damaged journal line stops the reader and names the line", "[journal]") {
  TempDir dir;
  auto file = make_journal(dir);

  SECTION("not JSON") { append_text(file, "garbage\n"); }
  SECTION("an index out of sequence") {
    append_text(file, R"({"i":7,"action":"delete_row","data":{}})" "\n");
  }
  SECTION("data nested 100,000 levels") {
    append_text(file, R"({"i":3,"action":"delete_row","data":)" + std::string(100000, '[') +
                          std::string(100000, ']') + "}\n");
  }
  CHECK_THROWS_WITH(read_journal(file),
                    Catch::Contains(file.string()) && Catch::Contains("line 4"));
}

TEST_CASE("undo data that is not valid UTF-8 is refused, not altered", "[journal]") {
  TempDir dir;
  auto file = dir.path() / "journal.jsonl";
  auto journal = RunJournal::create(file);

  CHECK_THROWS_AS(journal.record(UndoEntry{"rename", {{"from", std::string("caf\xe9")}}}),
                  dihya::Error);
  CHECK(read_journal(file).entries.empty());
  journal.record(UndoEntry{"rename", {{"from", "café"}}});
  CHECK(read_journal(file).entries.size() == 1);
}

TEST_CASE("a moved journal keeps recording where it left off", "[journal]") {
  TempDir dir;
  auto file = dir.path() / "journal.jsonl";
  auto first = RunJournal::create(file);
  first.record(UndoEntry{"a", {}});
  RunJournal second = std::move(first);
  second.record(UndoEntry{"b", {}});

  auto contents = read_journal(file);
  REQUIRE(contents.entries.size() == 2);
  CHECK(contents.entries[1].action == "b");
}
