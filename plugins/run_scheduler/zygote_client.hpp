// SPDX-License-Identifier: AGPL-3.0-or-later
// The scheduler's side of `dihya-host __zygote` (dihya/job_zygote.hpp): one
// warm host, started once, forks each job; this process learns the job's pid
// and, later, its wait status from the zygote's reports (the jobs are the
// zygote's children, not ours).
//
// If the zygote dies, alive() turns false and the scheduler starts jobs by
// exec again. Its running jobs are not lost: this process is a child
// subreaper, so they become our children and are waited for directly; a job
// whose status the zygote had collected but not yet reported ends "unknown"
// (its run record still tells its outcome).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <dihya/file_io.hpp>

namespace dihya_run_scheduler {

class JobZygote {
 public:
  JobZygote() = default;
  // Closes the socket (the zygote stops at end-of-file) and waits for it.
  ~JobZygote();
  JobZygote(const JobZygote&) = delete;
  JobZygote& operator=(const JobZygote&) = delete;

  // Starts the zygote (its standard error goes to `err_file`) and makes this
  // process a child subreaper; returns "" or why it could not.
  std::string start(const std::filesystem::path& err_file);

  bool alive() const { return alive_; }
  pid_t pid() const { return pid_; }
  // Readable when a report (a job's pid or exit) is waiting: poll it, then collect().
  int socket() const { return socket_.get(); }
  // Whether exit reports were read (while launch() waited) and not collected yet.
  bool has_exits() const { return !exits_.empty(); }
  // How the zygote ended ("killed by signal 9"), once !alive().
  const std::string& death() const { return death_; }

  // Asks for one job and waits for its pid; 0 when the zygote did not start
  // it (`*why` says why; if the zygote died, alive() is now false). When it
  // died after receiving the request, `*maybe_forked` is set: the job may be
  // running, already ours (see adopted_child()). The descriptors stay the caller's.
  pid_t launch(std::int64_t tag, const std::vector<std::string>& argv, const std::vector<std::string>& env,
               int out_fd, int err_fd, std::string* why, bool* maybe_forked);

  // Moves the exit reports received so far (pid -> wait status) into
  // `*exits`, without blocking; notices the zygote's death.
  void collect(std::map<pid_t, int>* exits);

  // The zygote was reaped by the caller's waitpid(-1) with this status.
  void reaped(int status);

 private:
  // Reads one report; false when none is ready (or the zygote is gone).
  bool read_report(bool wait);  // wait: up to 30 s (a slow sanitizer build, a loaded machine)
  void died(const std::string& why);

  dihya::UniqueFd socket_;
  pid_t pid_ = 0;
  bool alive_ = false;
  bool reaped_ = false;
  std::string death_;
  std::map<pid_t, int> exits_;
  std::map<std::int64_t, std::int32_t> started_;  // tag -> pid, or -errno when refused
};

}  // namespace dihya_run_scheduler
