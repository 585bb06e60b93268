// SPDX-License-Identifier: AGPL-3.0-or-later
// Stands for a hostile plugin: it tries each way out of the sandbox and
// reports, per attempt, "ok" (it got through) or the errno name that stopped
// it. Whatever succeeds is undone at once (the host is only sent SIGCONT, a
// ptrace seize is detached), so a run with the sandbox off harms nothing.
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sched.h>
#include <spawn.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dihya/plugin.hpp>

extern char** environ;

namespace escape {

// The host's pid: the host_pid parameter, else this process's parent as
// /proc (mounted in the host's pid namespace) shows it. In a pid namespace of
// the run's own, getppid() numbers only mean something inside it.
pid_t host_pid(const nlohmann::json& params) {
  if (params.contains("host_pid")) return params["host_pid"].get<pid_t>();
  char text[512] = {};
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ::getppid();
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  const char* p = n > 0 ? std::strrchr(text, ')') : nullptr;  // the name may hold spaces and parentheses
  if (p != nullptr) p = std::strchr(p + 2, ' ');                // past the state: the parent's pid
  return p == nullptr ? ::getppid() : static_cast<pid_t>(std::atol(p + 1));
}

// The pid of this process's one child as /proc shows it, or `fallback`.
pid_t child_pid_in_proc(pid_t fallback) {
  char text[64] = {};
  const int fd = ::open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fallback;
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  return n > 0 ? static_cast<pid_t>(std::atol(text)) : fallback;
}

std::string outcome(int rc) { return rc >= 0 ? "ok" : (strerrorname_np(errno) ? strerrorname_np(errno) : "E?"); }

std::string try_open(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  const std::string r = outcome(fd);
  if (fd >= 0) {
    if (flags & O_APPEND) (void)!::write(fd, "", 0);  // opening for append is the escape; nothing is written
    ::close(fd);
  }
  return r;
}

std::string try_tcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return outcome(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const std::string r = outcome(rc);
  ::close(fd);
  return r;
}

std::string try_abstract(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return outcome(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t n = std::min(name.size(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path + 1, name.data(), n);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(sizeof(sa_family_t) + 1 + n));
  const std::string r = outcome(rc);
  ::close(fd);
  return r;
}

std::string try_exec() {
  pid_t pid = 0;
  char arg0[] = "sh";
  char arg1[] = "-c";
  char arg2[] = "exit 0";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  const int rc = ::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ);
  if (rc != 0) {
    errno = rc;
    return outcome(-1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "ok";
  errno = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? EACCES : ECHILD;
  return outcome(-1);
}

std::string try_ptrace(pid_t host) {
  const long rc = ::ptrace(PTRACE_SEIZE, host, nullptr, nullptr);
  const std::string r = outcome(rc < 0 ? -1 : 0);
  if (rc == 0) ::ptrace(PTRACE_DETACH, host, nullptr, nullptr);
  return r;
}

std::string try_unshare() {
  // In a child: a namespace that worked must not change the plugin itself.
  const pid_t pid = ::fork();
  if (pid < 0) return outcome(::unshare(CLONE_NEWUSER));  // no process to spare: here (the run ends soon)
  if (pid == 0) _exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
  if (code == 0) return "ok";
  errno = code;
  return outcome(-1);
}

std::string try_packet_socket() {
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  const std::string r = outcome(fd);
  if (fd >= 0) ::close(fd);
  return r;
}

std::string try_io_uring() {
  io_uring_params params{};
  const long fd = ::syscall(SYS_io_uring_setup, 4, &params);
  const std::string r = outcome(fd < 0 ? -1 : 0);
  if (fd >= 0) ::close(static_cast<int>(fd));
  return r;
}

// A process meant to outlive the run: it leaves the run's process group
// with a new session (its outcome is returned once it has tried), waits until its parent
// (the plugin child) is gone and 0.3 s more, then for `ms` keeps creating files through
// descriptors of the run's work and output dirs, to land in whatever run
// gets those directories next. Returns its pid as the host sees it.
pid_t linger(const dihya::Context& ctx, int ms, std::string* left_group) {
  const int work = ::open(ctx.work_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int output = ::open(ctx.output_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int tried[2];
  if (::pipe2(tried, O_CLOEXEC) != 0) throw dihya::Error("pipe2 failed");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *left_group = "fork: " + outcome(-1);
    for (int fd : {tried[0], tried[1], work, output}) ::close(fd);
    return -1;
  }
  if (pid != 0) {
    ::close(tried[1]);
    char result[64] = {};
    const ssize_t n = ::read(tried[0], result, sizeof result - 1);
    *left_group = n > 0 ? std::string(result, static_cast<std::size_t>(n)) : "E?";
    ::close(tried[0]);
    ::close(work);
    ::close(output);
    return child_pid_in_proc(pid);
  }
  const std::string left = outcome(::setsid());
  (void)!::write(tried[1], left.data(), left.size());
  ::close(tried[1]);
  while (::getppid() == parent) ::usleep(1000);
  ::usleep(300 * 1000);  // the host has recorded the end and put the dirs away
  for (int i = 0; i < ms / 5; ++i) {
    const std::string name = "lingered-" + std::to_string(i);
    for (int dir : {work, output}) {
      const int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
    ::usleep(5000);
  }
  ::_exit(0);
}

class Escape final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const nlohmann::json& p = params.json();
    const auto text = [&](const char* key) { return p.value(key, std::string()); };
    if (!text("fail_reading").empty()) {
      const int fd = ::open(text("fail_reading").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw dihya::Error("cannot read " + text("fail_reading") + ": " + std::strerror(errno));
      ::close(fd);
      return dihya::Result::success("read it");
    }
    const pid_t host = host_pid(p);
    nlohmann::json attempts = nlohmann::json::object();
    if (!text("canary").empty()) attempts["read_canary"] = try_open(text("canary"), O_RDONLY);
    attempts["read_shadow"] = try_open("/etc/shadow", O_RDONLY);
    attempts["read_host_environ"] = try_open("/proc/" + std::to_string(host) + "/environ", O_RDONLY);
    if (!text("outside_dir").empty()) {
      attempts["write_outside"] = try_open(text("outside_dir") + "/escaped.txt", O_WRONLY | O_CREAT | O_TRUNC);
    }
    if (!text("audit_log").empty()) attempts["append_audit_log"] = try_open(text("audit_log"), O_WRONLY | O_APPEND);
    if (!text("record").empty()) attempts["append_run_record"] = try_open(text("record"), O_WRONLY | O_APPEND);
    if (p.contains("listen_port")) attempts["tcp_connect"] = try_tcp(p["listen_port"].get<int>());
    if (!text("abstract_name").empty()) attempts["abstract_unix_connect"] = try_abstract(text("abstract_name"));
    attempts["exec_sh"] = try_exec();
    attempts["ptrace_host"] = try_ptrace(host);
    attempts["signal_host"] = outcome(::kill(host, SIGCONT));
    attempts["unshare_user"] = try_unshare();
    attempts["packet_socket"] = try_packet_socket();
    attempts["io_uring"] = try_io_uring();

    // What the plugin may do: its output dir, and what it declared.
    nlohmann::json allowed = nlohmann::json::object();
    allowed["write_output"] = try_open((ctx.output_dir() / "mine.txt").string(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!text("allowed_dir").empty()) {
      allowed["write_declared"] = try_open(text("allowed_dir") + "/declared.txt", O_WRONLY | O_CREAT | O_TRUNC);
    }
    if (p.contains("allowed_port")) allowed["tcp_declared"] = try_tcp(p["allowed_port"].get<int>());

    nlohmann::json data = {{"attempts", attempts}, {"allowed", allowed}};
    if (p.contains("linger_ms")) {
      std::string left_group;
      data["lingerer"] = linger(ctx, p["linger_ms"].get<int>(), &left_group);
      data["lingerer_new_session"] = left_group;
      if (p.contains("hang_ms")) {
        // Still running, its process alive: for a test that kills the host now.
        const std::string pid_file = text("allowed_dir") + "/lingerer.pid";
        const std::string pid = std::to_string(data["lingerer"].get<int>()) + "\n";
        const int fd = ::open(pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ::write(fd, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
          throw dihya::Error("cannot write " + pid_file);
        }
        ::close(fd);
        for (int ms = 0; ms < p["hang_ms"].get<int>() && !ctx.cancelled(); ms += 10) ::usleep(10 * 1000);
      }
    }

    int escaped = 0;
    for (const auto& [name, result] : attempts.items()) escaped += result == "ok" ? 1 : 0;
    return dihya::Result::success(std::to_string(escaped) + " of " + std::to_string(attempts.size()) +
                                      " escapes got through",
                                  data);
  }
};

}  // namespace escape

DIHYA_PLUGIN(escape::Escape)
