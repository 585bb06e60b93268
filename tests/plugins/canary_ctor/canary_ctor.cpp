// SPDX-License-Identifier: AGPL-3.0-or-later
// Stands for foreign code an attacker swaps in: the moment it is loaded, its
// constructor creates the file named by DIHYA_TEST_CANARY. A test that finds
// the file knows this code ran.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <dihya/plugin.hpp>

namespace canary_ctor {

__attribute__((constructor)) void leave_canary() {
  if (const char* file = std::getenv("DIHYA_TEST_CANARY")) {
    const int fd = ::open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
}

class Canary final : public dihya::Plugin {
  dihya::Result run(const dihya::Params&, dihya::Context&) override { return dihya::Result::success("canary ran"); }
};

}  // namespace canary_ctor

DIHYA_PLUGIN(canary_ctor::Canary)
