// SPDX-License-Identifier: AGPL-3.0-or-later
// The smallest plugin: the benchmark baseline for the host's overhead.
#include <dihya/plugin.hpp>

namespace noop {

class Noop final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("nothing done"); }
};

}  // namespace noop

DIHYA_PLUGIN(noop::Noop)
