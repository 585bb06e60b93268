// SPDX-License-Identifier: AGPL-3.0-or-later
// Process identity from /proc. /proc/<pid>/stat is parsed after the last ')'
// because the command name in field 2 may itself contain spaces and ')'.
#include "runs/process_identity.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include <signal.h>
#include <unistd.h>

namespace dihya::host {
namespace {

struct StatFields {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

std::optional<StatFields> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::ostringstream whole;  // the command name may even hold a '\n'
  whole << in.rdbuf();
  std::string stat = whole.str();
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;  // no such process, or no /proc
  // After ')' come fields 3 (state), 4, ... 22 (starttime).
  std::istringstream rest(stat.substr(close + 1));
  StatFields fields;
  rest >> fields.state;
  std::string skipped;
  for (int field = 4; field < 22; ++field) rest >> skipped;
  rest >> fields.start_ticks;
  if (!rest) return std::nullopt;
  return fields;
}

}  // namespace

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  auto fields = read_stat(pid);
  if (!fields) return std::nullopt;
  return fields->start_ticks;
}

ProcessIdentity current_process_identity() {
  ProcessIdentity me;
  me.pid = ::getpid();
  me.start_ticks = process_start_ticks(me.pid).value_or(0);
  me.boot_id = current_boot_id();
  return me;
}

bool process_is_gone(const ProcessIdentity& who) {
  // kill(0 or negative, 0) would probe process groups: such a pid names no host.
  if (who.pid <= 0) return true;
  if (!who.boot_id.empty()) {
    std::string boot = current_boot_id();
    if (!boot.empty() && boot != who.boot_id) return true;
  }
  // EPERM means it exists under another user: alive as far as we can tell.
  if (::kill(who.pid, 0) != 0 && errno == ESRCH) return true;
  auto fields = read_stat(who.pid);
  if (!fields) return false;
  if (fields->state == 'Z' || fields->state == 'X') return true;
  return who.start_ticks != 0 && fields->start_ticks != who.start_ticks;
}

}  // namespace dihya::host
