// SPDX-License-Identifier: AGPL-3.0-or-later
// The audit log's head record: it follows every append, and what the hash
// chain alone cannot show (the last lines dropped, the file deleted, the last
// line replaced) is reported; a cut log is never extended; symlinks in place
// of the audit files are refused.
#include <catch2/catch.hpp>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_log.hpp"
#include "temp_dir.hpp"
#include "util/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::audit_head_file;
using dihya::host::AuditLog;
using dihya::host::verify_audit_log;
using dihya::testing::read_lines;
using dihya::testing::read_text;
using dihya::testing::TempDir;

fs::path make_checked_log(const TempDir& dir, int count) {
  auto file = dir.path() / "audit.jsonl";
  AuditLog log(file);
  for (int i = 1; i <= count; ++i) CHECK(log.append("run.start", {{"run", "r" + std::to_string(i)}}) == static_cast<std::uint64_t>(i));
  return file;
}

void write_first_lines(const fs::path& file, const std::vector<std::string>& lines, std::size_t count) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  for (std::size_t i = 0; i < count; ++i) out << lines[i] << '\n';
}

}  // namespace

TEST_CASE("the head record names the seq and hash of the last line", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 3);
  const auto lines = read_lines(file);
  const std::string sha = dihya::host::sha256_hex(lines.back());
  // "boot": the first 16 hex digits of this boot's id (a head of another
  // boot lets the log be completed from the state log: see AuditLog).
  std::string boot;
  for (char c : read_text("/proc/sys/kernel/random/boot_id")) {
    if (std::isxdigit(static_cast<unsigned char>(c)) && boot.size() < 16) boot.push_back(c);
  }
  REQUIRE(boot.size() == 16);
  const std::string record = R"({"seq":3,"sha256":")" + sha + R"(","check":")" +
                             dihya::host::sha256_hex("3:" + sha).substr(0, 16) + R"(","boot":")" + boot + "\"}";
  CHECK(read_text(audit_head_file(file)) == record + std::string(160 - 1 - record.size(), ' ') + "\n");
  const auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK(report.anchored);
  CHECK(report.last_seq == 3);
}

TEST_CASE("dropped last lines are reported at the first missing line", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 5);
  write_first_lines(file, read_lines(file), 3);
  const auto report = verify_audit_log(file);
  CHECK_FALSE(report.ok);
  REQUIRE(report.first_bad_line);
  CHECK(*report.first_bad_line == 4);
  CHECK_THAT(report.problem, Catch::Contains("2 line(s) missing at the end"));
}

TEST_CASE("a deleted log with its head left is reported", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 2);
  fs::remove(file);
  const auto report = verify_audit_log(file);
  CHECK_FALSE(report.ok);
  CHECK_THAT(report.problem, Catch::Contains("the log is missing") && Catch::Contains("2 line(s)"));
}

TEST_CASE("a replaced last line is reported even when it chains", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 3);
  auto lines = read_lines(file);
  lines[2].replace(lines[2].find("r3"), 2, "r9");  // the last line: nothing after it vouches for it
  write_first_lines(file, lines, 3);
  const auto report = verify_audit_log(file);
  CHECK_FALSE(report.ok);
  CHECK_THAT(report.problem, Catch::Contains("does not match the SHA-256 in the head record"));
}

TEST_CASE("a log ahead of its head (a crash lost the head's replacement) is intact", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 2);
  const auto lines = read_lines(file);
  std::ofstream(audit_head_file(file), std::ios::trunc)
      << R"({"seq":1,"sha256":")" << dihya::host::sha256_hex(lines[0]) << "\"}\n";
  CHECK(verify_audit_log(file).ok);
  AuditLog(file).append("run.end", {});
  CHECK(verify_audit_log(file).anchored);
}

TEST_CASE("an empty head (a crash kept its rename, not its bytes) reads as no head", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 2);
  std::ofstream(audit_head_file(file), std::ios::trunc);  // the head is not synced: a crash can leave this
  REQUIRE(fs::file_size(audit_head_file(file)) == 0);
  const auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK_FALSE(report.anchored);
  CHECK(AuditLog(file).append("run.end", {}) == 3);
  CHECK(verify_audit_log(file).anchored);
  // Guard: a head that is not empty but damaged is still refused.
  std::ofstream(audit_head_file(file), std::ios::trunc) << "{";
  CHECK_THROWS_WITH(verify_audit_log(file), Catch::Contains("damaged"));
}

TEST_CASE("the head record is rewritten in place, never through another link", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 1);
  const auto head = audit_head_file(file);
  const auto inode = [](const fs::path& p) {
    struct stat st{};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
  };
  const auto first = inode(head);
  AuditLog(file).append("run.end", {});
  CHECK(inode(head) == first);  // no new file per append
  CHECK_THAT(read_text(head), Catch::Contains(R"("seq":2,)"));
  // A second link to the head (planted, or a backup made with ln) is left as
  // it was: the head is replaced by a new file instead.
  const auto other = dir.path() / "other";
  fs::create_hard_link(head, other);
  const std::string before = read_text(other);
  AuditLog(file).append("run.end", {});
  CHECK(read_text(other) == before);
  CHECK(inode(head) != first);
  CHECK_THAT(read_text(head), Catch::Contains(R"("seq":3,)"));
  CHECK(verify_audit_log(file).anchored);
}

TEST_CASE("a head record caught half rewritten reads as no head", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 2);
  const auto head = audit_head_file(file);
  REQUIRE(verify_audit_log(file).anchored);  // guard: the whole record anchors the log
  // A crash in the middle of the rewrite from seq 1 to seq 2: the new seq, the old hash.
  std::string text = read_text(head);
  const auto lines = read_lines(file);
  const std::string old_sha = dihya::host::sha256_hex(lines[0]);
  text.replace(text.find(R"("sha256":")") + 10, 64, old_sha);
  std::ofstream(head, std::ios::binary | std::ios::trunc) << text;
  const auto report = verify_audit_log(file);
  CHECK(report.ok);
  CHECK_FALSE(report.anchored);
  CHECK(AuditLog(file).append("run.end", {}) == 3);
  CHECK(verify_audit_log(file).anchored);
}

TEST_CASE("a cut log is never extended", "[audit][anchor]") {
  TempDir dir;
  const auto file = make_checked_log(dir, 4);
  write_first_lines(file, read_lines(file), 2);
  CHECK_THROWS_WITH(AuditLog(file).append("run.start", {}), Catch::Contains("lines were removed"));
  CHECK(read_lines(file).size() == 2);
  fs::remove(file);
  CHECK_THROWS_WITH(AuditLog(file).append("run.start", {}), Catch::Contains("lines were removed"));
}

TEST_CASE("symlinks in place of the audit files are refused", "[audit][anchor]") {
  TempDir dir;
  const auto target = dir.path() / "target";
  std::ofstream(target) << "precious\n";
  const auto file = dir.path() / "audit.jsonl";
  SECTION("the log") { fs::create_symlink(target, file); }
  SECTION("its head") {
    make_checked_log(dir, 1);
    fs::remove(audit_head_file(file));
    fs::create_symlink(target, audit_head_file(file));
  }
  CHECK_THROWS_WITH(AuditLog(file).append("run.start", {}), Catch::Contains("is a symlink"));
  CHECK_THROWS_WITH(verify_audit_log(file), Catch::Contains("is a symlink"));
  CHECK(read_text(target) == "precious\n");
}
