// SPDX-License-Identifier: AGPL-3.0-or-later
// Who could have replaced a file the host reads (util/trusted_path.hpp), the
// ABI minor rule, and the small validators of hostile command-line input.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <dihya/abi.hpp>

#include "cli/common.hpp"
#include "errors.hpp"
#include "loading/plugin_file.hpp"
#include "util/printable.hpp"
#include "temp_dir.hpp"
#include "util/trusted_path.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::abi_tag_problem;
using dihya::host::check_since;
using dihya::host::checked_seconds;
using dihya::host::HostError;
using dihya::host::one_line;
using dihya::host::open_trusted_file;
using dihya::host::prepare_private_dir;
using dihya::testing::TempDir;

void write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

mode_t permission_bits(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Restores the umask it replaced.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

}  // namespace

TEST_CASE("a file in a private directory is trusted and read from one descriptor", "[trust]") {
  TempDir dir;
  write(dir.path() / "a.conf", "x");
  const auto file = open_trusted_file(dir.path() / "a.conf", 2, "config file");
  CHECK(file.fd);
  CHECK(S_ISREG(file.st.st_mode));
  CHECK(file.real_path == fs::canonical(dir.path() / "a.conf"));
}

TEST_CASE("a directory others can write makes what it holds untrusted", "[trust]") {
  TempDir dir;
  fs::create_directory(dir.path() / "open");
  write(dir.path() / "open" / "a.conf", "x");
  ::chmod((dir.path() / "open").c_str(), 0777);
  CHECK_THROWS_WITH(open_trusted_file(dir.path() / "open" / "a.conf", 2, "config file"),
                    Catch::Contains("is writable by group or others") && Catch::Contains("chmod go-w"));
  SECTION("unless it is sticky and the entry is ours") {
    ::chmod((dir.path() / "open").c_str(), 01777);
    CHECK_NOTHROW(open_trusted_file(dir.path() / "open" / "a.conf", 2, "config file"));
  }
}

TEST_CASE("a symlink is judged by where it leads, and the culprit is named", "[trust]") {
  TempDir dir;
  fs::create_directory(dir.path() / "good");
  fs::create_directory(dir.path() / "open");
  write(dir.path() / "open" / "a.conf", "x");
  ::chmod((dir.path() / "open").c_str(), 0777);
  fs::create_symlink(dir.path() / "open" / "a.conf", dir.path() / "good" / "a.conf");
  try {
    open_trusted_file(dir.path() / "good" / "a.conf", 3, "plugin file");
    FAIL("a symlink into a world-writable directory was trusted");
  } catch (const HostError& e) {
    CHECK(e.exit_code() == 3);
    CHECK_THAT(e.what(), Catch::Contains((dir.path() / "open").string() + " is writable"));
  }
}

