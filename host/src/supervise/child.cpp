// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/child.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/dll/shared_library.hpp>
#include <dihya/plugin.hpp>
#include <dihya/utf8.hpp>

#include "errors.hpp"
#include "loading/plugin_file.hpp"
#include "supervise/core_dumps.hpp"
#include "supervise/leftovers.hpp"
#include "supervise/protocol.hpp"
#include "util/memory_size.hpp"
#include "util/unique_fd.hpp"

extern char** environ;

namespace dihya::host {
namespace {

std::atomic<bool> g_cancelled{false};  // set from the SIGTERM handler: the only way a signal may talk to the run

extern "C" void on_sigterm(int) { g_cancelled.store(true); }

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

// `text` with each byte that is not part of valid UTF-8 written as \xNN, as
// the host shows such bytes everywhere (a terminal, log.txt): JSON cannot
// carry them, and U+FFFD would not say which byte it was.
std::string escape_invalid_utf8(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t bad; (bad = first_invalid_utf8(text)) != std::string_view::npos;) {
    const auto byte = static_cast<unsigned char>(text[bad]);
    out.append(text.substr(0, bad)).append({'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]});
    text.remove_prefix(bad + 1);
  }
  return out.append(text);
}

// A copy of `value` whose strings and keys are valid UTF-8.
nlohmann::json with_invalid_utf8_escaped(const nlohmann::json& value) {
  if (value.is_string()) return escape_invalid_utf8(value.get_ref<const std::string&>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(with_invalid_utf8_escaped(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[escape_invalid_utf8(key)] = with_invalid_utf8_escaped(item);
    return out;
  }
  return value;
}

// The frame's JSON text. What the plugin wrote (a summary, a report, a log
// line, result data) may hold bytes that are not UTF-8: they arrive escaped.
std::string frame_text(const nlohmann::json& payload) {
  try {
    return payload.dump();
  } catch (const nlohmann::json::type_error&) {
    return with_invalid_utf8_escaped(payload).dump();
  }
}

// All frames go through one mutex: plugins may log and report progress from threads.
class Channel {
 public:
  Channel(int event_fd, int control_fd) : event_fd_(event_fd), control_fd_(control_fd) {}

  void send(FrameType type, const nlohmann::json& payload) {
    std::lock_guard<std::mutex> lock(mutex_);
    send_locked(type, payload);
  }

  // A frame encoded beforehand (write_encoded_frame: no allocation).
  void send_encoded(const std::string& frame) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!write_encoded_frame(event_fd_, frame)) ::_exit(120);
  }

  // Sends a journal entry and waits until the host says it is durable.
  void record(const UndoEntry& entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    send_locked(FrameType::journal, {{"action", entry.action}, {"data", entry.data}});
    Frame ack{};
    try {
      ack = read_frame_blocking(control_fd_);
    } catch (const HostError& e) {
      throw Error(std::string("journal: the host did not acknowledge (") + e.what() + ")");
    }
    if (ack.type != FrameType::ack) throw Error("journal: the host did not acknowledge (not an ack frame)");
    auto reply = nlohmann::json::parse(ack.payload, nullptr, false);
    if (!reply.is_object() || !reply.value("ok", false)) {
      throw Error("journal: " + (reply.is_object() ? reply.value("message", "not durable") : "bad reply"));
    }
  }

 private:
  void send_locked(FrameType type, const nlohmann::json& payload) {
    const std::string text = frame_text(payload);
    // Too large for one frame: the plugin's mistake, reported to it (a journal
    // entry is then not durable, so its step must not happen).
    if (text.size() > kMaxFramePayload) {
      throw Error("a message to the host (log line, journal entry or result) is " + std::to_string(text.size()) +
                  " bytes, over the " + std::to_string(kMaxFramePayload >> 20) + " MiB limit");
    }
    // A host that went away cannot be told anything: end quietly.
    if (!write_frame(event_fd_, type, text)) ::_exit(120);
  }

  int event_fd_;
  int control_fd_;
  std::mutex mutex_;
};

class FrameLogger final : public Logger {
 public:
  explicit FrameLogger(Channel& channel) : channel_(channel) {}
  void write(LogLevel level, std::string_view message) override {
    channel_.send(FrameType::log, {{"level", level_name(level)}, {"message", std::string(message)}});
  }

 private:
  Channel& channel_;
};

class FrameJournal final : public Journal {
 public:
  explicit FrameJournal(Channel& channel) : channel_(channel) {}
  void record(const UndoEntry& entry) override { channel_.record(entry); }

 private:
  Channel& channel_;
};

class ChildContext final : public Context {
 public:
  ChildContext(const ChildRequest& request, Channel& channel)
      : request_(request), channel_(channel), logger_(channel), journal_(channel) {}
  ~ChildContext() override { close_database(); }
  ChildContext(const ChildContext&) = delete;
  ChildContext& operator=(const ChildContext&) = delete;

  Logger& log() override { return logger_; }
  bool dry_run() const override { return request_.dry_run; }
  bool cancelled() const override { return g_cancelled.load(); }
  void progress(std::uint64_t done, std::uint64_t total, std::string_view what) override {
    channel_.send(FrameType::progress, {{"done", done}, {"total", total}, {"what", std::string(what)}});
  }
  Journal& journal() override { return journal_; }
  const std::filesystem::path& work_dir() const override { return request_.work_dir; }
  const std::filesystem::path& output_dir() const override { return request_.output_dir; }
  std::optional<std::string> secret(std::string_view name) const override {
    auto it = request_.secrets.find(std::string(name));
    if (it == request_.secrets.end()) return std::nullopt;
    return it->second;
  }
  std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
  const std::string& run_id() const override { return request_.run_id; }
  const std::string& database_url() const override { return request_.database_url; }

 private:
  const ChildRequest& request_;
  Channel& channel_;
  FrameLogger logger_;
  FrameJournal journal_;
};

void close_fds(unsigned int first, unsigned int last) {
  if (::syscall(SYS_close_range, first, last, 0) == 0) return;
  // Kernels before 5.9: walk the descriptors that exist.
  std::vector<int> open_fds;
  if (const DirStream dir("/proc/self/fd"); dir.get() != nullptr) {
    while (const dirent* entry = ::readdir(dir.get())) {
      const int fd = std::atoi(entry->d_name);
      if (fd != ::dirfd(dir.get()) && static_cast<unsigned int>(fd) >= first &&
          static_cast<unsigned int>(fd) <= last) {
        open_fds.push_back(fd);
      }
    }
  }  // the listing's own descriptor closed before the others
  for (int fd : open_fds) ::close(fd);
}

// Closes every descriptor from 3 up except `keep`. close_range does it in a
// few syscalls where a loop up to the descriptor limit would cost milliseconds.
void keep_only_fds(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned int from = 3;
  for (int fd : keep) {
    if (fd < 3) continue;
    if (static_cast<unsigned int>(fd) > from) close_fds(from, static_cast<unsigned int>(fd) - 1);
    from = static_cast<unsigned int>(fd) + 1;
  }
  close_fds(from, ~0U);
}

// /proc/<pid>/environ shows the environment block the process started with,
// whatever setenv/unsetenv do later, so secrets are blanked in place. Only
// values are searched: a short secret must not rename a variable.
void scrub_environment(const std::vector<std::string>& values) {
  if (environ == nullptr) return;
  char** kept = environ;
  for (char** e = environ; *e != nullptr; ++e) {
    char* const equals = std::strchr(*e, '=');
    const bool whole = equals != nullptr && std::find(values.begin(), values.end(), equals + 1) != values.end();
    for (const auto& value : values) {  // longest first: a shorter one inside it cannot leave its ends
      if (equals == nullptr || value.empty()) continue;
      // Searched on past each mask: a secret made of '*' matches its own mask.
      for (char* hit = std::strstr(equals + 1, value.c_str()); hit != nullptr;
           hit = std::strstr(hit + value.size(), value.c_str())) {
        std::memset(hit, '*', value.size());
      }
    }
    // A variable that is a secret and nothing else is dropped (masked first:
    // /proc/<pid>/environ shows the block, not the array), so what the
    // plugin starts and reads it through `@env:` finds it unset, not "***".
    if (!whole) *kept++ = *e;
  }
  *kept = nullptr;
}

// RLIMIT_DATA counts what a process can fill (heap, private writable
// mappings), not the address space it merely reserves (RLIMIT_AS would fail
// a plugin for the 64 MiB malloc arena each thread reserves). Soft and hard:
// the sandbox's seccomp filter refuses to raise it again. Not under
// AddressSanitizer, whose shadow memory counts as terabytes of data.
void limit_memory(std::uint64_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
  (void)bytes;
#else
  if (bytes == 0) return;
  const rlimit limit{bytes, bytes};
  ::setrlimit(RLIMIT_DATA, &limit);
#endif
}

void prepare_process(const ChildRequest& request, int event_fd, int control_fd, int output_fd, int status_fd) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  ::sigaction(SIGTERM, &sa, nullptr);
  // Every handler the host set goes: its SIGHUP one would write into the
  // host's signal pipe, or into whatever file later gets that descriptor.
  ::sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    if (devnull > 2) ::close(devnull);
  }
  ::dup2(output_fd, 1);
  ::dup2(output_fd, 2);
  keep_only_fds({event_fd, control_fd, request.plugin_fd, status_fd});
  scrub_environment(request.scrub_values);
  for (const auto& [name, value] : request.environment) ::setenv(name.c_str(), value.c_str(), 1);
  stop_core_dumps();  // a crashing plugin would write every secret it was given into its core
  limit_memory(request.memory_max);
}

std::string load_error_text(const std::exception& e) {
  // Boost appends dlerror() after this marker; the rest is noise.
  std::string text = e.what();
  const std::string marker = "dlerror system message: ";
  auto pos = text.find(marker);
  if (pos != std::string::npos) {
    text = text.substr(pos + marker.size());
    if (!text.empty() && text.back() == ')') text.pop_back();
  }
  return text;
}

// Ends the child: the plugin's buffered stdout still reaches the host, and
// _exit keeps the host's inherited state (atexit handlers, buffers) untouched.
[[noreturn]] void finish() {
  std::fflush(nullptr);
  ::_exit(0);
}

nlohmann::json result_json(const Result& r) {
  return {{"ok", r.ok}, {"summary", r.summary}, {"data", r.data}, {"report", r.report}};
}

nlohmann::json perform(Plugin& plugin, const ChildRequest& request, Context& ctx) {
  switch (request.operation) {
    case Operation::metadata:
      return {{"ok", true}, {"summary", "metadata"}, {"data", plugin.metadata()}};
    case Operation::validate: {
      nlohmann::json errors = nlohmann::json::array();
      for (const auto& e : plugin.validate(Params(request.params), ctx)) {
        errors.push_back({{"field", e.field}, {"message", e.message}});
      }
      return {{"ok", errors.empty()}, {"summary", errors.empty() ? "valid" : "invalid"}, {"data", {{"errors", errors}}}};
    }
    case Operation::run: {
      // validate() guards run(): a run with semantically bad parameters does nothing.
      Params params(request.params);
      std::string problems;
      for (const auto& e : plugin.validate(params, ctx)) {
        problems += (problems.empty() ? "" : "; ") + ("parameter '" + e.field + "': " + e.message);
      }
      if (!problems.empty()) return {{"ok", false}, {"invalid", true}, {"summary", problems}, {"data", nlohmann::json::object()}};
      return result_json(plugin.run(params, ctx));
    }
    case Operation::rollback:
      return result_json(plugin.rollback(request.undo_entries, ctx));
  }
  return {};
}

// The plugin's own process could not be made (by an init or a keeper): a
// load error, and the child ends.
[[noreturn]] void fork_failed(int event_fd, int control_fd) {
  Channel(event_fd, control_fd)
      .send(FrameType::error, {{"kind", "load"}, {"message", std::string("fork: ") + std::strerror(errno)}});
  finish();
}

// The init of the run's pid namespace stays ours: the plugin runs in a
// process of its own. An init ignores every signal it has no handler for,
// even one it sends itself: a plugin as init would live on after abort(), and
// its crash would go unnamed. The init waits for that process, reaping
// whatever else of the run becomes its child meanwhile, and hands its wait
// status to the host; its own end ends the namespace, and with it every
// process the run left. Returns in the plugin's process, which confines
// itself next. The init runs nothing but this loop, without the descriptors
// the plugin uses, and not dumpable. The plugin cannot write into it: its
// seccomp filter refuses ptrace and process_vm_writev, and its Landlock
// rules any /proc/<pid>/mem but its own (without Landlock, best-effort, a
// root plugin could, as it could write any file).
void serve_as_namespace_init(int status_fd, int event_fd, int control_fd, int plugin_fd) {
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const pid_t plugin = ::fork();
  if (plugin == 0) {
    ::close(status_fd);
    return;
  }
  if (plugin < 0) fork_failed(event_fd, control_fd);
  for (int fd : {event_fd, control_fd, plugin_fd, 0, 1, 2}) ::close(fd);
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid == plugin) {
      (void)!::write(status_fd, &status, sizeof status);
      ::_exit(0);
    }
    if (pid < 0 && errno != EINTR) ::_exit(kExitRunFailed);
  }
}

