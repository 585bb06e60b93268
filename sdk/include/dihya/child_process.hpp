// SPDX-License-Identifier: AGPL-3.0-or-later
// Starting a program, written once for the host and the plugins: an argv
// (never a shell command line), an explicit environment, standard streams the
// caller chooses (anything not given is /dev/null, so a child never reads the
// operator's terminal or writes into a protocol pipe), and no other descriptor
// of ours in the child: a database socket, the host's event pipe or a secret
// file must never leak into pg_dump or a job. spawn_process() reports a
// program that cannot be executed as an error of its own (the child's execve
// errno, passed back over a close-on-exec pipe), not as a child that exits 127.
// Header-only, Linux only.
#pragma once

#include <cerrno>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dihya/file_io.hpp>

extern char** environ;

namespace dihya {

// Who the child becomes before exec (a root process starting a tool as an
// unprivileged user): supplementary groups, then gid, then uid.
struct SpawnCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct SpawnOptions {
  // The file to execute (a path, no PATH search); empty: argv[0].
  std::string program;
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // -1: /dev/null
  int stderr_fd = -1;  // -1: /dev/null
  // The child's whole environment ("NAME=value" entries); null: ours.
  const std::vector<std::string>* environment = nullptr;
  // The child's working directory; empty: ours.
  std::string working_directory;
  // The child's umask; -1: ours.
  int umask = -1;
  // null: the child keeps our user and groups.
  const SpawnCredentials* become = nullptr;
  // A process group of its own: the terminal's Ctrl-C does not reach it, and
  // kill(-pid, ...) stops it with everything it started.
  bool own_process_group = false;
  // A signal the child gets when the thread that started it dies (Linux
  // PR_SET_PDEATHSIG); 0: none. Set before exec, and checked against a parent
  // that died before it could be set.
  int parent_death_signal = 0;
};

namespace detail {

// The steps of the child between fork and exec, for the error message.
enum SpawnStep : int { kStepRedirect, kStepProcessGroup, kStepDeathSignal, kStepSetgroups, kStepSetgid,
                       kStepSetuid, kStepChdir, kStepExec };

inline const char* spawn_step_name(int step) {
  switch (step) {
    case kStepRedirect: return "redirecting its standard streams";
    case kStepProcessGroup: return "setpgid";
    case kStepDeathSignal: return "prctl(PR_SET_PDEATHSIG)";
    case kStepSetgroups: return "setgroups";
    case kStepSetgid: return "setgid";
    case kStepSetuid: return "setuid";
    case kStepChdir: return "changing directory";
    default: return "exec";
  }
}

struct SpawnFailure {
  int step;
  int error;
};

inline std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Tells the parent which step failed and why; then the child ends.
[[noreturn]] inline void child_failed(int report_fd, int step) {
  const SpawnFailure failure{step, errno};
  ssize_t ignored = ::write(report_fd, &failure, sizeof failure);
  static_cast<void>(ignored);  // nobody left to tell: the parent sees exit 127
  ::_exit(127);
}

// The forked child of a possibly multi-threaded process: async-signal-safe
// calls only, nothing allocated.
[[noreturn]] inline void exec_child(const SpawnOptions& options, char* const* argv, char* const* envp, int in, int out,
                                    int err, int report_fd, pid_t parent) {
  if (options.own_process_group && ::setpgid(0, 0) != 0) child_failed(report_fd, kStepProcessGroup);
  if (options.parent_death_signal != 0) {
    if (::prctl(PR_SET_PDEATHSIG, options.parent_death_signal) != 0) child_failed(report_fd, kStepDeathSignal);
    if (::getppid() != parent) ::_exit(127);
  }
  // A source may itself be 0, 1 or 2: move the sources above 2 first, so that
  // installing one stream never overwrites the source of another.
  int sources[3] = {in, out, err};
  for (int& fd : sources) {
    if (fd <= 2 && (fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) child_failed(report_fd, kStepRedirect);
  }
  for (int target = 0; target < 3; ++target) {
    if (::dup2(sources[target], target) != target) child_failed(report_fd, kStepRedirect);
  }
  // Close-on-exec for every other descriptor, whoever opened it without
  // O_CLOEXEC (a library, a plugin's own code). The report pipe has it already.
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC, Linux 5.11 */) != 0) {
    const long max = ::sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  // A blocked or ignored signal survives exec: the child starts with neither.
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &defaults, nullptr);
  if (options.become) {
    if (::setgroups(options.become->groups.size(), options.become->groups.data()) != 0) {
      child_failed(report_fd, kStepSetgroups);
    }
    if (::setgid(options.become->gid) != 0) child_failed(report_fd, kStepSetgid);
    if (::setuid(options.become->uid) != 0) child_failed(report_fd, kStepSetuid);
  }
  if (!options.working_directory.empty() && ::chdir(options.working_directory.c_str()) != 0) {
    child_failed(report_fd, kStepChdir);
  }
  if (options.umask >= 0) ::umask(static_cast<mode_t>(options.umask));
  ::execve(options.program.empty() ? argv[0] : options.program.c_str(), argv, envp);
  child_failed(report_fd, kStepExec);
}

}  // namespace detail

