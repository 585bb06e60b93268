// SPDX-License-Identifier: AGPL-3.0-or-later
// Carries the ABI tag of SDK 1.0, the last major before this one (Plugin and
// Context changed layout in 2.0): the host must refuse to load it, before
// running any of its code, and say to rebuild it.
#include <dihya/plugin.hpp>

namespace abi_older_major {
class Older final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};
std::unique_ptr<dihya::Plugin> create();
std::unique_ptr<dihya::Plugin> create() { return std::make_unique<Older>(); }
}  // namespace abi_older_major

static_assert(DIHYA_ABI_MAJOR > 1, "this plugin stands for a plugin built against an older SDK major");
DIHYA_EXPORT_FACTORY(abi_older_major::create)
DIHYA_EXPORT_ABI_TAG("dihya-abi 1.0 " DIHYA_ABI_STDLIB)
