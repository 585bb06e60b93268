// SPDX-License-Identifier: AGPL-3.0-or-later
// Every way a plugin can misbehave towards its host, one parameter value each.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <dihya/plugin.hpp>

namespace hostile {

class Hostile final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto behaviour = params.get<std::string>("behaviour");
    const auto seconds = params.get<int>("seconds");
    if (behaviour == "segfault") std::raise(SIGSEGV);
    if (behaviour == "abort") std::abort();
    if (behaviour == "throw") throw std::runtime_error("hostile plugin threw on purpose");
    if (behaviour == "exit7") std::exit(7);
    if (behaviour == "hang") std::this_thread::sleep_for(std::chrono::seconds(seconds));
    if (behaviour == "hang_ignoring_cancel") {
      ::signal(SIGTERM, SIG_IGN);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    if (behaviour == "wait_for_cancel") {
      while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return dihya::Result::failure("stopped on cancellation");
    }
    if (behaviour == "flood") {
      for (int i = 0; i < 200000; ++i) std::printf("flooding stdout line %d with some padding text\n", i);
      for (int i = 0; i < 20000; ++i) std::fprintf(stderr, "flooding stderr line %d\n", i);
      for (int i = 0; i < 20000; ++i) ctx.log().info("flooding the log {}", i);
    }
    if (behaviour == "huge_journal") {
      // One undo entry over the 16 MiB frame limit: record() must throw, not end the child.
      ctx.journal().record({"noop", {{"blob", std::string(17u << 20, 'x')}}});
      return dihya::Result::success("unreachable: the entry was too large");
    }
    if (behaviour == "close_pipe") {
      for (int fd = 3; fd < 1024; ++fd) ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return dihya::Result::success("unreachable: the pipe is closed");
    }
    if (behaviour == "garbage") {
      for (int fd = 3; fd < 64; ++fd) {
        [[maybe_unused]] auto n = ::write(fd, "garbage!garbage!", 16);
      }
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    return dihya::Result::success("behaved");
  }
};

}  // namespace hostile

DIHYA_PLUGIN(hostile::Hostile)
