// SPDX-License-Identifier: AGPL-3.0-or-later
// Its embedded plugin.json is nested 5000 levels deep: the host must refuse
// it with a one-line load error, never parse it into a value that crashes later.
#include <dihya/plugin.hpp>

namespace deep_metadata {

class DeepMetadata final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};

}  // namespace deep_metadata

DIHYA_PLUGIN(deep_metadata::DeepMetadata)
