// SPDX-License-Identifier: AGPL-3.0-or-later
// Exit codes of dihya-host and the one error family that carries them to
// main(). Every error the operator or the machine can cause is a HostError
// made by one of the functions below, and ends as one line on stderr with its
// code; any other exception that reaches main() is a bug ("internal error").
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
// The host's own files (state dir, audit log, journal, run records) are not
// what they must be, or the system refused (disk full, no more processes):
// exit 1, the message naming the file or the call and the reason.
inline HostError state_error(const std::string& message) { return HostError(kExitRunFailed, message); }

}  // namespace dihya::host
