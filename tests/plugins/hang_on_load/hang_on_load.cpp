// SPDX-License-Identifier: AGPL-3.0-or-later
// Never returns from a static initialiser, i.e. from dlopen: no plugin call
// is ever reached. SIGTERM sets the child's cancellation flag, which no code
// here reads, so only the SIGKILL after the grace period ends it.
#include <unistd.h>

#include <dihya/plugin.hpp>

namespace hang_on_load {

const int kHang = [] {
  for (;;) ::sleep(1);
  return 0;
}();

class HangOnLoad final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};

}  // namespace hang_on_load

DIHYA_PLUGIN(hang_on_load::HangOnLoad)
