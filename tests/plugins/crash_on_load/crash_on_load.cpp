// SPDX-License-Identifier: AGPL-3.0-or-later
// Crashes in a static initialiser, i.e. inside dlopen, before any plugin call.
#include <csignal>

#include <dihya/plugin.hpp>

namespace crash_on_load {

const int kCrash = [] {
  std::raise(SIGSEGV);
  return 0;
}();

class CrashOnLoad final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("unreachable"); }
};

}  // namespace crash_on_load

DIHYA_PLUGIN(crash_on_load::CrashOnLoad)
