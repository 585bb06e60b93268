// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include <dihya/json_text.hpp>
#include <fmt/format.h>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "supervise/child.hpp"
#include "supervise/leftovers.hpp"
#include "supervise/protocol.hpp"
#include "util/json_text_of.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

using Clock = std::chrono::steady_clock;

// Write end of the self-pipe that turns SIGINT/SIGTERM/SIGHUP on the host into
// a poll event. Signal handlers can reach nothing else.
int g_signal_pipe = -1;

extern "C" void on_host_signal(int) {
  if (g_signal_pipe >= 0) {
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(g_signal_pipe, &byte, 1);
  }
}

// The signals that cancel a run: forwarded by SignalForwarder, held by
// hold_cancel_signals() until it exists.
constexpr int kCancelSignals[3] = {SIGINT, SIGTERM, SIGHUP};

void cancel_signals(sigset_t* set) {
  ::sigemptyset(set);
  for (int sig : kCancelSignals) ::sigaddset(set, sig);
}

// Installs the host's signal handlers for the life of one supervision.
class SignalForwarder {
 public:
  SignalForwarder() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      read_.reset(fds[0]);
      write_.reset(fds[1]);
      g_signal_pipe = write_.get();
    }
    struct sigaction sa {};
    sa.sa_handler = on_host_signal;
    for (std::size_t i = 0; i < std::size(kCancelSignals); ++i) ::sigaction(kCancelSignals[i], &sa, &previous_[i]);
    // Held since the start record (hold_cancel_signals): one that came
    // meanwhile reaches the handler now.
    sigset_t held;
    cancel_signals(&held);
    ::sigprocmask(SIG_UNBLOCK, &held, nullptr);
  }
  ~SignalForwarder() {
    for (std::size_t i = 0; i < std::size(kCancelSignals); ++i) ::sigaction(kCancelSignals[i], &previous_[i], nullptr);
    g_signal_pipe = -1;
  }
  SignalForwarder(const SignalForwarder&) = delete;
  SignalForwarder& operator=(const SignalForwarder&) = delete;
  int fd() const { return read_.get(); }

 private:
  UniqueFd read_;
  UniqueFd write_;
  struct sigaction previous_[std::size(kCancelSignals)] {};
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw state_error(std::string("pipe: ") + std::strerror(errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

LogLevel parse_level(const std::string& name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  return LogLevel::info;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

// The state of one supervision: which pipes are open, what the child said,
// which deadlines apply.
class Supervision {
 public:
  Supervision(const SupervisorOptions& options, EventSink& sink, pid_t pid, UniqueFd events, UniqueFd control,
              UniqueFd output, int signal_fd, UniqueFd plugin_status)
      : options_(options), sink_(sink), pid_(pid), events_(std::move(events)), control_(std::move(control)),
        output_(std::move(output)), plugin_status_(std::move(plugin_status)), signal_fd_(signal_fd) {
    if (options_.timeout) deadline_ = Clock::now() + *options_.timeout;
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  }

  ChildOutcome wait() {
    while (!reaped_) {
      poll_once();
      enforce_deadlines();
    }
    // Grandchildren the plugin left behind die with it.
    ::kill(-pid_, SIGKILL);
    drain();
    return classify();
  }

 private:
  void poll_once() {
    pollfd fds[4];
    nfds_t n = 0;
    auto add = [&](int fd) {
      if (fd >= 0) fds[n++] = pollfd{fd, POLLIN, 0};
    };
    add(events_.get());
    add(output_.get());
    add(signal_fd_);
    add(pidfd_.get());
    // Without a pidfd (old kernels) the child's exit is noticed by polling waitpid.
    int timeout_ms = next_deadline_ms();
    if (!pidfd_ && (timeout_ms < 0 || timeout_ms > 50)) timeout_ms = 50;
    int ready = ::poll(fds, n, timeout_ms);
    if (ready < 0 && errno != EINTR) throw state_error(std::string("poll: ") + std::strerror(errno));
    if (ready > 0) {
      for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        if (fds[i].fd == events_.get()) read_events();
        else if (fds[i].fd == output_.get()) read_output();
        else if (fds[i].fd == signal_fd_) on_signal();
      }
    }
    try_reap();
  }

  int next_deadline_ms() const {
    std::optional<Clock::time_point> next;
    if (deadline_ && !term_sent_) next = deadline_;
    if (kill_at_) next = next ? std::min(*next, *kill_at_) : *kill_at_;
    if (!next) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, ms) + 1);
  }

  void enforce_deadlines() {
    const auto now = Clock::now();
    if (!reaped_ && deadline_ && !term_sent_ && now >= *deadline_) {
      timed_out_ = true;
      terminate();
    }
    if (!reaped_ && kill_at_ && now >= *kill_at_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      kill_at_.reset();
    }
  }

  // SIGTERM lets the plugin see ctx.cancelled() and stop cleanly; SIGKILL follows the grace period.
  void terminate() {
    if (term_sent_) return;
    term_sent_ = true;
    ::kill(-pid_, SIGTERM);
    kill_at_ = Clock::now() + options_.grace;
  }

  void on_signal() {
    char buffer[16];
    while (::read(signal_fd_, buffer, sizeof buffer) > 0) {
    }
    if (cancelled_ && term_sent_) {
      ::kill(-pid_, SIGKILL);  // a second Ctrl-C does not wait for the grace period
      return;
    }
    cancelled_ = true;
    terminate();
  }

  void try_reap() {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
      // The child was the init of the run's pid namespace: how the plugin's
      // own process ended, when it did (the init killed first, none).
      int plugin = 0;
      if (plugin_status_ && ::read(plugin_status_.get(), &plugin, sizeof plugin) == sizeof plugin) status_ = plugin;
    }
  }

  void read_events() {
    char buffer[65536];
    ssize_t n = ::read(events_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      events_.reset();
      return;
    }
    reader_.feed(buffer, static_cast<std::size_t>(n));
    for (;;) {
      std::optional<Frame> frame;
      try {
        frame = reader_.next();
      } catch (const HostError& e) {
        protocol_failure(e.what());
        return;
      }
      if (!frame) return;
      handle(*frame);
    }
  }

  void protocol_failure(const std::string& error) {
    if (!protocol_error_.empty()) return;
    protocol_error_ = error;
    events_.reset();
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  }

  void handle(const Frame& frame) {
    if (!protocol_error_.empty()) return;
    // Bounded while parsing: the host copies and dumps what a plugin sends,
    // and both recurse once per level (a 16 MiB frame of '[' would overflow
    // the host's stack).
    nlohmann::json payload;
    try {
      payload = dihya::parse_json_limited(frame.payload, kMaxFrameDepth);
    } catch (const dihya::Error& e) {
      return protocol_failure(fmt::format("frame payload: {}", e.what()));
    }
    if (!payload.is_object()) return protocol_failure("frame payload is not a JSON object");
    try {
      switch (frame.type) {
        case FrameType::loaded:
          loaded_ = true;
          sandbox_error_ = payload.value("sandbox_error", "");
          break;
        case FrameType::log:
          sink_.on_log(parse_level(payload.value("level", "info")), payload.value("message", ""));
          break;
        case FrameType::progress:
          sink_.on_progress(payload.value("done", std::uint64_t{0}), payload.value("total", std::uint64_t{0}),
                            payload.value("what", ""));
          break;
        case FrameType::journal: acknowledge(payload); break;
        case FrameType::result:
          // Read by value() as these types, which throws on any other: a
          // forged {"ok": "yes"} would end the run as a host error.
          if (!payload["ok"].is_boolean() || !member_is(payload, "summary", &nlohmann::json::is_string) ||
              !member_is(payload, "report", &nlohmann::json::is_string) ||
              !member_is(payload, "invalid", &nlohmann::json::is_boolean)) {
            return protocol_failure("a result frame whose ok, summary, report or invalid has the wrong type");
          }
          result_ = std::move(payload);
          break;
        case FrameType::error:
          // Only the child's loader says "load", and only before the library answered.
          if (loaded_ && payload.value("kind", "") == "load") {
            return protocol_failure("a load error after the plugin had loaded");
          }
          error_ = std::move(payload);
          break;
        case FrameType::ack: protocol_failure("unexpected ack frame from the plugin"); break;
      }
    } catch (const nlohmann::json::exception&) {
      protocol_failure("malformed frame payload");
    }
  }

  void acknowledge(const nlohmann::json& payload) {
    nlohmann::json reply{{"ok", true}};
    try {
      sink_.on_journal(dihya::UndoEntry{payload.value("action", ""), payload.value("data", nlohmann::json())});
    } catch (const std::exception& e) {
      reply = {{"ok", false}, {"message", e.what()}};
    }
    // The pipe is non-blocking: a child of the SDK reads each ack before its
    // next entry, so it never holds more than one. One that sends entries and
    // reads no ack would fill it, and a blocking write would stop the host
    // there: no timeout, no Ctrl-C, no end record.
    if (!control_) return;
    if (!write_frame(control_.get(), FrameType::ack, reply.dump())) {
      // EPIPE: no process reads the pipe any more. The child is dying (the
      // OOM killer's SIGKILL while it journalled) or closed its end; it waits
      // for no ack, so nothing stalls, and its end is judged by how it ends:
      // a protocol failure would kill it and hide the crash.
      if (errno == EPIPE) {
        control_.reset();
        return;
      }
      protocol_failure("the plugin does not read the host's acknowledgements of its journal entries");
    }
  }

  void read_output() {
    char buffer[65536];
    ssize_t n = ::read(output_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      output_.reset();
      flush_output_line();
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        flush_output_line();
      } else if (output_line_.size() < 4096) {
        output_line_.push_back(buffer[i]);
      }
    }
  }

  void flush_output_line() {
    if (output_line_.empty()) return;
    if (output_kept_ < options_.max_output_bytes) {
      output_kept_ += output_line_.size();
      sink_.on_output(output_line_);
    } else if (!output_truncated_) {
      output_truncated_ = true;
      sink_.on_output(fmt::format("[dihya-host: plugin output beyond {} bytes dropped]", options_.max_output_bytes));
    }
    output_line_.clear();
  }

  // After the child is gone, read what is still buffered in the pipes.
  void drain() {
    for (int fd : {events_.get(), output_.get()}) {
      if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    while (events_) read_events_nonblocking();
    while (output_) read_output_nonblocking();
  }

  void read_events_nonblocking() {
    pollfd p{events_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return events_.reset();
    read_events();
  }

  void read_output_nonblocking() {
    pollfd p{output_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) {
      flush_output_line();
      return output_.reset();
    }
    read_output();
  }

  ChildOutcome classify() const {
    ChildOutcome o;
    o.loaded = loaded_;
    o.sandbox_error = sandbox_error_;
    if (WIFEXITED(status_)) o.exit_status = WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) o.signal = WTERMSIG(status_);
    using Kind = ChildOutcome::Kind;
    // A plugin that returns a failure because it saw ctx.cancelled() still
    // ended by timeout or Ctrl-C; one that finished its work in time did not.
    if (result_.is_object() && (result_.value("ok", false) || (!cancelled_ && !timed_out_))) {
      o.kind = Kind::completed;
      o.result = result_;
      return o;
    }
    // What the plugin said when it stopped (thrown or returned) is the most
    // useful part of the record: keep it after the host's reason.
    std::string said;
    if (error_.is_object()) said = error_.value("message", "");
    if (said.empty() && result_.is_object()) said = result_.value("summary", "");
    if (cancelled_) {
      o.kind = Kind::cancelled;
      o.message = said.empty() ? "cancelled by the operator" : "cancelled by the operator: " + said;
      return o;
    }
    if (timed_out_) {
      o.kind = Kind::timed_out;
      o.message = fmt::format("timed out after {} s{}{}", options_.timeout->count() / 1000.0,
                              loaded_ ? "" : " while loading (its constructors or static initialisers did not return in time)",
                              said.empty() ? "" : ": " + said);
      return o;
    }
    if (!protocol_error_.empty()) {
      o.kind = Kind::protocol_error;
      o.message = "plugin broke the host protocol: " + protocol_error_;
      return o;
    }
    if (error_.is_object()) {
      o.kind = error_.value("kind", "") == "load" ? Kind::load_failed : Kind::threw;
      o.message = error_.value("message", "unknown error");
      return o;
    }
    if (o.signal != 0) {
      o.kind = Kind::crashed;
      o.message = fmt::format("plugin crashed with {}{}", signal_name(o.signal), loaded_ ? "" : " while loading");
      return o;
    }
    o.kind = Kind::exited;
    o.message = loaded_ ? fmt::format("plugin exited with status {} without a result", o.exit_status)
                        : fmt::format("plugin exited with status {} while loading", o.exit_status);
    return o;
  }

  const SupervisorOptions& options_;
  EventSink& sink_;
  pid_t pid_;
  UniqueFd events_;
  UniqueFd control_;
  UniqueFd output_;
  UniqueFd plugin_status_;  // see try_reap()
  int signal_fd_;
  UniqueFd pidfd_;
  FrameReader reader_;
  std::optional<Clock::time_point> deadline_;
  std::optional<Clock::time_point> kill_at_;
  bool term_sent_ = false;
  bool timed_out_ = false;
  bool cancelled_ = false;
  bool loaded_ = false;
  std::string sandbox_error_;
  bool reaped_ = false;
  int status_ = 0;
  nlohmann::json result_;
  nlohmann::json error_;
  std::string protocol_error_;
  std::string output_line_;
  std::size_t output_kept_ = 0;
  bool output_truncated_ = false;
};

