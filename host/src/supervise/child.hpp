// SPDX-License-Identifier: AGPL-3.0-or-later
// The child side of a supervised operation: runs in the forked process only,
// loads the plugin with Boost.DLL (RTLD_NOW | RTLD_LOCAL), performs the
// operation through a Context that turns every call into a frame to the host,
// and ends with _exit so nothing of the host's state is flushed twice.
#pragma once

#include "supervise/supervisor.hpp"

namespace dihya::host {

// Before loading the plugin, the child confines itself to `plan` (see
// supervise/sandbox.hpp); when that fails in require mode it reports a load
// error and loads nothing. status_fd >= 0: the child is the init of the run's
// own pid namespace, or with `keeper` the run's keeper (a host that cannot
// make one); either runs the plugin in a process of its
// own and writes that process's wait status (an int) there before it ends.
[[noreturn]] void run_child(const ChildRequest& request, const SandboxPlan& plan, int event_fd, int control_fd,
                            int output_fd, int status_fd, bool keeper);

}  // namespace dihya::host
