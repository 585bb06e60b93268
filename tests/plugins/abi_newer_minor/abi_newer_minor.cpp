// SPDX-License-Identifier: AGPL-3.0-or-later
// Claims the host's SDK ABI major with a newer minor: it may call what this
// host lacks, so the host must refuse it, naming both versions.
#include <dihya/plugin.hpp>

namespace abi_newer_minor {
class Newer final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};
std::unique_ptr<dihya::Plugin> create() { return std::make_unique<Newer>(); }
}  // namespace abi_newer_minor

DIHYA_EXPORT_FACTORY(abi_newer_minor::create)
DIHYA_EXPORT_ABI_TAG("dihya-abi " DIHYA_ABI_STR(DIHYA_ABI_MAJOR) "." DIHYA_ABI_STR(DIHYA_ABI_MINOR) "9 " DIHYA_ABI_STDLIB)