TEST_CASE("a file writable by others, a FIFO and a directory are refused at once", "[trust]") {
  TempDir dir;
  write(dir.path() / "a.conf", "x");
  ::chmod((dir.path() / "a.conf").c_str(), 0666);
  CHECK_THROWS_WITH(open_trusted_file(dir.path() / "a.conf", 2, "config file"), Catch::Contains("chmod go-w"));
  REQUIRE(::mkfifo((dir.path() / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(open_trusted_file(dir.path() / "fifo", 2, "config file"), Catch::Contains("a FIFO"));
  CHECK_THROWS_WITH(open_trusted_file(dir.path(), 2, "config file"), Catch::Contains("a directory"));
}

TEST_CASE("private directories are created 0700 whatever the umask", "[trust]") {
  TempDir dir;
  const ScopedUmask open_umask(0);
  prepare_private_dir(dir.path() / "a" / "b" / "state", "state dir");
  CHECK(permission_bits(dir.path() / "a") == 0700);
  CHECK(permission_bits(dir.path() / "a" / "b" / "state") == 0700);
  prepare_private_dir(dir.path() / "metrics", "metrics dir", 0755);
  CHECK(permission_bits(dir.path() / "metrics") == 0755);
}

TEST_CASE("an existing private directory others can write, or a file, is refused", "[trust]") {
  TempDir dir;
  fs::create_directory(dir.path() / "state");
  ::chmod((dir.path() / "state").c_str(), 0777);
  CHECK_THROWS_WITH(prepare_private_dir(dir.path() / "state", "state dir"),
                    Catch::Contains("state dir") && Catch::Contains("chmod go-w"));
  write(dir.path() / "file", "x");
  CHECK_THROWS_WITH(prepare_private_dir(dir.path() / "file", "state dir"), Catch::Contains("not a directory"));
}

TEST_CASE("the ABI minor of a plugin may be older than the host's, never newer", "[loading][abi]") {
  const std::string stdlib = DIHYA_ABI_STDLIB;
  CHECK(abi_tag_problem(dihya::kAbiTag).empty());
  const std::string newer = "dihya-abi " + std::to_string(dihya::kAbiMajor) + "." +
                            std::to_string(dihya::kAbiMinor + 1) + " " + stdlib;
  CHECK_THAT(abi_tag_problem(newer), Catch::Contains("newer than this host"));
  CHECK_THAT(abi_tag_problem("dihya-abi 99.0 " + stdlib), Catch::Contains("ABI 99.0"));
  CHECK_THAT(abi_tag_problem("dihya-abi x"), Catch::Contains("malformed ABI tag 'dihya-abi x'"));
}

TEST_CASE("an ABI tag is exactly what DIHYA_PLUGIN writes, nothing more", "[loading][abi]") {
  const std::string tag = dihya::kAbiTag;
  CHECK_THAT(abi_tag_problem(tag + " extra"), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem(tag + " "), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem(tag + "\n"), Catch::Contains("malformed ABI tag '" + tag + "\\n'"));
  CHECK_THAT(abi_tag_problem("dihya-abi +2.0 " DIHYA_ABI_STDLIB), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem("dihya-abi 2.0\t" DIHYA_ABI_STDLIB), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem("dihya-abi 2.0  " DIHYA_ABI_STDLIB), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem(" " + tag), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem("dihya-abi 2. " DIHYA_ABI_STDLIB), Catch::Contains("malformed ABI tag"));
  CHECK_THAT(abi_tag_problem("dihya-abi 2.0"), Catch::Contains("malformed ABI tag"));
  CHECK(abi_tag_problem(tag).empty());
}

TEST_CASE("timeouts must be finite, positive and at most a week", "[cli]") {
  CHECK(checked_seconds(1.5, "--timeout").count() == 1500);
  CHECK_THROWS_AS(checked_seconds(std::nan(""), "--timeout"), HostError);
  CHECK_THROWS_AS(checked_seconds(INFINITY, "--timeout"), HostError);
  CHECK_THROWS_AS(checked_seconds(0, "--timeout"), HostError);
  CHECK_THROWS_AS(checked_seconds(-1, "--timeout"), HostError);
  CHECK_THROWS_AS(checked_seconds(1e9, "--timeout"), HostError);
}

TEST_CASE("history since takes an ISO-8601 UTC time or a prefix of one", "[cli]") {
  for (const char* ok : {"2026", "2026-11", "2026-11-25", "2026-11-25T10", "2026-11-25T10:00", "2026-11-25T10:00:00",
                         "2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123Z", "2026-11-25T10Z"}) {
    INFO(ok);
    CHECK_NOTHROW(check_since(ok));
  }
  for (const char* bad : {"", "garbage", "26", "2026-1", "2026-13", "2026-11-32", "2026-11-25T24", "2026-11-25 10:00",
                          "2026-11-25T10:00:00.Z", "2026-11-25Z", "2026-11-25T10:00:00ZZ", "2026-11-25T10:0"}) {
    INFO(bad);
    CHECK_THROWS_AS(check_since(bad), HostError);
  }
}

TEST_CASE("library messages become one line", "[cli]") {
  CHECK(one_line("connection failed: No such file\n\tIs the server running?\n") ==
        "connection failed: No such file; Is the server running?");
  CHECK(one_line("  plain  ") == "plain");
  CHECK(one_line("a:\n  b") == "a: b");
  CHECK(one_line("\r\n") == "");
}
