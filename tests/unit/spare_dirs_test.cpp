// SPDX-License-Identifier: AGPL-3.0-or-later
// SpareDirs: empty run directories renamed back and forth instead of made
// and removed; never a directory that is not empty, not ours or not private.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "runs/spare_dirs.hpp"

namespace fs = std::filesystem;
using dihya::host::SpareDirs;
using dihya::testing::TempDir;

namespace {

ino_t inode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_ino;
}

std::set<ino_t> spare_inodes(const fs::path& dir) {
  std::set<ino_t> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(inode(e.path()));
  return out;
}

}  // namespace

TEST_CASE("an empty directory goes to the spares and comes back as the next one", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  SpareDirs first(spare);
  REQUIRE(first.make(tmp.path() / "a") == 0);  // no spares yet: made
  REQUIRE(fs::is_directory(tmp.path() / "a"));
  const ino_t a = inode(tmp.path() / "a");
  REQUIRE(first.recycle(tmp.path() / "a"));
  CHECK_FALSE(fs::exists(tmp.path() / "a"));
  CHECK(spare_inodes(spare) == std::set<ino_t>{a});

  SpareDirs second(spare);  // another run
  REQUIRE(second.make(tmp.path() / "b") == 0);
  CHECK(inode(tmp.path() / "b") == a);
  CHECK(fs::is_empty(spare));
  // A target that exists is refused, the spare stays a spare.
  REQUIRE(second.recycle(tmp.path() / "b"));
  SpareDirs third(spare);
  fs::create_directory(tmp.path() / "taken");
  CHECK(third.make(tmp.path() / "taken") == EEXIST);
  CHECK(spare_inodes(spare) == std::set<ino_t>{a});
}

TEST_CASE("a spare taken by another host first: the next one, or a new directory", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  SpareDirs warm(spare);
  for (const char* name : {"a", "b"}) {
    REQUIRE(warm.make(tmp.path() / name) == 0);
  }
  REQUIRE(warm.recycle(tmp.path() / "a"));
  REQUIRE(warm.recycle(tmp.path() / "b"));
  SpareDirs one(spare), other(spare);
  REQUIRE(one.make(tmp.path() / "x") == 0);  // lists both, takes one
  REQUIRE(other.make(tmp.path() / "y") == 0);  // lists the one left, takes it
  REQUIRE(one.make(tmp.path() / "z") == 0);  // its listed one is gone: a new directory
  CHECK(fs::is_empty(spare));
  CHECK(std::set<ino_t>{inode(tmp.path() / "x"), inode(tmp.path() / "y"), inode(tmp.path() / "z")}.size() == 3);
}

