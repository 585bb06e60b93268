// SPDX-License-Identifier: AGPL-3.0-or-later
// The SDK's file primitives (dihya/file_io.hpp), on a real temporary directory:
// the atomic replacement the host and the plugins share, and the descriptor owner.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include <dihya/file_io.hpp>

#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::testing::TempDir;

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t lstat_mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("replace_file writes new content with the exact mode and leaves no temporary file", "[file_io]") {
  TempDir dir;
  const auto file = dir.path() / "state.json";
  const ::mode_t old_umask = ::umask(0077);
  const auto ec = dihya::replace_file(file, "first", 0644);
  ::umask(old_umask);
  REQUIRE_FALSE(ec);
  CHECK(slurp(file) == "first");
  CHECK((lstat_mode(file) & 07777) == 0644);
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("replace_file replaces an existing file whole, at every durability", "[file_io]") {
  TempDir dir;
  const auto file = dir.write("state.json", "old content, longer than the new");
  const auto durability = GENERATE(dihya::Durability::kSynced, dihya::Durability::kContentSynced,
                                   dihya::Durability::kAtomicOnly);
  REQUIRE_FALSE(dihya::replace_file(file, "new", 0600, durability));
  CHECK(slurp(file) == "new");
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("replace_file replaces a symlink at the target instead of writing through it", "[file_io]") {
  TempDir dir;
  const auto victim = dir.write("victim", "precious");
  const auto link = dir.path() / "state.json";
  fs::create_symlink(victim, link);
  REQUIRE(S_ISLNK(lstat_mode(link)));
  REQUIRE_FALSE(dihya::replace_file(link, "new", 0600));
  CHECK(S_ISREG(lstat_mode(link)));
  CHECK(slurp(link) == "new");
  CHECK(slurp(victim) == "precious");
}

TEST_CASE("replace_file fails with the errno and keeps the old content when the target is a directory",
          "[file_io]") {
  TempDir dir;
  fs::create_directory(dir.path() / "state.json");
  fs::path kept = dir.write("keep", "x");
  const auto ec = dihya::replace_file(dir.path() / "state.json", "new", 0600);
  REQUIRE(ec);
  CHECK(ec.value() == EISDIR);
  CHECK(fs::is_directory(dir.path() / "state.json"));
  CHECK(entries(dir.path()) == 2);  // the directory and `keep`: the temporary file is gone
  CHECK(slurp(kept) == "x");
}

TEST_CASE("replace_file reports a missing directory as ENOENT", "[file_io]") {
  TempDir dir;
  const auto ec = dihya::replace_file(dir.path() / "absent" / "state.json", "new", 0600);
  REQUIRE(ec);
  CHECK(ec.value() == ENOENT);
}

TEST_CASE("replace_file_at resolves a relative name against the directory descriptor", "[file_io]") {
  TempDir dir;
  fs::create_directory(dir.path() / "sub");
  dihya::UniqueFd dir_fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir_fd);
  REQUIRE_FALSE(dihya::replace_file_at(dir_fd.get(), "sub/out.txt", "hello", 0640));
  CHECK(slurp(dir.path() / "sub" / "out.txt") == "hello");
  CHECK((lstat_mode(dir.path() / "sub" / "out.txt") & 07777) == 0640);
  CHECK(entries(dir.path() / "sub") == 1);
}

TEST_CASE("UniqueFd closes once, and release hands the descriptor over", "[file_io]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    dihya::UniqueFd read_end(fds[0]);
    dihya::UniqueFd moved(std::move(read_end));
    CHECK_FALSE(read_end);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
    CHECK(moved.get() == fds[0]);
  }
  CHECK(::fcntl(fds[0], F_GETFD) == -1);
  dihya::UniqueFd write_end(fds[1]);
  const int raw = write_end.release();
  CHECK_FALSE(write_end);
  CHECK(::fcntl(raw, F_GETFD) != -1);
  ::close(raw);
}

TEST_CASE("read_all reads a whole file and stops at its bound with EFBIG", "[file_io]") {
  TempDir dir;
  const auto file = dir.write("big", std::string(40000, 'a'));
  dihya::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  std::string all;
  REQUIRE_FALSE(dihya::read_all(fd.get(), &all));
  CHECK(all.size() == 40000);
  dihya::UniqueFd again(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  std::string bounded;
  CHECK(dihya::read_all(again.get(), &bounded, 1000).value() == EFBIG);
}
