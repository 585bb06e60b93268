// SPDX-License-Identifier: AGPL-3.0-or-later
// The write-ahead undo log of one run. A destructive plugin records how to undo
// a step *before* it performs the step; if the run fails, times out or is
// cancelled, the host hands the entries back to Plugin::rollback, newest first.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dihya {

struct UndoEntry {
  std::string action;   // what the step did, in the plugin's words ("delete_rows")
  nlohmann::json data;  // everything needed to undo it (the deleted rows, the old file...)
};

class Journal {
 public:
  virtual ~Journal() = default;

  // Appends `entry` and returns once it is durable (fsynced by the host).
  // Throws dihya::Error when it cannot be made durable: the plugin must then
  // not perform the step. Not thread-safe.
  virtual void record(const UndoEntry& entry) = 0;
};

}  // namespace dihya
