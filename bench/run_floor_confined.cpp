// SPDX-License-Identifier: AGPL-3.0-or-later
// The floor of a durable *confined* run, the second anchor of `run noop`:
// bench/run_floor.c plus only what confining the plugin child costs. The
// parent appends a start record and fdatasyncs it, makes one private per-run
// directory (0700), forks; the child sets no_new_privs, no core dumps (not
// dumpable, RLIMIT_CORE 0), restricts itself with a Landlock ruleset holding
// the runtime rules of a noop run's sandbox plan (host/src/supervise/
// sandbox.cpp: the same paths, kinds and rights) plus a write rule on its
// directory and a read rule on the plugin file, loads the host's seccomp
// filter with one seccomp(2), then dlopens the plugin; the parent waits,
// removes the directory, appends an end record and fdatasyncs.
//   run_floor_confined <state-dir> <plugin.so>
//   run_floor_confined --rules        its runtime rules, "read|write <path>" a line
//
// Only C APIs and raw system calls, as sandbox_apply.cpp makes them, with the
// same Landlock constants and rights (host/src/supervise/landlock_abi.hpp).
// It is C++ for one reason: the seccomp filter is the host's own BPF, the
// source the host's build generates (dihya_seccomp_filter_gen, compiled in
// here by bench/CMakeLists.txt), loaded as the host loads it on a kernel
// with Landlock ABI 6+. Linked with --as-needed: no libstdc++ at start-up,
// like the C floor, so the plugin's dlopen pays for it in both.
//
// Differences from a noop run, all in the floor's favour: the run has two
// write rules (work dir and output dir, the output dir inside the run's
// record dir) where the floor has one directory; the host dlopens the plugin
// through /proc/self/fd/N (the descriptor it checked), the floor by path; on
// a kernel below Landlock ABI 6 the host compiles its filter with libseccomp
// in the child, the floor still loads the precompiled one.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "supervise/landlock_abi.hpp"
#include "supervise/seccomp_rules.hpp"

namespace {

using namespace dihya::host::landlock;

enum Kind { kDirectory, kFile, kDevice };

struct Rule {
  const char* path;
  std::uint64_t rights;
  Kind kind;
};

// A noop run's plan without its two dirs: sandbox.cpp's kRuntimeRead, then
// /dev/null (write) and /proc/self (read). Paths this system lacks are
// skipped, as the host skips them.
const Rule kRuntimeRules[] = {
    {"/lib", kReadRights, kDirectory},
    {"/lib64", kReadRights, kDirectory},
    {"/lib32", kReadRights, kDirectory},
    {"/usr/lib", kReadRights, kDirectory},
    {"/usr/lib64", kReadRights, kDirectory},
    {"/usr/lib32", kReadRights, kDirectory},
    {"/usr/local/lib", kReadRights, kDirectory},
    {"/usr/share/zoneinfo", kReadRights, kDirectory},
    {"/etc/ld.so.cache", kReadRights, kFile},
    {"/etc/localtime", kReadRights, kFile},
    {"/etc/nsswitch.conf", kReadRights, kFile},
    {"/sys/devices/system/cpu", kReadRights, kDirectory},
    {"/dev/urandom", kReadRights, kDevice},
    {"/dev/random", kReadRights, kDevice},
    {"/dev/zero", kReadRights, kDevice},
    {"/dev/null", kWriteRights, kDevice},
    {"/proc/self", kReadRights, kDirectory},
};

int append(int fd, const char* what) {
  char line[256];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = std::snprintf(line, sizeof line, "{\"op\":\"%s\",\"pid\":%d,\"t\":%lld.%09ld}\n", what,
                        static_cast<int>(getpid()), static_cast<long long>(ts.tv_sec), ts.tv_nsec);
  if (write(fd, line, static_cast<size_t>(n)) != n) return -1;
  return fdatasync(fd);
}

bool add_rule(int ruleset, std::uint64_t handled, int fd, std::uint64_t rights, Kind kind) {
  struct landlock_path_beneath_attr rule;
  std::memset(&rule, 0, sizeof rule);
  rule.allowed_access = rule_rights(rights, kind == kDirectory, kind == kDevice) & handled;
  rule.parent_fd = fd;
  return syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
}

bool add_path(int ruleset, std::uint64_t handled, const char* path, std::uint64_t rights, Kind kind) {
  const int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return true;  // a runtime dir this system lacks (/lib32)
  const bool ok = add_rule(ruleset, handled, fd, rights, kind);
  close(fd);
  return ok;
}

// The Landlock part of the host's apply_sandbox() for a noop run.
const char* restrict_files(const char* run_dir, int plugin_fd) {
  const long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return "no Landlock in this kernel";
  const Ruleset all = ruleset_for(static_cast<int>(abi));
  const int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &all.attr, all.size, 0));
  if (ruleset < 0) return "landlock_create_ruleset";
  const std::uint64_t handled = all.attr.handled_access_fs;
  bool ok = true;
  for (const Rule& r : kRuntimeRules) ok = add_path(ruleset, handled, r.path, r.rights, r.kind) && ok;
  ok = add_path(ruleset, handled, run_dir, kWriteRights, kDirectory) && ok;
  ok = add_rule(ruleset, handled, plugin_fd, kFsReadFile, kFile) && ok;
  if (!ok) return "landlock_add_rule";
  const bool restricted = syscall(SYS_landlock_restrict_self, ruleset, 0) == 0;
  close(ruleset);
  return restricted ? nullptr : "landlock_restrict_self";
}

// Everything the child does before the plugin's first instruction.
const char* confine(const char* run_dir, int plugin_fd) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "no_new_privs";
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (const char* failed = restrict_files(run_dir, plugin_fd)) return failed;
  // The filter of a plugin that declares no network and starts no program (noop's).
  const dihya::host::PrecompiledFilter filter = dihya::host::precompiled_child_seccomp_filter(false, false);
  if (filter.size == 0) return "no precompiled seccomp filter for this architecture";
  struct sock_fprog program;
  program.len = static_cast<unsigned short>(filter.size);
  program.filter = const_cast<struct sock_filter*>(filter.code);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) return "seccomp";
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--rules") == 0) {
    for (const Rule& r : kRuntimeRules) std::printf("%s %s\n", r.rights == kWriteRights ? "write" : "read", r.path);
    return 0;
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: run_floor_confined <state-dir> <plugin.so> | --rules\n");
    return 2;
  }
  char path[4096];
  char run_dir[4096];
  mkdir(argv[1], 0700);
  std::snprintf(path, sizeof path, "%s/floor.log", argv[1]);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || append(fd, "start") != 0) {
    std::perror(path);
    return 1;
  }
  std::snprintf(path, sizeof path, "%s/work", argv[1]);
  mkdir(path, 0700);
  std::snprintf(run_dir, sizeof run_dir, "%s/work/%d", argv[1], static_cast<int>(getpid()));
  const int plugin_fd = open(argv[2], O_PATH | O_CLOEXEC);
  if (mkdir(run_dir, 0700) != 0 || plugin_fd < 0) {
    std::perror(plugin_fd < 0 ? argv[2] : run_dir);
    return 1;
  }
  pid_t child = fork();
  if (child == 0) {
    if (const char* failed = confine(run_dir, plugin_fd)) {
      std::fprintf(stderr, "run_floor_confined: %s: %s\n", failed, std::strerror(errno));
      _exit(4);
    }
    void* handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    _exit(handle != nullptr ? 0 : 3);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return 1;
  if (rmdir(run_dir) != 0 || append(fd, "end") != 0) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