TEST_CASE("only an empty private directory of ours is kept", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  SpareDirs spares(spare);
  const fs::path d = tmp.path() / "d";

  SECTION("a file in it: left for the caller") {
    fs::create_directory(d);
    tmp.write("d/left.txt", "x");
    CHECK_FALSE(spares.recycle(d));
    CHECK(fs::exists(d / "left.txt"));
  }
  SECTION("a symlink to a directory: never followed") {
    fs::create_directory(tmp.path() / "real");
    fs::create_directory_symlink(tmp.path() / "real", d);
    CHECK_FALSE(spares.recycle(d));
    CHECK(fs::is_symlink(d));
    CHECK(fs::is_directory(tmp.path() / "real"));
  }
  SECTION("opened up by the plugin (chmod 0777, setgid): back to 0700") {
    fs::create_directory(d);
    REQUIRE(::chmod(d.c_str(), 02777) == 0);
    REQUIRE(spares.recycle(d));
    REQUIRE(spares.make(tmp.path() / "again") == 0);
    struct stat st {};
    REQUIRE(::stat((tmp.path() / "again").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
  }
  SECTION("an ACL on it: left for the caller") {
    fs::create_directory(d);
    // user::rwx, group::---, other::--- and one named user: a POSIX ACL (version 2).
    const unsigned char acl[] = {2, 0, 0, 0,  1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,  2, 0, 7, 0, 0xfe, 0xff, 0, 0,
                                 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,  0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
                                 0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    if (::setxattr(d.c_str(), "system.posix_acl_access", acl, sizeof acl, 0) != 0) {
      WARN("this file system takes no POSIX ACL: " << std::strerror(errno));
      return;
    }
    CHECK_FALSE(spares.recycle(d));
    CHECK(fs::is_directory(d));
  }
}

TEST_CASE("at most kSlots spares: the rest is removed", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  SpareDirs spares(spare);
  int kept = 0;
  for (int i = 0; i < 3 * SpareDirs::kSlots; ++i) {
    const fs::path d = tmp.path() / ("d" + std::to_string(i));
    fs::create_directory(d);
    REQUIRE(spares.recycle(d));  // kept or removed
    CHECK_FALSE(fs::exists(d));
  }
  for (const auto& e : fs::directory_iterator(spare)) {
    ++kept;
    const std::string name = e.path().filename().string();
    CHECK(std::stoi(name) < SpareDirs::kSlots);
  }
  CHECK(kept >= 4);  // each recycle tries four slots before it removes
  CHECK(kept <= SpareDirs::kSlots);
  // Names that are not slots are never taken.
  fs::create_directory(spare / "planted");
  fs::create_directory(spare / "007");
  SpareDirs taker(spare);
  for (int i = 0; i < kept; ++i) REQUIRE(taker.make(tmp.path() / ("t" + std::to_string(i))) == 0);
  REQUIRE(taker.make(tmp.path() / "fresh") == 0);
  CHECK(fs::exists(spare / "planted"));
  CHECK(fs::exists(spare / "007"));
}

TEST_CASE("make_held: the directory arrives locked; a spare still locked is passed by", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  const auto locked_by_someone = [](const fs::path& dir) {
    dihya::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(fd);
    return ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0;
  };
  SpareDirs first(spare);
  dihya::UniqueFd held;
  REQUIRE(first.make_held(tmp.path() / "a", &held) == 0);  // no spare: made among the spares, then moved
  CHECK(locked_by_someone(tmp.path() / "a"));
  CHECK(fs::is_empty(spare));  // nothing left behind under a temporary name
  const ino_t a = inode(tmp.path() / "a");
  // Given back while its run still holds it (finish() lets go just after).
  REQUIRE(first.recycle(tmp.path() / "a"));
  SpareDirs second(spare);
  dihya::UniqueFd held2;
  REQUIRE(second.make_held(tmp.path() / "b", &held2) == 0);
  CHECK(inode(tmp.path() / "b") != a);  // the locked spare was passed by
  CHECK(spare_inodes(spare) == std::set<ino_t>{a});
  held.reset();  // its run let go: the next one takes it
  SpareDirs third(spare);
  dihya::UniqueFd held3;
  REQUIRE(third.make_held(tmp.path() / "c", &held3) == 0);
  CHECK(inode(tmp.path() / "c") == a);
  CHECK(locked_by_someone(tmp.path() / "c"));
  dihya::UniqueFd none;
  CHECK(third.make_held(tmp.path() / "c", &none) == EEXIST);
  CHECK_FALSE(none);
}

TEST_CASE("make: a spare another host has locked to take it stays where it is", "[runs][spares]") {
  // The host that locked it renames it next: had it left its slot, that
  // rename would move whatever a run gave back there meanwhile.
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  fs::create_directories(tmp.path() / "x");
  SpareDirs giver(spare);
  REQUIRE(giver.recycle(tmp.path() / "x"));
  const auto slots = spare_inodes(spare);
  REQUIRE(slots.size() == 1);
  const fs::path slot = fs::directory_iterator(spare)->path();
  dihya::UniqueFd taking(::open(slot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(::flock(taking.get(), LOCK_EX | LOCK_NB) == 0);
  SpareDirs other(spare);
  REQUIRE(other.make(tmp.path() / "run") == 0);
  CHECK(spare_inodes(spare) == slots);
  CHECK(inode(tmp.path() / "run") != *slots.begin());
  taking.reset();
  SpareDirs later(spare);
  REQUIRE(later.make(tmp.path() / "run2") == 0);
  CHECK(inode(tmp.path() / "run2") == *slots.begin());
}

TEST_CASE("a temporary dir left by a host that died is removed, one of a live host kept", "[runs][spares]") {
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  fs::create_directories(spare);
  // A pid that is gone: a child that has exited and been reaped.
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  REQUIRE(::waitpid(gone, nullptr, 0) == gone);
  const fs::path dead = spare / ("new-" + std::to_string(gone) + "-0");
  const fs::path live = spare / ("new-" + std::to_string(::getpid()) + "-7");
  fs::create_directory(dead);
  fs::create_directory(live);
  SpareDirs spares(spare);
  dihya::UniqueFd held;
  REQUIRE(spares.make_held(tmp.path() / "w", &held) == 0);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
}

TEST_CASE("concurrent hosts taking and giving back spares: each holds the dir at its path, none waits forever",
          "[runs][spares]") {
  // Eight processes (on fewer CPUs) run the life of many runs at once: a
  // work dir taken held, a run dir taken, both given back while the work dir
  // is still held, then let go. Two jobs of the scheduler once waited for
  // ever, each for the other's work dir: a take had renamed in a spare other
  // than the one it had locked, and waited for that one's lock while holding
  // its own.
  TempDir tmp;
  const fs::path spare = tmp.path() / "spare";
  constexpr int kHosts = 8;
  constexpr int kRuns = 3000;
  std::vector<pid_t> hosts;
  for (int h = 0; h < kHosts; ++h) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kRuns; ++i) {
        SpareDirs spares(spare);
        const fs::path work = tmp.path() / ("w" + std::to_string(h) + "-" + std::to_string(i));
        const fs::path run = tmp.path() / ("r" + std::to_string(h) + "-" + std::to_string(i));
        dihya::UniqueFd held;
        if (spares.make_held(work, &held) != 0 || spares.make(run) != 0) ::_exit(2);
        struct stat mine {}, there {};
        if (::fstat(held.get(), &mine) != 0 || ::lstat(work.c_str(), &there) != 0 || mine.st_ino != there.st_ino) ++bad;
        if (!spares.recycle(run) || !spares.recycle(work)) ::rmdir(work.c_str());
      }
      ::_exit(bad == 0 ? 0 : 1);
    }
    hosts.push_back(pid);
  }
  // A guard against a hang, not a timing: the hosts take well under a second
  // each; a minute without all of them done is a deadlock.
  int done = 0, failed = 0;
  for (int tick = 0; tick < 600 && done < kHosts; ++tick) {
    for (pid_t& pid : hosts) {
      int status = 0;
      if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
        ++done;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
        pid = 0;
      }
    }
    if (done < kHosts) ::usleep(100000);
  }
  for (pid_t pid : hosts) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  CHECK(done == kHosts);  // else: hosts stuck waiting for each other's lock
  CHECK(failed == 0);     // a host whose held descriptor was not the dir at its path
}
