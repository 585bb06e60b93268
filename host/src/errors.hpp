// SPDX-License-Identifier: AGPL-3.0-or-later
// Exit codes of dihya-host and the exception that carries one to main(). Every
// error the operator can cause ends as one line on stderr and one of these codes.
#pragma once

#include <stdexcept>
#include <string>

namespace dihya::host {

enum ExitCode : int {
  kExitOk = 0,
  kExitRunFailed = 1,    // the run failed (or audit verify found tampering, a backup is damaged)
  kExitUsage = 2,        // usage or validation error: nothing was run
  kExitLoad = 3,         // the plugin could not be loaded
  kExitTimeout = 4,      // the run timed out
  kExitRolledBack = 5,   // the run failed and was rolled back
  kExitInterrupted = 130 // Ctrl-C
};

class HostError : public std::runtime_error {
 public:
  HostError(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// A usage or validation error (exit 2).
inline HostError usage_error(const std::string& message) { return HostError(kExitUsage, message); }
// A plugin that cannot be loaded (exit 3).
inline HostError load_error(const std::string& message) { return HostError(kExitLoad, message); }

}  // namespace dihya::host
