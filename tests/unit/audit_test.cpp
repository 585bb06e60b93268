// SPDX-License-Identifier: AGPL-3.0-or-later
// The audit chain: appends chain by SHA-256, and each kind of tampering
// (edit, drop, insert, swap, truncation) is found and named at the right line.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "temp_dir.hpp"
#include <dihya/sha256.hpp>

#include "audit/audit_log.hpp"
#include "util/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::AuditLog;
using dihya::host::sha256_file_hex;
using dihya::host::sha256_hex;
using dihya::host::verify_audit_log;

using dihya::testing::TempDir;

using dihya::testing::read_lines;
using dihya::testing::read_text;

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  write_text(file, text);
}

// A log of `count` run.start events, run ids "r1".."rN".
fs::path make_log(const TempDir& dir, int count) {
  auto file = dir.path() / "audit.jsonl";
  AuditLog log(file);
  for (int i = 1; i <= count; ++i) log.append("run.start", {{"run", "r" + std::to_string(i)}});
  return file;
}

// The line a forger would write: valid JSON, plausible fields.
std::string forged_line(std::uint64_t seq, const std::string& prev) {
  return nlohmann::json{{"seq", seq},
                        {"ts", "2026-11-25T21:50:53.123Z"},
                        {"prev", prev},
                        {"event", "run.end"},
                        {"data", {{"run", "forged"}}}}
      .dump();
}

// Verifies `file`, which must be reported as tampered at line `line`.
dihya::host::AuditVerifyReport require_tamper_at(const fs::path& file, std::uint64_t line) {
  auto report = verify_audit_log(file);
  CHECK_FALSE(report.ok);
  REQUIRE(report.first_bad_line);
  CHECK(*report.first_bad_line == line);
  return report;
}

}  // namespace

TEST_CASE("sha256 matches the standard test vectors", "[audit][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256 of a file equals sha256 of its bytes", "[audit][sha256]") {
  TempDir dir;
  auto file = dir.path() / "data.bin";
  std::string bytes(3 * 1024 * 1024 + 17, 'x');  // spans several 1 MiB chunks
  bytes[1024 * 1024] = 'y';
  write_text(file, bytes);
  CHECK(sha256_file_hex(file) == sha256_hex(bytes));
}

TEST_CASE("sha256 of a missing file names the file", "[audit][sha256]") {
  TempDir dir;
  auto file = dir.path() / "missing.bin";
  CHECK_THROWS_WITH(sha256_file_hex(file), Catch::Contains(file.string()));
}

TEST_CASE("appended audit lines chain by SHA-256 and verify", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 3);

  auto lines = read_lines(file);
  REQUIRE(lines.size() == 3);
  std::string prev(64, '0');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].rfind(R"({"seq":)" + std::to_string(i + 1) + R"(,"ts":")", 0) == 0);
    auto entry = nlohmann::json::parse(lines[i]);
    CHECK(entry["prev"] == prev);
    CHECK(entry["event"] == "run.start");
    CHECK(entry["data"]["run"] == "r" + std::to_string(i + 1));
    CHECK(entry["ts"].get<std::string>().size() == std::string("2026-11-25T21:50:53.123Z").size());
    CHECK(entry["ts"].get<std::string>().back() == 'Z');
    prev = sha256_hex(lines[i]);
  }

  auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.lines == 3);
  CHECK_FALSE(report.first_bad_line);
  CHECK(report.head_sha256 == prev);

  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("appending after a line longer than the tail read-back chunk still chains",
          "[audit]") {
  TempDir dir;
  auto file = dir.path() / "audit.jsonl";
  AuditLog log(file);
  log.append("run.end", {{"result", std::string(200 * 1024, 'x')}});
  log.append("run.end", {{"result", "short"}});
  log.append("run.end", {{"result", "short"}});

  auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.lines == 3);
}

TEST_CASE("appending after lines around the first read-back size (4 KiB) still chains", "[audit]") {
  TempDir dir;
  auto file = dir.path() / "audit.jsonl";
  AuditLog log(file);
  // The line's JSON frame adds ~100 bytes to the payload: lengths on both
  // sides of 4 KiB, and of 4 + 8 KiB (the second read).
  std::uint64_t lines = 0;
  for (std::size_t n = 3950; n <= 4050; n += 3) {
    for (std::size_t extra : {std::size_t{0}, std::size_t{8192}}) {
      log.append("run.end", {{"result", std::string(n + extra, 'x')}});
      CHECK(log.append("run.end", {{"result", "short"}}) == lines + 2);
      lines += 2;
    }
  }
  auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.lines == lines);
}

TEST_CASE("verify reads lines on both sides of its 64 KiB read pieces", "[audit]") {
  TempDir dir;
  auto file = dir.path() / "audit.jsonl";
  AuditLog log(file);
  // What a line holds besides its payload (the seq's width aside), from a
  // line with none: then every line length from 64 KiB - 4 to 64 KiB + 4,
  // and the same around two pieces.
  log.append("run.end", {{"result", ""}});
  const auto frame = static_cast<std::size_t>(fs::file_size(file)) - 1;
  std::uint64_t lines = 1;
  for (std::size_t pieces : {1, 2}) {
    for (std::size_t length = pieces * 65536 - 4; length <= pieces * 65536 + 4; ++length) {
      const auto before = fs::file_size(file);
      log.append("run.end", {{"result", std::string(length - frame - (lines + 1 >= 10 ? 1 : 0), 'x')}});
      ++lines;
      CHECK(fs::file_size(file) - before == length + 1);  // the line and its newline
    }
  }
  auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.problem.empty());
  CHECK(report.lines == lines);
}

