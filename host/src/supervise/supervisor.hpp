// SPDX-License-Identifier: AGPL-3.0-or-later
// Runs one plugin operation in a child process and stays in control whatever
// the plugin does. The child loads the library (the host never does), runs the
// operation and reports over a pipe; the host forwards events to a sink,
// enforces the timeout (SIGTERM to the child's process group, which the child
// turns into ctx.cancelled(), then SIGKILL after the grace period), turns
// Ctrl-C into the same cancellation, and classifies how the child ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <dihya/journal.hpp>
#include <dihya/logger.hpp>
#include <nlohmann/json.hpp>

#include "supervise/sandbox.hpp"

namespace dihya::host {

enum class Operation { metadata, validate, run, rollback };

// Everything the child needs; it inherits this through fork, so secrets never
// travel on a command line or in the environment.
struct ChildRequest {
  std::filesystem::path plugin_path;           // for messages only
  int plugin_fd = -1;                          // the checked descriptor the child loads (borrowed)
  Operation operation = Operation::run;
  nlohmann::json params = nlohmann::json::object();
  std::vector<dihya::UndoEntry> undo_entries;  // rollback: newest first
  bool dry_run = false;
  std::string run_id;
  std::string database_url;                    // empty: ctx.db() throws
  std::filesystem::path work_dir;
  std::filesystem::path output_dir;
  bool output_dir_given = false;  // --output-dir (else <run dir>/output, in the state dir by design)
  std::map<std::string, std::string> secrets;  // name → clear value
  std::vector<std::string> scrub_values;       // bytes to blank out of the child's environment
  // The sandbox (supervise/sandbox.hpp): what plugin.json declares, the
  // setting, the kernel's Landlock ABI, the host binary (for run_scheduler).
  Capabilities capabilities;
  SandboxMode sandbox_mode = SandboxMode::require;
  int landlock_abi = 0;
  std::string host_binary;
  bool plugin_vouched = false;  // see SandboxInputs::vouched
  // The host's own dirs no write grant may reach (SandboxInputs::protected_dirs).
  std::vector<std::pair<std::string, std::string>> protected_dirs;
  std::uint64_t memory_max = 0;  // RLIMIT_DATA of the child in bytes (Settings::memory_max); 0: none
  std::vector<std::pair<std::string, std::string>> run_write_grants;  // rollback: SandboxInputs::run_write_grants
  std::vector<std::pair<std::string, std::string>> environment;  // set in the child, after its scrub
};

// The sandbox the child of `request` applies to itself: its declared
// capabilities resolved against its parameters, work and output dirs and
// database URL. The host calls it too, to refuse or to record the run.
SandboxPlan child_sandbox_plan(const ChildRequest& request);

struct SupervisorOptions {
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds grace{5000};
  std::size_t max_output_bytes = 1u << 20;  // plugin stdout/stderr kept in the log
  // The plan the caller already built with child_sandbox_plan(request) (the
  // run records it), borrowed; null: supervise() builds it.
  const SandboxPlan* sandbox_plan = nullptr;
};

// Receives the child's events as they arrive, on the host's thread.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_log(dihya::LogLevel level, const std::string& message) = 0;
  virtual void on_output(const std::string& line) = 0;  // the plugin's raw stdout/stderr
  virtual void on_progress(std::uint64_t done, std::uint64_t total, const std::string& what) = 0;
  // Makes the entry durable; throws std::exception when it cannot.
  virtual void on_journal(const dihya::UndoEntry& entry) = 0;
};

struct ChildOutcome {
  enum class Kind {
    completed,      // the child sent a result
    load_failed,    // the library could not be loaded or is not a plugin
    threw,          // the operation threw
    crashed,        // killed by a signal it did not ask for (SIGSEGV, SIGABRT...)
    exited,         // exited without a result (exit(7), a closed pipe); before `loaded`: a crash while loading
    protocol_error, // wrote garbage on the pipe
    timed_out,
    cancelled,      // Ctrl-C or SIGTERM on the host
  };
  Kind kind = Kind::exited;
  bool loaded = false;         // the library loaded before things went wrong
  std::string sandbox_error;   // best-effort: why the child ran without its sandbox
  nlohmann::json result;       // completed: {"ok", "summary", "data"}
  std::string message;         // one line for the operator
  int exit_status = -1;
  int signal = 0;
  // No process the run started is left (none alive, no zombie): supervise()
  // killed the child's group, then, as a child subreaper, whatever else of
  // the run had outlived its parent (setsid, setpgid, a daemon). False when
  // it could not tell (other children of the host, no /proc/<pid>/task/*/children).
  bool nothing_left = false;
  // The child was the init of a pid namespace of its own (SandboxPlan::pid_namespace,
  // where the kernel let the host create one): nothing the run started outlives it.
  bool pid_namespace = false;
  // The child was the run's keeper (a host that cannot make the pid namespace: see run_child).
  bool keeper = false;
};

ChildOutcome supervise(const ChildRequest& request, const SupervisorOptions& options, EventSink& sink);

// Holds SIGINT, SIGTERM and SIGHUP pending until supervise() has installed
// its handlers (it unblocks them then, and a pending one cancels the run).
// Called before a run's start record is written: a run recorded as started
// is then always finished by its supervisor, never cut off between its
// record and its child (it would read as interrupted, with no outcome). A
// host that fails before supervise() exits with the signal still pending.
void hold_cancel_signals();

}  // namespace dihya::host
