// SPDX-License-Identifier: AGPL-3.0-or-later
// Starting programs (dihya/child_process.hpp) with real processes: streams,
// environment, descriptor hygiene, exec failures and process groups.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <dihya/child_process.hpp>

namespace {

// Runs `argv` with stdout into a pipe; returns what it printed and its exit code.
std::string run_capturing(const std::vector<std::string>& argv, dihya::SpawnOptions options, int* code) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  dihya::UniqueFd read_end(fds[0]);
  dihya::UniqueFd write_end(fds[1]);
  options.stdout_fd = write_end.get();
  pid_t pid = 0;
  const std::error_code ec = dihya::spawn_process(argv, options, &pid);
  REQUIRE_FALSE(ec);
  write_end.reset();
  std::string out;
  REQUIRE_FALSE(dihya::read_all(read_end.get(), &out));
  *code = dihya::wait_process(pid);
  return out;
}

}  // namespace

TEST_CASE("spawn_process runs an argv and captures its stdout", "[child_process]") {
  int code = -1;
  CHECK(run_capturing({"/bin/echo", "a b", "$HOME;"}, {}, &code) == "a b $HOME;\n");
  CHECK(code == 0);
}

TEST_CASE("spawn_process reports a missing program as ENOENT, not as exit 127", "[child_process]") {
  pid_t pid = 0;
  const std::error_code ec = dihya::spawn_process({"/nonexistent/program"}, {}, &pid);
  REQUIRE(ec);
  CHECK(ec.value() == ENOENT);
  CHECK(pid == 0);
}

TEST_CASE("spawn_process gives the child exactly the environment it is told", "[child_process]") {
  const std::vector<std::string> env{"ONLY=this"};
  dihya::SpawnOptions options;
  options.environment = &env;
  int code = -1;
  CHECK(run_capturing({"/usr/bin/env"}, options, &code) == "ONLY=this\n");
  CHECK(code == 0);
}

TEST_CASE("spawn_process leaks no descriptor of ours, even one opened without O_CLOEXEC", "[child_process]") {
  dihya::UniqueFd leaky(::open("/dev/null", O_RDONLY));  // deliberately inheritable
  REQUIRE(leaky);
  REQUIRE((::fcntl(leaky.get(), F_GETFD) & FD_CLOEXEC) == 0);
  const std::string probe = "test -e /proc/self/fd/" + std::to_string(leaky.get()) + " && echo leaked || echo closed";
  int code = -1;
  CHECK(run_capturing({"/bin/sh", "-c", probe}, {}, &code) == "closed\n");
  // The guard: the same probe sees a descriptor the child does have.
  CHECK(run_capturing({"/bin/sh", "-c", "test -e /proc/self/fd/1 && echo leaked || echo closed"}, {}, &code) ==
        "leaked\n");
}

TEST_CASE("spawn_process gives /dev/null for streams not given, and returns the exit code", "[child_process]") {
  int code = -1;
  CHECK(run_capturing({"/bin/cat"}, {}, &code).empty());
  CHECK(code == 0);
  run_capturing({"/bin/sh", "-c", "exit 7"}, {}, &code);
  CHECK(code == 7);
}

TEST_CASE("spawn_process can put the child in a process group of its own", "[child_process]") {
  dihya::SpawnOptions options;
  options.own_process_group = true;
  pid_t pid = 0;
  REQUIRE_FALSE(dihya::spawn_process({"/bin/sleep", "30"}, options, &pid));
  CHECK(::getpgid(pid) == pid);
  REQUIRE(::kill(-pid, SIGTERM) == 0);
  CHECK(dihya::wait_process(pid) == 128 + SIGTERM);
}

TEST_CASE("environment_without drops the entries of the given prefixes, keeps the rest", "[child_process]") {
  ::setenv("DIHYA_TEST_ENV_DROP", "1", 1);
  ::setenv("DIHYA_TEST_ENV_DROPPED_TOO", "2", 1);
  ::setenv("DIHYA_TEST_ENV_KEEP", "3", 1);
  ::setenv("DIHYA_TEST_ENV_DROPX", "4", 1);  // the name, not a prefix of it, when "=" ends the prefix
  const std::vector<std::string> env =
      dihya::environment_without({"DIHYA_TEST_ENV_DROP=", "DIHYA_TEST_ENV_DROPPED"});
  const auto has = [&](const std::string& entry) { return std::find(env.begin(), env.end(), entry) != env.end(); };
  CHECK_FALSE(has("DIHYA_TEST_ENV_DROP=1"));
  CHECK_FALSE(has("DIHYA_TEST_ENV_DROPPED_TOO=2"));
  CHECK(has("DIHYA_TEST_ENV_KEEP=3"));
  CHECK(has("DIHYA_TEST_ENV_DROPX=4"));
  CHECK(env.size() + 2 == dihya::environment_without({}).size());
  for (const char* name : {"DIHYA_TEST_ENV_DROP", "DIHYA_TEST_ENV_DROPPED_TOO", "DIHYA_TEST_ENV_KEEP", "DIHYA_TEST_ENV_DROPX"}) {
    ::unsetenv(name);
  }
}
