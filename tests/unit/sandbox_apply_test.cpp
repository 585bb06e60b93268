// SPDX-License-Identifier: AGPL-3.0-or-later
// Applying the sandbox in a real (forked) child. The seccomp filter compiled
// at build time is byte for byte what libseccomp makes of the rules (so it
// refuses exactly what the rules refuse), and each way of applying it
// refuses; Landlock rules whose kind the plan guessed wrong still apply.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/seccomp.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "supervise/sandbox.hpp"
#include "supervise/seccomp_rules.hpp"

using dihya::host::PrecompiledFilter;
using dihya::host::SandboxMode;
using dihya::host::SandboxPlan;

namespace {

// Runs `body` in a forked child and returns what it wrote (its failed checks).
std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const std::string failures = body();
    if (!failures.empty() && ::write(fds[1], failures.data(), failures.size()) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

// "" when the call returned `expected` (0: success, else -errno), else what it did.
std::string expect(const char* what, long result, int expected) {
  const int got = result < 0 ? -errno : 0;
  if (got == expected) return "";
  return std::string(what) + ": got " + (got == 0 ? "success" : std::strerror(-got)) + "; ";
}

int socket_result(int family, int type) {
  const int fd = ::socket(family, type, 0);
  if (fd >= 0) ::close(fd);
  return fd;
}

bool load_precompiled(bool ip_sockets, bool processes = true) {
  const PrecompiledFilter filter = dihya::host::precompiled_child_seccomp_filter(ip_sockets, processes);
  sock_fprog program{static_cast<unsigned short>(filter.size), const_cast<sock_filter*>(filter.code)};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0;
}

}  // namespace

TEST_CASE("the precompiled seccomp filter is the one libseccomp compiles from the rules", "[sandbox]") {
  REQUIRE(dihya::host::compiled_audit_arch() != 0);  // the test machines are x86_64 or aarch64
  for (bool ip_sockets : {false, true}) {
    for (bool processes : {false, true}) {
      INFO("ip_sockets " << ip_sockets << ", processes " << processes);
      std::string error;
      const std::vector<sock_filter> compiled = dihya::host::export_child_seccomp_filter(ip_sockets, processes, &error);
      REQUIRE(error.empty());
      REQUIRE(compiled.size() > 10);
      const PrecompiledFilter precompiled = dihya::host::precompiled_child_seccomp_filter(ip_sockets, processes);
      REQUIRE(precompiled.size == compiled.size());
      CHECK(std::memcmp(precompiled.code, compiled.data(), compiled.size() * sizeof(sock_filter)) == 0);
    }
  }
  // They differ (IP sockets, processes), so none stands for another.
  CHECK(dihya::host::precompiled_child_seccomp_filter(false, true).size !=
        dihya::host::precompiled_child_seccomp_filter(true, true).size);
  CHECK(dihya::host::precompiled_child_seccomp_filter(false, false).size !=
        dihya::host::precompiled_child_seccomp_filter(false, true).size);
}

TEST_CASE("the precompiled filter refuses ptrace, namespaces, raw and (undeclared) IP sockets", "[sandbox]") {
  SECTION("no network declared") {
    const std::string failures = in_child([] {
      // Guard: the calls the filter must refuse work before it is loaded.
      std::string f = expect("socket(AF_INET) before", socket_result(AF_INET, SOCK_STREAM), 0);
      if (!load_precompiled(false)) return std::string("cannot load the filter: ") + std::strerror(errno);
      f += expect("socket(AF_INET)", socket_result(AF_INET, SOCK_STREAM), -EAFNOSUPPORT);
      f += expect("socket(AF_INET6)", socket_result(AF_INET6, SOCK_STREAM), -EAFNOSUPPORT);
      f += expect("socket(AF_PACKET)", socket_result(AF_PACKET, SOCK_DGRAM), -EAFNOSUPPORT);
      f += expect("socket(AF_UNIX)", socket_result(AF_UNIX, SOCK_STREAM), 0);
      f += expect("ptrace", ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), -EPERM);
      f += expect("unshare(CLONE_NEWUSER)", ::unshare(CLONE_NEWUSER), -EPERM);
      f += expect("unshare(CLONE_NEWNET)", ::unshare(CLONE_NEWNET), -EPERM);
      f += expect("clone3", ::syscall(SYS_clone3, nullptr, 0), -ENOSYS);
      const rlimit none{0, 0};
      f += expect("prlimit(parent, RLIMIT_FSIZE)", ::prlimit(::getppid(), RLIMIT_FSIZE, &none, nullptr), -EPERM);
      rlimit data{};
      f += expect("getrlimit(RLIMIT_DATA)", ::getrlimit(RLIMIT_DATA, &data), 0);
      f += expect("setrlimit(RLIMIT_DATA)", ::setrlimit(RLIMIT_DATA, &data), -EPERM);
      // Whole process groups' and users' priorities (root renicing every
      // root process). Aimed at a user and a group that have no process:
      // without the filter the answer is ESRCH, and nothing is reniced.
      const id_t nobody = 2147480000;
      f += expect("setpriority(PRIO_USER)", ::setpriority(PRIO_USER, nobody, 19), -EPERM);
      f += expect("setpriority(PRIO_PGRP)", ::setpriority(PRIO_PGRP, nobody, 19), -EPERM);
      f += expect("ioprio_set(IOPRIO_WHO_USER)", ::syscall(SYS_ioprio_set, 3, nobody, 0), -EPERM);
      f += expect("setpriority(self)", ::setpriority(PRIO_PROCESS, 0, 1), 0);
      return f;
    });
    CHECK(failures == "");
  }
  SECTION("no program and no processes declared: threads, but no new process") {
    const std::string failures = in_child([] {
      if (!load_precompiled(false, false)) return std::string("cannot load the filter: ") + std::strerror(errno);
      std::string f = expect("fork", ::syscall(SYS_fork), -EPERM);
      f += expect("vfork", ::syscall(SYS_vfork), -EPERM);
      f += expect("clone(SIGCHLD)", ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr), -EPERM);
      const pid_t pid = ::fork();  // libc's fork: clone without CLONE_THREAD
      if (pid == 0) ::_exit(0);
      if (pid > 0) ::waitpid(pid, nullptr, 0);
      f += expect("fork()", pid, -EPERM);
      std::thread thread([] {});
      thread.join();
      return f;
    });
    CHECK(failures == "");
  }
  SECTION("network declared: TCP, never raw") {
    const std::string failures = in_child([] {
      if (!load_precompiled(true)) return std::string("cannot load the filter: ") + std::strerror(errno);
      std::string f = expect("socket(AF_INET)", socket_result(AF_INET, SOCK_STREAM), 0);
      f += expect("socket(AF_INET6)", socket_result(AF_INET6, SOCK_STREAM), 0);
      f += expect("socket(AF_INET, SOCK_RAW)", socket_result(AF_INET, SOCK_RAW), -EPERM);
      return f;
    });
    CHECK(failures == "");
  }
}

