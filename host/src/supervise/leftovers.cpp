// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/leftovers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// The pids of this process's children, from /proc/self/task/*/children
// (Linux 3.5+ with CONFIG_PROC_CHILDREN; empty without it).
std::vector<pid_t> own_children() {
  std::vector<pid_t> out;
  DirStream tasks("/proc/self/task");
  if (tasks.get() == nullptr) return out;
  while (const dirent* task = ::readdir(tasks.get())) {
    if (task->d_name[0] == '.') continue;
    const std::string file = std::string("/proc/self/task/") + task->d_name + "/children";
    std::string text;
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || read_all(fd.get(), &text, 1 << 20)) continue;
    for (const char* p = text.c_str(); *p != '\0';) {
      char* end = nullptr;
      const long pid = std::strtol(p, &end, 10);
      if (end == p) break;
      if (pid > 0) out.push_back(static_cast<pid_t>(pid));
      p = end;
    }
  }
  return out;
}

}  // namespace

bool childless() {
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD;
}

bool kill_leftovers() {
  for (int round = 0; round < 500; ++round) {
    if (childless()) return true;
    const std::vector<pid_t> children = own_children();
    if (children.empty()) return false;  // they cannot be named here
    for (pid_t child : children) ::kill(child, SIGKILL);
    for (pid_t child : children) ::waitpid(child, nullptr, WNOHANG);
    ::usleep(1000);
  }
  return false;
}

}  // namespace dihya::host
