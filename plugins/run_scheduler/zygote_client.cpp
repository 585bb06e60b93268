// SPDX-License-Identifier: AGPL-3.0-or-later
#include "zygote_client.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dihya/child_process.hpp>
#include <dihya/job_zygote.hpp>
#include <fmt/format.h>

namespace dihya_run_scheduler {

namespace {

std::string describe(int status) {
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return "ended";
}

}  // namespace

JobZygote::~JobZygote() {
  socket_.reset();
  if (pid_ == 0 || reaped_) return;
  // At end-of-file the zygote cancels what still runs and exits at once.
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string JobZygote::start(const std::filesystem::path& err_file) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return fmt::format("socketpair: {}", std::strerror(errno));
  }
  dihya::UniqueFd mine(pair[0]);
  dihya::UniqueFd theirs(pair[1]);
  const dihya::UniqueFd err(
      ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!err) return fmt::format("{}: {}", err_file.string(), std::strerror(errno));
  // Jobs the zygote leaves behind when it dies become ours to wait for.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return fmt::format("PR_SET_CHILD_SUBREAPER: {}", std::strerror(errno));
  // Every symbol bound when the zygote starts (LD_BIND_NOW): a job then never
  // resolves one lazily, which would look it up and write (so copy) the page
  // of the global offset table holding it.
  std::vector<std::string> env = dihya::environment_without({"LD_BIND_NOW="});
  env.emplace_back("LD_BIND_NOW=1");
  dihya::SpawnOptions options;
  options.environment = &env;
  options.program = "/proc/self/exe";
  options.stdin_fd = theirs.get();
  options.stderr_fd = err.get();
  options.own_process_group = true;
  options.parent_death_signal = SIGTERM;  // it then cancels its jobs and exits
  pid_t pid = 0;
  if (const std::error_code ec = dihya::spawn_process({"dihya-host", dihya::zygote::kCommand}, options, &pid)) {
    return fmt::format("cannot start dihya-host {}: {}", dihya::zygote::kCommand, ec.message());
  }
  socket_ = std::move(mine);
  pid_ = pid;
  alive_ = true;
  return "";
}

void JobZygote::died(const std::string& why) {
  if (!alive_) return;
  alive_ = false;
  socket_.reset();
  if (!reaped_) {
    // End-of-file: it is exiting; a zygote that closed its socket and lives on is stopped.
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 100 && (r = ::waitpid(pid_, &status, WNOHANG)) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r == 0) {
      ::kill(pid_, SIGKILL);
      r = ::waitpid(pid_, &status, 0);
    }
    reaped_ = true;
    if (r == pid_) death_ = describe(status);
  }
  if (death_.empty()) death_ = why;
}

void JobZygote::reaped(int status) {
  reaped_ = true;
  death_ = describe(status);
}

bool JobZygote::read_report(bool wait) {
  if (!alive_) return false;
  if (wait) {
    pollfd p{socket_.get(), POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, 30000)) < 0 && errno == EINTR) {
    }
    if (r == 0) {
      died("did not answer within 30 s");
      return false;
    }
  }
  dihya::zygote::JobReport report;
  const ssize_t n = ::recv(socket_.get(), &report, sizeof report, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return false;
    died(fmt::format("its socket failed: {}", std::strerror(errno)));
    return false;
  }
  if (n == 0) {
    died("closed its socket");
    return false;
  }
  if (n != static_cast<ssize_t>(sizeof report)) return true;  // not ours to understand: skipped
  switch (report.kind) {
    case dihya::zygote::JobReport::started: started_[report.tag] = report.pid; break;
    case dihya::zygote::JobReport::refused: started_[report.tag] = -report.status; break;
    case dihya::zygote::JobReport::exited: exits_[report.pid] = report.status; break;
    default: break;
  }
  return true;
}

pid_t JobZygote::launch(std::int64_t tag, const std::vector<std::string>& argv, const std::vector<std::string>& env,
                        int out_fd, int err_fd, std::string* why, bool* maybe_forked) {
  *maybe_forked = false;
  if (!alive_) {
    *why = "the zygote is not running";
    return 0;
  }
  std::string request;
  if (!dihya::zygote::encode_request(tag, argv, env, &request)) {
    *why = "the job's arguments and environment are too large for one request";
    return 0;
  }
  const int fds[2] = {out_fd, err_fd};
  if (const int e = dihya::zygote::send_with_fds(socket_.get(), request.data(), request.size(), fds, 2)) {
    died(fmt::format("could not be sent a job: {}", std::strerror(e)));
    *why = "the zygote died";
    return 0;
  }
  while (started_.count(tag) == 0) {
    if (!read_report(true) && !alive_) {
      *why = "the zygote died";
      *maybe_forked = true;
      return 0;
    }
  }
  const std::int32_t pid = started_[tag];
  started_.erase(tag);
  if (pid <= 0) {
    *why = fmt::format("the zygote could not fork: {}", std::strerror(-pid));
    return 0;
  }
  return pid;
}

void JobZygote::collect(std::map<pid_t, int>* exits) {
  while (read_report(false)) {
  }
  exits->insert(exits_.begin(), exits_.end());
  exits_.clear();
}

}  // namespace dihya_run_scheduler
