// SPDX-License-Identifier: AGPL-3.0-or-later
// One plugin operation in a supervised child, without run records: what
// `validate` and `check` need. Log lines and journal entries are kept in memory.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"
#include "loading/plugin_file.hpp"
#include "params/param_builder.hpp"
#include "params/redaction.hpp"
#include "supervise/supervisor.hpp"

namespace dihya::host {

struct OperationReport {
  ChildOutcome outcome;
  std::vector<dihya::UndoEntry> journal;  // oldest first
  std::vector<std::string> log;
};

// Every child of every command (run, validate, rollback, check) is prepared
// here, so that no command forgets a secret:
//  - the plugin's path; the configured database URL, started on demand when
//    the plugin needs a database (never for Operation::metadata);
//  - the writeOnly top-level parameters of `params` as ctx.secret(name), and
//    the URL's password as ctx.secret("database_password");
//  - every secret (writeOnly values, @env:/@file: texts, the URL's password
//    decoded and as written, percent-encoded) registered with `redactor` and
//    listed in scrub_values, so that the child blanks it out of the
//    environment block /proc/<pid>/environ shows;
//  - the host stops dumping core once it holds any secret (the child always
//    does, see supervise/core_dumps.hpp);
//  - the sandbox: the plugin's capabilities, the `sandbox` setting and the
//    kernel's Landlock ABI. Throws a usage error (exit 2) when the setting is
//    require and the kernel cannot enforce what the plugin's plan needs.
// `params` may be empty (a rollback has only its journal).
// plugin.json's "capabilities"; throws a load error (exit 3) naming the file
// when they are malformed.
Capabilities plugin_capabilities(const PluginFile& plugin);

// The directories a run's child gets, known before they are made: given to
// prepare_child_request, they are in the request and in the plan it returns,
// which the caller then passes to supervise (SupervisorOptions::sandbox_plan)
// instead of planning the same sandbox twice.
struct ChildDirs {
  std::filesystem::path work_dir;
  std::filesystem::path output_dir;
  bool output_dir_given = false;  // --output-dir, the operator's: checked like a declared write path
};

ChildRequest prepare_child_request(const PluginFile& plugin, const Settings& settings, Operation op,
                                   const ResolvedParams& params, Redactor& redactor, const ChildDirs* dirs = nullptr,
                                   SandboxPlan* plan = nullptr);

// A private directory (mode 0700, under $TMPDIR or /tmp) for a child that has
// no run directory of its own (validate, check, rollback): ctx.work_dir() is never the current
// directory, and whatever a plugin leaves there (a pgpass file) is removed
// with it. Throws HostError when it cannot be made.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

OperationReport run_operation(const ChildRequest& request, std::optional<std::chrono::milliseconds> timeout);

// Throws a load error (exit 3) when the child could not load the plugin,
// crashed or exited while loading it, or timed out before it had loaded.
void require_loaded(const ChildOutcome& outcome, const PluginFile& plugin);

// The plugin's validate(): throws a usage error (exit 2) listing the problems.
void require_semantically_valid(const ChildOutcome& outcome, const std::string& plugin_name);

}  // namespace dihya::host
