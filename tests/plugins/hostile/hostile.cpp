// SPDX-License-Identifier: AGPL-3.0-or-later
// Every way a plugin can misbehave towards its host, one parameter value each.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dihya/plugin.hpp>

namespace hostile {

// A host-protocol frame written by hand: magic, version 1, type, length.
std::string frame(char type, const std::string& payload) {
  std::string out = {'D', 'H', 1, type};
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
  return out + payload;
}

// Writes `bytes` to every descriptor from 3 up: one of them is the host's pipe.
void write_everywhere(const std::string& bytes) {
  for (int fd = 3; fd < 64; ++fd) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
}

class Hostile final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context&) override {
    if (params.get<std::string>("behaviour") == "hang_in_validate") {
      std::this_thread::sleep_for(std::chrono::seconds(params.get<int>("seconds")));
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto behaviour = params.get<std::string>("behaviour");
    const auto seconds = params.get<int>("seconds");
    if (behaviour == "segfault") std::raise(SIGSEGV);
    if (behaviour == "abort") std::abort();
    if (behaviour == "throw") throw std::runtime_error("hostile plugin threw on purpose");
    if (behaviour == "exit7") std::exit(7);
    if (behaviour == "hang") std::this_thread::sleep_for(std::chrono::seconds(seconds));
    if (behaviour == "log_and_hang") {  // a run with a log and no journal, for a kill -9 of its host
      ctx.log().info("hanging for {} s", seconds);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
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
    if (behaviour == "deep_result") {
      // A result frame written by hand (the SDK would refuse nothing here)
      // whose data nests 1,000,000 levels: the host must call it a protocol
      // error, not overflow its stack copying or dumping it.
      const std::size_t depth = 1000000;
      std::string payload = R"({"ok":true,"summary":"deep","data":{"x":)";
      payload.append(depth, '[');
      payload.append(depth, ']');
      payload += "}}";
      write_everywhere(frame(5, payload));
      ::_exit(0);  // that result is the run's: the SDK sends no other
    }
    if (behaviour == "ignore_acks") {
      // Journal frames written by hand, their acks never read: the host's
      // ack pipe fills. It must call that a protocol error, not block on it.
      const std::string entry = frame(4, R"({"action":"noop","data":{}})");
      for (int i = 0; i < 20000; ++i) write_everywhere(entry);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    if (behaviour == "forged_load_error") {
      // A load error, as only the host's loader sends it, after the plugin
      // loaded: exit 3 says "nothing ran", which is not so here.
      write_everywhere(frame(6, R"({"kind":"load","message":"forged"})"));
      ::_exit(0);
    }
    if (behaviour == "memory_limit") {
      // Says the memory limit it runs under, as the kernel holds it.
      rlimit data{};
      ::getrlimit(RLIMIT_DATA, &data);
      return dihya::Result::success("memory limit " + std::to_string(data.rlim_cur));
    }
    if (behaviour == "forged_result") {
      // A result whose fields have other types than the SDK sends.
      write_everywhere(frame(5, R"({"ok":"yes","summary":5})"));
      ::_exit(0);
    }
    if (behaviour == "hog") {
      // Leaks 16 MiB chunks, each touched, until allocation fails: the
      // memory stays held while the error is reported.
      for (;;) {
        auto* chunk = new char[16u << 20];
        std::memset(chunk, 1, 16u << 20);
      }
    }
    if (behaviour == "raise_limits") {
      // Lifts its own memory limit, then lowers the host's file size limit:
      // the host's next record would kill it with SIGXFSZ.
      const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
      const bool raised = ::setrlimit(RLIMIT_DATA, &unlimited) == 0;
      const rlimit no_files{0, 0};
      const bool host = ::prlimit(::getppid(), RLIMIT_FSIZE, &no_files, nullptr) == 0;
      return dihya::Result::success(std::string("memory limit ") + (raised ? "raised" : "kept") + ", host's limits " +
                                    (host ? "changed" : "kept"));
    }
    if (behaviour == "log_flood") {
      // 100 messages of 200,000 bytes through ctx.log(): 20 MB that the
      // host must not write whole to log.txt or the terminal.
      const std::string big(200000, 'L');
      for (int i = 0; i < 100; ++i) ctx.log().info("log flood {} {}", i, big);
      return dihya::Result::success("flooded the log");
    }
    if (behaviour == "bad_utf8") {
      // Bytes that are not UTF-8 (a lone \xe9, a bare C1 \x9b) in a log line,
      // the summary, the data and the report: JSON cannot carry them.
      ctx.log().info("log caf\xe9");
      return dihya::Result::success("summary caf\xe9 \x9b", {{"note", "data caf\xe9"}}, "report caf\xe9\nline two\n");
    }
    return dihya::Result::success("behaved");
  }
};

}  // namespace hostile

DIHYA_PLUGIN(hostile::Hostile)
