// SPDX-License-Identifier: AGPL-3.0-or-later
// Least privilege for plugin children. A plugin declares in plugin.json what
// it needs ("capabilities"); the host turns that, the run's parameters and its
// work/output dirs into a SandboxPlan (pure data: unit-tested, shown by `info`,
// stored in the run record), and the child applies the plan to itself after
// fork and before the plugin library is loaded, so that even the plugin's
// constructors run confined:
//   PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0, rlimits;
//   Landlock: the files the plan names and nothing else (ABI 1+), TCP connect
//     to the declared ports only (ABI 4+), no signals to and no abstract Unix
//     sockets of processes outside the sandbox (ABI 6+);
//   seccomp: no ptrace, no namespaces, no raw/packet sockets, no io_uring,
//     bpf, perf_event_open, keyctl, modules, kexec, mount; no IP sockets at
//     all for a plugin that declares no network.
// Landlock domains stack and are inherited: whatever a plugin executes is at
// most as free as the plugin. sandbox.cpp builds plans; sandbox_apply.cpp is
// the only part that talks to the kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loading/capabilities.hpp"

namespace dihya::host {

// The `sandbox` setting: refuse a run the kernel cannot confine as planned,
// confine as much as the kernel can, or confine nothing.
enum class SandboxMode { require, best_effort, off };

const char* sandbox_mode_name(SandboxMode mode);
bool parse_sandbox_mode(const std::string& text, SandboxMode* mode);

// Landlock access classes a path rule grants.
enum class PathAccess { read, write, exec };

// What the plan already knows of a path's kind (the runtime's own files, the
// dirs the host made), so the child need not ask the kernel; unknown: it
// does (fstat). A wrong guess never widens a grant: directory rights on a
// file fail and are tried again with the kind the kernel reports.
enum class PathKind { unknown, directory, file, device };

struct PathRule {
  std::string path;
  PathAccess access = PathAccess::read;
  std::string reason;  // "runtime", "work dir", "read param:path"...
  PathKind kind = PathKind::unknown;
  // The path as it was checked, its symbolic links resolved: the child opens
  // it following none, so that a link swapped in since (another user's, on
  // the way to a grant) cannot move the grant onto the host's own files.
  // Empty for the runtime's system paths, opened as named.
  std::string checked;
};

struct SandboxPlan {
  SandboxMode mode = SandboxMode::require;
  int abi = 0;                      // the kernel's Landlock ABI (0: none)
  bool landlock = true;             // false for a plugin that runs the host (see Capabilities::runs_host)
  std::vector<PathRule> rules;
  std::vector<std::uint16_t> connect_ports;
  bool ip_sockets = false;          // AF_INET/AF_INET6 allowed at all
  bool seccomp = true;
  // New processes (fork, vfork, clone without CLONE_THREAD) allowed: for a
  // plugin that may start programs or declares "processes".
  bool processes = true;
  // A plugin that runs the host (Capabilities::runs_host): its seccomp
  // filter lets its jobs' hosts set their plugins' memory limits and pid
  // namespaces (ChildSeccompOptions::runs_host).
  bool runs_host = false;
  std::vector<std::string> notes;   // skipped entries, what the kernel cannot do
  std::string refusal;              // require mode: why the run must not start ("" = fine)
  // In every confining mode: a declared write grant that would reach the
  // host's own files (SandboxInputs::protected_dirs); "" = none.
  std::string forbidden;
  // The child's memory limit (RLIMIT_DATA, soft and hard), in every mode,
  // "off" included: it bounds resources, it does not confine. 0: none.
  std::uint64_t memory_max = 0;
  // The child is started as the init of a pid namespace of its own, where the
  // host may create one (as root), when the plugin may make processes: none
  // then outlives the run, even when the host is killed (the others cannot
  // make one). Its price, one more fork per run (~0.3 ms here), is paid by
  // those runs only. Not for a plugin that runs the host: its jobs' hosts
  // record their pids as the host sees them.
  bool pid_namespace = false;
};

struct SandboxInputs {
  SandboxMode mode = SandboxMode::require;
  int abi = 0;
  nlohmann::json params = nlohmann::json::object();
  std::string work_dir;
  std::string output_dir;
  bool output_dir_given = false;     // --output-dir: checked against protected_dirs as a write grant is
  std::string database_url;          // the URL the child gets ("" = none)
  std::string host_binary;           // for exec "dihya-host"
  // The plugin file lies in a plugin dir that ships with this host (the
  // installed <prefix>/lib/dihya/plugins, or a build tree's <build>/plugins),
  // or its signature was verified with a trusted key: only such a plugin may
  // declare exec "dihya-host" under require.
  bool vouched = false;
  bool rollback = false;             // write grants go to each path's parent: the run may have made it
  // rollback: the write grants of the run, {why, path} as its record keeps
  // them. A run that made a path's missing parents was granted the nearest
  // directory that existed: the rollback that removes them gets it back.
  std::vector<std::pair<std::string, std::string>> run_write_grants;
  // The host's own directories (state dir, cache, config, trusted keys, plugin
  // dirs, its binary's dir), each with what it is: no declared write grant may
  // cover one or lie inside one, or the plugin could rewrite its records and
  // audit log, or what the host loads and trusts next.
  std::vector<std::pair<std::string, std::string>> protected_dirs;  // {what, path}
  // Reads a "param:NAME#..." file (JSON or YAML) for its listed paths; throws on bad input.
  std::function<nlohmann::json(const std::string& path)> read_document;
};

// The kernel's Landlock ABI version, 0 when Landlock is missing or disabled.
int landlock_abi();

// The default mode when the settings name none: require where the kernel has
// Landlock, best-effort (with a warning the caller prints) elsewhere.
SandboxMode default_sandbox_mode(int abi);

// Builds the plan. DIHYA_TEST_LANDLOCK_ABI=N (tests) makes the plan judge
// what the kernel can enforce as if it had ABI N when that is lower: it can
// only add a refusal, never weaken what is applied. Never touches the file system except to find, for a
// declared path that does not exist yet, its nearest existing parent.
SandboxPlan build_sandbox_plan(const Capabilities& caps, const SandboxInputs& inputs);

// For the run record and `show`: mode, ABI, rules, ports, seccomp.
nlohmann::json sandbox_plan_json(const SandboxPlan& plan);
std::string sandbox_plan_line(const SandboxPlan& plan);  // one line: "require, Landlock ABI 7, 14 rules, seccomp on"

// In the child, single-threaded, after fork: confines the calling process to
// `plan` (plugin_fd, the descriptor it will load, gets a read rule). `host_pid`
// is the supervising host, never to be signalled. Returns "" or why the
// sandbox could not be applied; in require mode the caller must not go on.
// A checked grant whose path gained a symbolic link since the plan
// (PathRule::checked) is left out and named in `*moved`: whatever the mode,
// the caller must not go on.
std::string apply_sandbox(const SandboxPlan& plan, int plugin_fd, int host_pid, std::string* moved = nullptr);

// The operator's hint for a failed run: when `message` carries EACCES/EPERM
// text and the run was sandboxed, says so and, when a path in the message
// lies outside the plan's rules, names the capability that would allow it.
// "" when there is nothing to add.
std::string sandbox_denial_hint(const SandboxPlan& plan, const std::string& message);

}  // namespace dihya::host