TEST_CASE("without Landlock's signal scoping, seccomp itself refuses signals to the host", "[sandbox]") {
  // No Landlock in the plan: apply_sandbox compiles the filter with the host's pid.
  SandboxPlan plan;
  plan.mode = SandboxMode::require;
  plan.landlock = false;
  plan.seccomp = true;
  const std::string failures = in_child([&] {
    const pid_t host = ::getppid();
    std::string f = expect("kill(host, 0) before", ::kill(host, 0), 0);
    const std::string error = dihya::host::apply_sandbox(plan, -1, static_cast<int>(host));
    if (!error.empty()) return "apply_sandbox: " + error;
    f += expect("kill(host, 0)", ::kill(host, 0), -EPERM);
    f += expect("kill(-1, 0)", ::kill(-1, 0), -EPERM);
    f += expect("tgkill(host)", ::syscall(SYS_tgkill, host, host, 0), -EPERM);
    f += expect("socket(AF_INET)", socket_result(AF_INET, SOCK_STREAM), -EAFNOSUPPORT);
    f += expect("kill(self, 0)", ::kill(::getpid(), 0), 0);
    // The roundabout ways: back into the host's process group (then kill(0)),
    // the host as the owner of a descriptor (its I/O then signals the host).
    f += expect("setpgid(0, 0)", ::setpgid(0, 0), 0);
    f += expect("setpgid(0, host's group)", ::setpgid(0, ::getpgid(host)), -EPERM);
    int fds[2];
    if (::pipe(fds) != 0) return f + "pipe failed";
    f += expect("F_SETOWN host", ::fcntl(fds[0], F_SETOWN, host), -EPERM);
    f += expect("F_SETOWN host's group", ::fcntl(fds[0], F_SETOWN, -::getpgid(host)), -EPERM);
    f += expect("F_SETOWN self", ::fcntl(fds[0], F_SETOWN, ::getpid()), 0);
    f_owner_ex owner{F_OWNER_PID, host};
    f += expect("F_SETOWN_EX", ::fcntl(fds[0], F_SETOWN_EX, &owner), -EPERM);
    int target = host;
    f += expect("FIOSETOWN", ::ioctl(fds[0], FIOSETOWN, &target), -EPERM);
    // Another process's limits (the host's RLIMIT_FSIZE at 0 kills it at
    // its next write), and the memory limit raised: both refused.
    const rlimit none{0, 0};
    f += expect("prlimit(host, RLIMIT_FSIZE)", ::prlimit(host, RLIMIT_FSIZE, &none, nullptr), -EPERM);
    rlimit data{};
    f += expect("getrlimit(RLIMIT_DATA)", ::getrlimit(RLIMIT_DATA, &data), 0);
    f += expect("setrlimit(RLIMIT_DATA)", ::setrlimit(RLIMIT_DATA, &data), -EPERM);
    f += expect("setrlimit(RLIMIT_NOFILE)", ::getrlimit(RLIMIT_NOFILE, &data) == 0 ? ::setrlimit(RLIMIT_NOFILE, &data) : -1, 0);
    // Its scheduling: priority, policy, CPUs, I/O priority.
    f += expect("setpriority(host)", ::setpriority(PRIO_PROCESS, static_cast<id_t>(host), 19), -EPERM);
    sched_param param{};
    f += expect("sched_setscheduler(host)", ::sched_setscheduler(host, SCHED_IDLE, &param), -EPERM);
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    f += expect("sched_setaffinity(host)", ::sched_setaffinity(host, sizeof cpus, &cpus), -EPERM);
    f += expect("ioprio_set(host)", ::syscall(SYS_ioprio_set, 1, host, 0), -EPERM);
    f += expect("setpriority(self)", ::setpriority(PRIO_PROCESS, 0, 1), 0);
    return f;
  });
  CHECK(failures == "");
}

