// SPDX-License-Identifier: AGPL-3.0-or-later
// Its capabilities grant a path through a parameter its schema lacks: check
// must name it. The code itself does nothing.
#include <dihya/plugin.hpp>

namespace undeclared_param {

class UndeclaredParam final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("did nothing"); }
};

}  // namespace undeclared_param

DIHYA_PLUGIN(undeclared_param::UndeclaredParam)