// The keeper of a run under a host that cannot make the run a pid namespace
// (not root: it needs CAP_SYS_ADMIN), for a plugin that may make processes
// (SandboxPlan::pid_namespace). A user namespace to make one in
// would have to be mapped through /proc files that a process holding
// secrets (not dumpable) cannot open. So the child stays between the host
// and the plugin's process: a child subreaper, to which whatever the plugin
// starts and leaves (a double fork, setsid) falls when its parent dies, and
// with a parent-death signal it handles (SIGHUP), so that a host killed
// outright (kill -9) still has them all killed. When the plugin's process
// ends, it hands the host that process's wait status, as a namespace's init
// does, kills what is left and ends. Returns in the plugin's process, whose
// sandbox refuses it any signal to the keeper (Landlock's signal scoping, or
// its seccomp filter, where the keeper is its host_pid). What it cannot stop:
// the same user killing the keeper from outside first.
void serve_as_keeper(int status_fd, int event_fd, int control_fd, int plugin_fd) {
  const pid_t host = ::getppid();
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGHUP);
  sigaddset(&watched, SIGCHLD);
  sigset_t before;
  ::sigprocmask(SIG_BLOCK, &watched, &before);
  const int signals = ::signalfd(-1, &watched, SFD_CLOEXEC);
  ::prctl(PR_SET_PDEATHSIG, SIGHUP);
  if (::getppid() != host) ::_exit(kExitRunFailed);  // the host died before the signal was armed
  const pid_t keeper = ::getpid();
  const pid_t plugin = signals < 0 ? -1 : ::fork();
  if (plugin == 0) {
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::close(signals);
    ::close(status_fd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != keeper) ::_exit(kExitRunFailed);
    return;
  }
  if (plugin < 0) fork_failed(event_fd, control_fd);
  for (int fd : {event_fd, control_fd, plugin_fd, 0, 1, 2}) ::close(fd);
  for (;;) {
    signalfd_siginfo info{};
    const ssize_t n = ::read(signals, &info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    // Its host is gone (its parent is now another process): so is the run.
    if (n != sizeof info || (info.ssi_signo == SIGHUP && ::getppid() != host)) {
      kill_leftovers();
      ::_exit(kExitRunFailed);
    }
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      if (pid != plugin) continue;
      (void)!::write(status_fd, &status, sizeof status);
      kill_leftovers();
      ::_exit(0);
    }
  }
}

}  // namespace

