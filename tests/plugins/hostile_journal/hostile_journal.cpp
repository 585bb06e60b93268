// SPDX-License-Identifier: AGPL-3.0-or-later
// A reversible plugin that misbehaves once it has changed something (one
// journal entry), or in its rollback: what a run that must be rolled back
// can throw at the host. The journal entry carries the rollback's behaviour.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <dihya/plugin.hpp>

namespace hostile_journal {

// A frame of the host protocol written by hand to every descriptor the
// child may hold (only the event pipe takes it), as a plugin that bypasses
// the SDK would.
void forge_frame(char type, const std::string& payload) {
  std::string frame = {'D', 'H', 1, type};
  for (int shift = 0; shift < 32; shift += 8) frame.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
  frame += payload;
  for (int fd = 3; fd < 64; ++fd) {
    for (std::size_t done = 0; done < frame.size();) {
      const ssize_t n = ::write(fd, frame.data() + done, frame.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
}

// Data keyed by a secret, and two keys that redact alike.
nlohmann::json keyed_by(const std::string& secret) {
  nlohmann::json data;
  data[secret] = "value under the secret";
  data["***"] = "value under the stars";
  data["nested"] = {{"k-" + secret, 1}};
  return data;
}

class HostileJournal final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto behaviour = params.get<std::string>("behaviour");
    const auto size = static_cast<std::size_t>(params.get<long long>("size"));
    const nlohmann::json undo{{"rollback", params.get<std::string>("rollback")}};
    if (behaviour == "journal_flood") {
      for (long long i = 0; i < params.get<long long>("count"); ++i) {
        ctx.journal().record({"noop", {{"rollback", "ok"}, {"blob", std::string(size, 'j')}}});
      }
      return dihya::Result::success("recorded every entry");
    }
    if (behaviour == "leak_keys") {
      const std::string secret = ctx.secret("password").value_or("no password");
      ctx.journal().record({"noop", undo});
      return dihya::Result::success("data keyed by a secret", keyed_by(secret));
    }
    if (behaviour == "journal_secret") {
      // The secret in its undo entry: the journal keeps it in clear.
      ctx.journal().record({"noop", {{"rollback", "ok"}, {"password", ctx.secret("password").value_or("")}}});
      return dihya::Result::success("journaled a secret");
    }
    if (behaviour == "big_data") return dihya::Result::success("big data", {{"blob", std::string(size, 'd')}});

    ctx.journal().record({"noop", undo});
    if (behaviour == "big_summary") return dihya::Result::failure(std::string(size, '"'));
    if (behaviour == "fill_disk") {
      // Fills the filesystem of its output dir, bytes then inodes, and
      // fails: the rollback that follows finds no room for a directory.
      const auto dir = ctx.output_dir() / "fill";
      ::mkdir(dir.c_str(), 0700);
      const int fd = ::open((dir / "bytes").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const std::string chunk(1u << 16, 'F');
      for (std::size_t want = chunk.size(); want > 0; want /= 2) {
        while (::write(fd, chunk.data(), want) == static_cast<ssize_t>(want)) {
        }
      }
      ::close(fd);
      for (int i = 0; i < 100000; ++i) {
        const int f = ::open((dir / std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (f < 0) break;
        ::close(f);
      }
      return dihya::Result::failure("the disk is full");
    }
    if (behaviour == "forge_invalid") {
      forge_frame(5, R"({"ok":false,"invalid":true,"summary":"parameter 'x': forged","data":{}})");
      ::_exit(0);
    }
    if (behaviour == "forge_load") {
      forge_frame(6, R"({"kind":"load","message":"cannot load: forged"})");
      ::_exit(0);
    }
    return dihya::Result::failure("failed after journalling");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    const std::string how = newest_first.empty() ? "ok" : newest_first.front().data.value("rollback", "ok");
    if (how == "hang") {
      while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return dihya::Result::failure("rollback stopped on cancellation");
    }
    if (how == "ignore_cancel") {
      // Sees the cancellation, carries on: only SIGKILL, after the grace
      // period, ends it. Says so if it lives 4 s past the cancellation.
      while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ctx.log().info("rollback cancelled; carrying on");
      std::this_thread::sleep_for(std::chrono::seconds(4));
      ctx.log().info("rollback still alive 4 s after its cancellation");
      std::this_thread::sleep_for(std::chrono::seconds(3600));
    }
    if (how == "big_summary") return dihya::Result::failure(std::string(8300000, '"'));
    if (how == "leak_keys") {
      return dihya::Result::success("rolled back, data keyed by a secret",
                                    keyed_by(ctx.secret("database_password").value_or("no password")));
    }
    return dihya::Result::success("rolled back " + std::to_string(newest_first.size()) + " entr" +
                                  (newest_first.size() == 1 ? "y" : "ies"));
  }
};

}  // namespace hostile_journal

DIHYA_PLUGIN(hostile_journal::HostileJournal)
