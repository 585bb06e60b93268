// SPDX-License-Identifier: AGPL-3.0-or-later
// The anchor for the host's overhead: the least a program can do to run a
// plugin — dlopen it, call the factory, run() with a do-nothing context. No
// process isolation, validation, journal, audit or records. (C++ rather than
// C because the factory returns a C++ object.)
#include <dlfcn.h>

#include <cstdio>

#include <dihya/plugin.hpp>

namespace {

class NullLogger final : public dihya::Logger {
  void write(dihya::LogLevel, std::string_view) override {}
};
class NullJournal final : public dihya::Journal {
  void record(const dihya::UndoEntry&) override {}
};
class BareContext final : public dihya::Context {
 public:
  dihya::Logger& log() override { return logger_; }
  bool dry_run() const override { return false; }
  bool cancelled() const override { return false; }
  void progress(std::uint64_t, std::uint64_t, std::string_view) override {}
  dihya::Journal& journal() override { return journal_; }
  const std::filesystem::path& work_dir() const override { return dir_; }
  const std::filesystem::path& output_dir() const override { return dir_; }
  std::optional<std::string> secret(std::string_view) const override { return std::nullopt; }
  std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
  const std::string& run_id() const override { return id_; }
  const std::string& database_url() const override { return id_; }

 private:
  NullLogger logger_;
  NullJournal journal_;
  std::filesystem::path dir_{"."};
  std::string id_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bare_loader <plugin.so>\n");
    return 2;
  }
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::fprintf(stderr, "%s\n", dlerror());
    return 3;
  }
  // BOOST_DLL_ALIAS exports a pointer to the factory under the alias name.
  auto* alias = static_cast<dihya::PluginFactory**>(dlsym(handle, "dihya_create_plugin"));
  if (alias == nullptr) return 3;
  BareContext ctx;
  const dihya::Result result = (**alias)()->run(dihya::Params(), ctx);
  std::printf("%s\n", result.summary.c_str());
  return result.ok ? 0 : 1;
}