TEST_CASE("with Landlock ABI 6+, the precompiled filter and Landlock together refuse signals to the host", "[sandbox]") {
  const int abi = dihya::host::landlock_abi();
  if (abi < 6) {
    WARN("Landlock ABI " << abi << ": signal scoping not testable on this kernel");
    return;
  }
  SandboxPlan plan;
  plan.mode = SandboxMode::require;
  plan.abi = abi;
  plan.rules.push_back({"/usr/lib", dihya::host::PathAccess::read, "runtime", dihya::host::PathKind::unknown, ""});
  const std::string failures = in_child([&] {
    const pid_t host = ::getppid();
    std::string f = expect("kill(host, 0) before", ::kill(host, 0), 0);
    const std::string error = dihya::host::apply_sandbox(plan, -1, static_cast<int>(host));
    if (!error.empty()) return "apply_sandbox: " + error;
    f += expect("kill(host, 0)", ::kill(host, 0), -EPERM);
    f += expect("tgkill(host)", ::syscall(SYS_tgkill, host, host, 0), -EPERM);
    f += expect("socket(AF_INET)", socket_result(AF_INET, SOCK_STREAM), -EAFNOSUPPORT);
    f += expect("ptrace", ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), -EPERM);
    f += expect("open /etc/passwd", ::open("/etc/passwd", O_RDONLY | O_CLOEXEC), -EACCES);
    return f;
  });
  CHECK(failures == "");
}

TEST_CASE("a Landlock rule whose kind the plan guessed wrong is applied with the real kind", "[sandbox]") {
  const int abi = dihya::host::landlock_abi();
  if (abi < 1) {
    WARN("no Landlock on this kernel");
    return;
  }
  char dir_template[] = "/tmp/dihya-sandbox-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string file = dir + "/granted";
  const std::string other = dir + "/other";
  for (const std::string& path : {file, other}) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  SandboxPlan plan;
  plan.mode = SandboxMode::require;
  plan.abi = abi;
  plan.seccomp = false;
  // A file said to be a directory: directory rights on a file are refused
  // by the kernel (EINVAL), so the child must ask and retry.
  plan.rules.push_back({file, dihya::host::PathAccess::read, "test", dihya::host::PathKind::directory, ""});
  const std::string failures = in_child([&] {
    const std::string error = dihya::host::apply_sandbox(plan, -1, static_cast<int>(::getppid()));
    if (!error.empty()) return "apply_sandbox: " + error;
    std::string f = expect("open granted", ::open(file.c_str(), O_RDONLY | O_CLOEXEC), 0);
    f += expect("open other", ::open(other.c_str(), O_RDONLY | O_CLOEXEC), -EACCES);
    return f;
  });
  ::unlink(file.c_str());
  ::unlink(other.c_str());
  ::rmdir(dir.c_str());
  CHECK(failures == "");
}

TEST_CASE("a checked grant whose path gained a symbolic link since the plan is left out and named", "[sandbox]") {
  const int abi = dihya::host::landlock_abi();
  if (abi < 1) {
    WARN("no Landlock on this kernel");
    return;
  }
  char dir_template[] = "/tmp/dihya-sandbox-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string elsewhere = dir + "/elsewhere";  // stands for the host's state dir
  const std::string granted = dir + "/granted";      // checked as a directory, then swapped for a link
  REQUIRE(::mkdir(elsewhere.c_str(), 0700) == 0);
  REQUIRE(::symlink(elsewhere.c_str(), granted.c_str()) == 0);
  SandboxPlan plan;
  plan.mode = SandboxMode::best_effort;  // even so
  plan.abi = abi;
  plan.seccomp = false;
  plan.rules.push_back({granted, dihya::host::PathAccess::write, "write param:dir", dihya::host::PathKind::directory, granted});
  const std::string target = elsewhere + "/planted";
  const std::string failures = in_child([&] {
    std::string moved;
    const std::string error = dihya::host::apply_sandbox(plan, -1, static_cast<int>(::getppid()), &moved);
    if (!error.empty()) return "apply_sandbox: " + error;
    std::string f = moved.find("changed since it was checked") == std::string::npos ? "moved: '" + moved + "'; " : "";
    f += expect("create through the link", ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600), -EACCES);
    return f;
  });
  CHECK(failures == "");
  ::unlink(target.c_str());
  ::unlink(granted.c_str());
  ::rmdir(elsewhere.c_str());
  ::rmdir(dir.c_str());
}
