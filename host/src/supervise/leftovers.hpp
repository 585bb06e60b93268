// SPDX-License-Identifier: AGPL-3.0-or-later
// What a run leaves behind: the processes that became this process's
// children while it was a child subreaper (PR_SET_CHILD_SUBREAPER). The host
// ends them after a run; a keeper (supervise/child.cpp) when its plugin's
// process ends, or when the host dies.
#pragma once

namespace dihya::host {

// True when this process has no child (alive or zombie). One system call.
bool childless();

// Kills this process's children, and those that become its children as
// their parents die, until none is left; true when none is, within ~0.5 s.
// Needs /proc/self/task/*/children (CONFIG_PROC_CHILDREN).
bool kill_leftovers();

}  // namespace dihya::host