void run_child(const ChildRequest& request, const SandboxPlan& plan, int event_fd, int control_fd, int output_fd,
               int status_fd, bool keeper) {
  prepare_process(request, event_fd, control_fd, output_fd, status_fd);
  if (keeper) {
    serve_as_keeper(status_fd, event_fd, control_fd, request.plugin_fd);
  } else if (status_fd >= 0) {
    serve_as_namespace_init(status_fd, event_fd, control_fd, request.plugin_fd);
  }
  // Still single-threaded, before the plugin's first instruction (its
  // constructors), in the plugin's own process: Landlock's /proc/self rule
  // is the directory of the process that applies it. In a pid namespace of
  // the run's own, nothing outside, the host first, can be named from inside;
  // under a keeper, the keeper is the process it may not signal.
  const int host_pid = status_fd >= 0 && !keeper ? 0 : static_cast<int>(::getppid());
  std::string moved;
  const std::string sandbox_error = apply_sandbox(plan, request.plugin_fd, host_pid, &moved);
  Channel channel(event_fd, control_fd);
  if (!sandbox_error.empty() && plan.mode == SandboxMode::require) {
    channel.send(FrameType::error, {{"kind", "load"}, {"message", "sandbox could not be applied: " + sandbox_error}});
    finish();
  }
  if (!moved.empty()) {
    channel.send(FrameType::error, {{"kind", "load"}, {"message", "sandbox: " + moved + "; nothing was run"}});
    finish();
  }
  if (!sandbox_error.empty()) {
    channel.send(FrameType::log, {{"level", "warn"}, {"message", "sandbox (best-effort) not applied: " + sandbox_error}});
  }

  std::unique_ptr<Plugin> plugin;
  boost::dll::shared_library library;
  try {
    namespace mode = boost::dll::load_mode;
    if (request.plugin_fd < 0) throw Error("no checked plugin descriptor to load");
    // The descriptor the host trust-checked and hashed, not the path: the
    // file at the path may have been swapped since.
    library.load("/proc/self/fd/" + std::to_string(request.plugin_fd), mode::rtld_now | mode::rtld_local);
    if (!library.has("dihya_create_plugin") || !library.has("dihya_abi_tag")) {
      channel.send(FrameType::error, {{"kind", "load"},
                                      {"message", "missing symbol dihya_create_plugin or dihya_abi_tag: "
                                                  "not built with DIHYA_PLUGIN(...)"}});
      finish();
    }
    const std::string abi_problem = abi_tag_problem(&library.get<const char>("dihya_abi_tag"));
    if (!abi_problem.empty()) {
      channel.send(FrameType::error, {{"kind", "load"}, {"message", abi_problem}});
      finish();
    }
    plugin = library.get_alias<PluginFactory>("dihya_create_plugin")();
    if (!plugin) throw Error("the factory returned no plugin");
  } catch (const std::exception& e) {
    channel.send(FrameType::error, {{"kind", "load"}, {"message", load_error_text(e)}});
    finish();
  }
  // The host records the sandbox the plugin really ran in: a best-effort
  // sandbox that could not be applied must not look applied in the record.
  channel.send(FrameType::loaded, sandbox_error.empty() ? nlohmann::json::object()
                                                        : nlohmann::json{{"sandbox_error", sandbox_error}});

  ChildContext ctx(request, channel);
  // Said once memory is exhausted, when no frame could be built any more.
  const std::string out_of_memory = encode_frame(
      FrameType::error,
      nlohmann::json{{"kind", "exception"},
                     {"message", request.memory_max == 0 ? std::string("out of memory (std::bad_alloc)")
                                                         : "out of memory: the plugin reached its memory limit of " +
                                                               memory_size_text(request.memory_max) +
                                                               " (memory_max in the config, --memory-max)"}}
          .dump());
  try {
    channel.send(FrameType::result, perform(*plugin, request, ctx));
  } catch (const std::bad_alloc&) {
    channel.send_encoded(out_of_memory);
  } catch (const std::exception& e) {
    channel.send(FrameType::error, {{"kind", "exception"}, {"message", e.what()}});
  } catch (...) {
    channel.send(FrameType::error, {{"kind", "exception"}, {"message", "unknown exception"}});
  }
  finish();
}

}  // namespace dihya::host