// Starts `options.program` (or `argv[0]`) with `argv`; on success sets `*pid`
// (the caller waits for it, e.g. with wait_process) and returns no error.
// Otherwise returns the errno of what failed (fork, a stream, setuid, chdir,
// the execve itself: ENOENT, EACCES...) and, when `failed_step` is not null,
// names that step there; no child is left behind. The descriptors in
// `options` stay the caller's. Thread-safe.
[[nodiscard]] inline std::error_code spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options,
                                                   pid_t* pid, std::string* failed_step = nullptr) {
  auto failed = [failed_step](const char* step, int error) {
    if (failed_step) *failed_step = step;
    return std::error_code(error, std::generic_category());
  };
  if (argv.empty()) return failed("exec", EINVAL);
  // Everything the child needs is made before fork: after it, no allocation.
  const std::vector<char*> c_argv = detail::c_strings(argv);
  const std::vector<char*> c_env = options.environment ? detail::c_strings(*options.environment) : std::vector<char*>();
  char* const* envp = options.environment ? c_env.data() : environ;
  UniqueFd null_fd;
  if (options.stdin_fd < 0 || options.stdout_fd < 0 || options.stderr_fd < 0) {
    null_fd.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null_fd) return failed("opening /dev/null", errno);
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return failed("pipe", errno);
  UniqueFd report_read(report[0]);
  UniqueFd report_write(report[1]);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) return failed("fork", errno);
  if (child == 0) {
    detail::exec_child(options, c_argv.data(), envp, options.stdin_fd >= 0 ? options.stdin_fd : null_fd.get(),
                       options.stdout_fd >= 0 ? options.stdout_fd : null_fd.get(),
                       options.stderr_fd >= 0 ? options.stderr_fd : null_fd.get(), report[1], parent);
  }
  // Also from this side, so that a kill(-pid) right after we return reaches
  // the group even if the child has not run yet (EACCES once it has exec'd).
  if (options.own_process_group) ::setpgid(child, child);
  report_write.reset();
  detail::SpawnFailure failure{};
  ssize_t got;
  while ((got = ::read(report_read.get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof failure)) {
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return failed(detail::spawn_step_name(failure.step), failure.error);
  }
  *pid = child;
  return {};
}

// Our environment ("NAME=value" entries) without the entries that start with
// one of `prefixes` ("PGPASSWORD=" drops one variable, "DIHYA_SCHEDULE_" a
// family): the base of a SpawnOptions::environment the caller then adds to.
inline std::vector<std::string> environment_without(std::initializer_list<std::string_view> prefixes) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    bool dropped = false;
    for (std::string_view prefix : prefixes) dropped = dropped || entry.substr(0, prefix.size()) == prefix;
    if (!dropped) env.emplace_back(entry);
  }
  return env;
}

// Waits for `pid` and returns its exit code, or 128 + the signal that ended
// it (the shell's convention). -1 when it is not our child.
inline int wait_process(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace dihya