// Makes the next fork() the init of a new pid namespace, where the host may
// create one (CAP_SYS_ADMIN: as root; elsewhere nothing changes). The run's
// processes then live and die with its child: when the child ends, or is
// killed with the host (PR_SET_PDEATHSIG, kill -9 of the host included), the
// kernel kills whatever else the run started, a daemon that left its session
// too; and no process outside the namespace, the host first, can be named
// from inside it. unshare() moves only the children made afterwards: leave()
// puts the host's own later children (a rollback's child, a pager) back in
// its namespace, which a second unshare() requires.
class PidNamespaceForChild {
 public:
  explicit PidNamespaceForChild(bool wanted) {
    if (!wanted) return;
    own_.reset(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (own_ && ::unshare(CLONE_NEWPID) == 0) active_ = true;
  }
  ~PidNamespaceForChild() {
    if (active_) ::setns(own_.get(), CLONE_NEWPID);
  }
  PidNamespaceForChild(const PidNamespaceForChild&) = delete;
  PidNamespaceForChild& operator=(const PidNamespaceForChild&) = delete;

  bool active() const { return active_; }
  // In the host once the child is forked: true when back in its own namespace.
  bool leave() {
    if (!active_) return true;
    active_ = false;
    return ::setns(own_.get(), CLONE_NEWPID) == 0;
  }

 private:
  UniqueFd own_;
  bool active_ = false;
};

}  // namespace