TEST_CASE("a missing audit log verifies as empty", "[audit]") {
  TempDir dir;
  auto report = verify_audit_log(dir.path() / "audit.jsonl");
  CHECK(report.ok);
  CHECK(report.lines == 0);
}

TEST_CASE("an edited audit line is reported at that line", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 5);
  auto lines = read_lines(file);
  std::uint64_t edited = 0;

  SECTION("data changed in the middle") {
    lines[2].replace(lines[2].find("r3"), 2, "r9");
    edited = 3;
  }
  SECTION("data changed on the first line") {
    lines[0].replace(lines[0].find("r1"), 2, "r9");
    edited = 1;
  }
  SECTION("the line no longer parses") {
    lines[2].pop_back();
    edited = 3;
  }
  SECTION("its prev field changed") {
    lines[2].replace(lines[2].find(R"("prev":")") + 8, 4, "abcd");
    edited = 3;
  }
  SECTION("its seq changed") {
    lines[2].replace(lines[2].find(R"("seq":3)"), 7, R"("seq":7)");
    edited = 3;
  }
  write_lines(file, lines);

  auto report = require_tamper_at(file, edited);
  CHECK_THAT(report.problem, Catch::Contains("line " + std::to_string(edited)) &&
                                 Catch::Contains("edited"));
}

TEST_CASE("a dropped audit line is reported at the line after the gap", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 5);
  auto lines = read_lines(file);
  std::uint64_t expected = 0;

  SECTION("in the middle") {
    lines.erase(lines.begin() + 2);
    expected = 3;
  }
  SECTION("the first line") {
    lines.erase(lines.begin());
    expected = 1;
  }
  SECTION("two lines in a row") {
    lines.erase(lines.begin() + 1, lines.begin() + 3);
    expected = 2;
  }
  write_lines(file, lines);

  auto report = require_tamper_at(file, expected);
  CHECK_THAT(report.problem, Catch::Contains("missing before line " + std::to_string(expected)));
}

TEST_CASE("an inserted audit line is reported at its position", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 5);
  auto lines = read_lines(file);
  std::uint64_t expected = 0;

  SECTION("a forged line with a wrong prev") {
    lines.insert(lines.begin() + 2, forged_line(3, std::string(64, 'a')));
    expected = 3;
  }
  SECTION("a forged line with a correct prev and seq") {
    lines.insert(lines.begin() + 2, forged_line(3, sha256_hex(lines[1])));
    expected = 3;
  }
  SECTION("a copy of the line before it") {
    lines.insert(lines.begin() + 2, lines[1]);
    expected = 3;
  }
  SECTION("a line at the very start") {
    lines.insert(lines.begin(), forged_line(1, std::string(64, '0')));
    expected = 1;
  }
  SECTION("a line that is not JSON") {
    lines.insert(lines.begin() + 2, "hello");
    expected = 3;
  }
  write_lines(file, lines);

  auto report = require_tamper_at(file, expected);
  CHECK_THAT(report.problem, Catch::Contains("line " + std::to_string(expected) + " was inserted"));
}

TEST_CASE("swapped audit lines are reported at the first of them", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 5);
  auto lines = read_lines(file);
  std::uint64_t expected = 0;

  SECTION("two neighbours in the middle") {
    std::swap(lines[1], lines[2]);
    expected = 2;
  }
  SECTION("the first two") {
    std::swap(lines[0], lines[1]);
    expected = 1;
  }
  SECTION("the last two") {
    std::swap(lines[3], lines[4]);
    expected = 4;
  }
  SECTION("two lines apart") {
    std::swap(lines[1], lines[3]);
    expected = 2;
  }
  write_lines(file, lines);

  auto report = require_tamper_at(file, expected);
}

TEST_CASE("neighbouring swapped audit lines are named as swapped", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 4);
  auto lines = read_lines(file);
  std::swap(lines[1], lines[2]);
  write_lines(file, lines);

  CHECK_THAT(verify_audit_log(file).problem, Catch::Contains("lines 2 and 3 are swapped"));
}

TEST_CASE("a truncated last audit line is reported and never extended", "[audit]") {
  TempDir dir;
  auto file = make_log(dir, 3);
  auto text = read_text(file);
  write_text(file, text.substr(0, text.size() - 10));

  auto report = require_tamper_at(file, 3);
  CHECK_THAT(report.problem, Catch::Contains("truncated"));

  AuditLog log(file);
  CHECK_THROWS_WITH(log.append("run.start", {}), Catch::Contains("incomplete"));
  CHECK(read_text(file) == text.substr(0, text.size() - 10));
}

TEST_CASE("appends from several processes keep one unbroken chain", "[audit]") {
  TempDir dir;
  auto file = dir.path() / "audit.jsonl";
  constexpr int kWriters = 4;
  constexpr int kEach = 25;

  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int status = 0;
      try {
        AuditLog log(file);
        for (int i = 0; i < kEach; ++i) log.append("run.start", {{"writer", w}, {"i", i}});
      } catch (...) {
        status = 1;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t child : children) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }

  auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.lines == kWriters * kEach);
}

TEST_CASE("the SDK's one SHA-256 gives sha256sum's digests, whole or in pieces", "[sha256]") {
  CHECK(dihya::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  dihya::Sha256 pieces;
  pieces.update("a").update("").update("bc");
  CHECK(pieces.hex() == dihya::sha256_hex("abc"));
  const std::string million(1000000, 'a');
  CHECK(dihya::sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(dihya::sha256_hex(million) == sha256_hex(million));
}
