// SPDX-License-Identifier: AGPL-3.0-or-later
// connection_password() answers a remembered connection string without
// loading libpq: remember_connection_password() parses it in a child that
// exits, so the process (the scheduler's zygote) and its later forks never
// map libpq for it. Checked in a forked child of the test, whose mappings
// are read from /proc/self/maps before and after.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "db/libpq.hpp"

namespace {

bool libpq_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::stringstream text;
  text << maps.rdbuf();
  return text.str().find("libpq.so") != std::string::npos;
}

// Runs `body` in a fresh child (this test process may have loaded libpq in
// other tests); its exit code: 0 when every check held, else which failed.
int in_child(int (*body)()) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("a remembered connection string's password comes without libpq", "[db]") {
  const int failed = in_child([] {
    if (libpq_mapped()) return 10;  // loaded before the fork: nothing to show here
    const std::string url = "postgresql://alice:s3cr%40t@db.example:5432/app";
    const std::string keywords = "host=/run/pg dbname=app password='it\\'s'";
    dihya::host::remember_connection_password(url);
    dihya::host::remember_connection_password(keywords);
    dihya::host::remember_connection_password("dbname=app");
    if (libpq_mapped()) return 1;
    if (dihya::host::connection_password(url) != std::optional<std::string>("s3cr@t")) return 2;
    if (dihya::host::connection_password(keywords) != std::optional<std::string>("it's")) return 3;
    if (dihya::host::connection_password("dbname=app").has_value()) return 4;
    if (libpq_mapped()) return 5;
    // A string not remembered: libpq is loaded to parse it.
    if (dihya::host::connection_password("postgresql://bob:pw@h/db") != std::optional<std::string>("pw")) return 6;
    return libpq_mapped() ? 0 : 7;
  });
  if (failed == 10) {
    WARN("libpq was loaded in this test process before the check");
    return;
  }
  CHECK(failed == 0);
}