SandboxPlan child_sandbox_plan(const ChildRequest& request) {
  SandboxInputs inputs;
  inputs.mode = request.sandbox_mode;
  inputs.abi = request.landlock_abi;
  inputs.params = request.params;
  inputs.work_dir = request.work_dir.string();
  inputs.output_dir = request.output_dir.string();
  inputs.output_dir_given = request.output_dir_given;
  inputs.database_url = request.database_url;
  inputs.host_binary = request.host_binary;
  inputs.vouched = request.plugin_vouched;
  inputs.protected_dirs = request.protected_dirs;
  inputs.rollback = request.operation == Operation::rollback;
  inputs.run_write_grants = request.run_write_grants;
  inputs.read_document = [](const std::string& path) { return load_params_file(path); };
  SandboxPlan plan = build_sandbox_plan(request.capabilities, inputs);
  plan.memory_max = request.memory_max;
  return plan;
}

void hold_cancel_signals() {
  sigset_t held;
  cancel_signals(&held);
  ::sigprocmask(SIG_BLOCK, &held, nullptr);
}

ChildOutcome supervise(const ChildRequest& request, const SupervisorOptions& options, EventSink& sink) {
  // Planned here, where a failure to plan is the host's: the child only applies.
  std::optional<SandboxPlan> own_plan;
  if (options.sandbox_plan == nullptr) own_plan = child_sandbox_plan(request);
  const SandboxPlan& plan = options.sandbox_plan != nullptr ? *options.sandbox_plan : *own_plan;
  Pipe events = make_pipe();
  Pipe control = make_pipe();
  Pipe output = make_pipe();
  SignalForwarder signals;

  // What the run starts and leaves behind comes back to us (child subreaper)
  // to be killed, unless we have other children that must not be mistaken
  // for the run's. Not for a plugin that runs the host (run_scheduler): its
  // jobs are whole hosts, which its own stop and their SIGTERM end cleanly.
  const bool sole_parent = !request.capabilities.runs_host && childless();
  if (sole_parent) ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::fflush(nullptr);  // nothing buffered in the host may be written twice
  PidNamespaceForChild pid_namespace(plan.pid_namespace);
  // A host that cannot make the pid namespace (not root, or without
  // CAP_SYS_ADMIN): the child stays the run's keeper instead (see run_child).
  const bool keeper = plan.pid_namespace && !pid_namespace.active();
  // The plugin's wait status, from the namespace's init or the keeper.
  std::optional<Pipe> status;
  if (pid_namespace.active() || keeper) status = make_pipe();
  // The child inherits the host's handler and signal pipe: a cancel signal
  // (the timeout's SIGTERM to its process group) that reached it before it
  // set its own would have read as the operator's Ctrl-C in the host, and
  // never as a cancellation in the plugin. Held across the fork, it waits
  // for the child's own handler (prepare_process unblocks it).
  sigset_t cancel, before;
  cancel_signals(&cancel);
  ::sigprocmask(SIG_BLOCK, &cancel, &before);
  pid_t pid = ::fork();
  if (pid != 0) ::sigprocmask(SIG_SETMASK, &before, nullptr);
  if (pid < 0) throw state_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    events.read.reset();
    control.write.reset();
    output.read.reset();
    if (status) status->read.reset();
    run_child(request, plan, events.write.get(), control.read.get(), output.write.get(),
              status ? status->write.get() : -1, keeper);
  }
  const bool own_pid_namespace = pid_namespace.active();
  if (status) status->write.reset();
  if (!pid_namespace.leave()) {
    // Every later fork of the host would fail (its children's namespace dies
    // with this child): the run does not start.
    const int error = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw state_error(std::string("setns back to the host's pid namespace: ") + std::strerror(error));
  }
  ::setpgid(pid, pid);  // also done by the child: whichever runs first wins the race
  events.write.reset();
  control.read.reset();
  output.write.reset();
  ::fcntl(control.write.get(), F_SETFL, ::fcntl(control.write.get(), F_GETFL) | O_NONBLOCK);

  Supervision supervision(options, sink, pid, std::move(events.read), std::move(control.write),
                          std::move(output.read), signals.fd(), status ? std::move(status->read) : UniqueFd());
  ChildOutcome outcome = supervision.wait();
  outcome.pid_namespace = own_pid_namespace;
  outcome.keeper = keeper;
  if (sole_parent) {
    outcome.nothing_left = kill_leftovers();
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  return outcome;
}

}  // namespace dihya::host
