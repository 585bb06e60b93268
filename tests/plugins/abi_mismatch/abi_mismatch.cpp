// SPDX-License-Identifier: AGPL-3.0-or-later
// Claims SDK ABI 99.0: the host must refuse it before loading, naming both versions.
#include <dihya/plugin.hpp>

namespace abi_mismatch {
class Future final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};
std::unique_ptr<dihya::Plugin> create() { return std::make_unique<Future>(); }
}  // namespace abi_mismatch

DIHYA_EXPORT_FACTORY(abi_mismatch::create)
DIHYA_EXPORT_ABI_TAG("dihya-abi 99.0 " DIHYA_ABI_STDLIB)
