// SPDX-License-Identifier: AGPL-3.0-or-later
// Exits with status 7 in a static initialiser, i.e. inside dlopen, before any
// plugin call: as a crash while loading, not as a run that ended early.
#include <unistd.h>

#include <dihya/plugin.hpp>

namespace exit_on_load {

const int kExit = [] {
  ::_exit(7);
  return 0;
}();

class ExitOnLoad final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};

}  // namespace exit_on_load

DIHYA_PLUGIN(exit_on_load::ExitOnLoad)
