// SPDX-License-Identifier: AGPL-3.0-or-later
// Process identity from /proc. /proc/<pid>/stat is parsed after the last ')'
// because the command name in field 2 may itself contain spaces and ')'.
#include "runs/process_identity.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>
#include <string_view>

#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

struct StatFields {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

// The whole of a small /proc file ("" when it cannot be opened; what was
// read before a failed read). read(2) into a stack buffer: streams cost ~50 K
// instructions per call, paid at every run's start and for every running
// record `history` judges.
std::string read_proc_file(const char* path) {
  const UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  std::string text;
  if (fd) {
    [[maybe_unused]] const std::error_code ec = read_all(fd.get(), &text);
  }
  return text;
}

std::optional<StatFields> read_stat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const std::string stat = read_proc_file(path.c_str());  // the command name may even hold a '\n'
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;  // no such process, or no /proc
  // After ") " come fields 3 (state), 4, ... 22 (starttime), one space apart.
  StatFields fields;
  std::size_t pos = close + 1;
  const auto next_field = [&]() -> std::string_view {
    while (pos < stat.size() && stat[pos] == ' ') ++pos;
    const std::size_t start = pos;
    while (pos < stat.size() && stat[pos] != ' ' && stat[pos] != '\n') ++pos;
    return std::string_view(stat).substr(start, pos - start);
  };
  const std::string_view state = next_field();
  if (state.size() != 1) return std::nullopt;
  fields.state = state[0];
  for (int field = 4; field < 22; ++field) {
    if (next_field().empty()) return std::nullopt;
  }
  const std::string_view ticks = next_field();
  const auto [end, error] = std::from_chars(ticks.data(), ticks.data() + ticks.size(), fields.start_ticks);
  if (ticks.empty() || error != std::errc() || end != ticks.data() + ticks.size()) return std::nullopt;
  return fields;
}

}  // namespace

std::string current_boot_id() {
  // Read once per process (a boot's id does not change): the scheduler's
  // zygote reads it before forking its jobs.
  static std::string id;
  if (id.empty()) {
    id = read_proc_file("/proc/sys/kernel/random/boot_id");
    id.resize(std::min(id.size(), id.find('\n')));
  }
  return id;
}

const std::string& effective_user_name() {
  static uid_t looked_up_for = static_cast<uid_t>(-1);
  static std::string name;
  const uid_t uid = ::geteuid();
  if (uid != looked_up_for || name.empty()) {
    const passwd* pw = ::getpwuid(uid);
    name = pw != nullptr ? pw->pw_name : std::to_string(uid);
    looked_up_for = uid;
  }
  return name;
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  auto fields = read_stat(pid);
  if (!fields) return std::nullopt;
  return fields->start_ticks;
}

std::uint64_t current_pid_namespace() {
  // Read once per process, as the boot id: a process never changes its own
  // pid namespace (unshare(CLONE_NEWPID) moves only its children), and
  // `history` asks for every running record it judges.
  static const std::uint64_t ns = [] {
    struct stat st {};
    return ::stat("/proc/self/ns/pid", &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
  }();
  return ns;
}

ProcessIdentity current_process_identity() {
  ProcessIdentity me;
  me.pid = ::getpid();
  me.start_ticks = process_start_ticks(me.pid).value_or(0);
  me.boot_id = current_boot_id();
  me.pid_ns = current_pid_namespace();
  return me;
}

bool process_is_gone(const ProcessIdentity& who) {
  // kill(0 or negative, 0) would probe process groups: such a pid names no host.
  if (who.pid <= 0) return true;
  if (!who.boot_id.empty()) {
    std::string boot = current_boot_id();
    if (!boot.empty() && boot != who.boot_id) return true;
  }
  // Its pid names another process here, or none: alive as far as we can tell.
  if (who.pid_ns != 0) {
    const std::uint64_t ours = current_pid_namespace();
    if (ours != 0 && ours != who.pid_ns) return false;
  }
  // EPERM means it exists under another user: alive as far as we can tell.
  if (::kill(who.pid, 0) != 0 && errno == ESRCH) return true;
  auto fields = read_stat(who.pid);
  if (!fields) return false;
  if (fields->state == 'Z' || fields->state == 'X') return true;
  return who.start_ticks != 0 && fields->start_ticks != who.start_ticks;
}

}  // namespace dihya::host
