// SPDX-License-Identifier: AGPL-3.0-or-later
// Shows, from inside the child, what an attacker who reads /proc/<pid>/environ
// or a core file would get: each operation copies the child's own environment
// block (as the kernel shows it), its core-dump limit and dumpable flag, and
// whether ctx.secret("salt") arrived, into DIHYA_PROBE_DIR/<op>-<pid>.txt.
// The secret itself is only written where backup_db writes its password, a
// pgpass file in ctx.work_dir() (run), so tests can see that file cleaned.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include <dihya/plugin.hpp>

namespace secret_probe {

void probe(const char* op, dihya::Context& ctx) {
  const char* dir = std::getenv("DIHYA_PROBE_DIR");
  if (dir == nullptr || *dir == '\0') return;
  std::ifstream env("/proc/self/environ", std::ios::binary);
  std::string block((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
  for (char& c : block) c = c == '\0' ? '\n' : c;
  rlimit core{};
  ::getrlimit(RLIMIT_CORE, &core);
  const auto salt = ctx.secret("salt");
  std::ofstream out(std::string(dir) + "/" + op + "-" + std::to_string(::getpid()) + ".txt");
  out << "core_limit=" << (core.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(core.rlim_cur))
      << "\ndumpable=" << ::prctl(PR_GET_DUMPABLE) << "\nsalt_bytes=" << (salt ? std::to_string(salt->size()) : "none")
      << "\nPROBE_TOKEN in environ: " << (std::getenv("PROBE_TOKEN") != nullptr ? "set" : "unset")
      << "\n--- environ\n"
      << block;
}

class SecretProbe final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params&, dihya::Context& ctx) override {
    probe("validate", ctx);
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    probe(ctx.dry_run() ? "dryrun" : "run", ctx);
    // What backup_db does for pg_dump: a password file in the work dir.
    if (auto salt = ctx.secret("salt"); salt && !ctx.dry_run() && !ctx.work_dir().empty()) {
      std::ofstream(ctx.work_dir() / "pgpass") << "*:*:*:*:" << *salt << "\n";
    }
    if (params.json().contains("note")) {
      const auto note = params.get<std::string>("note");
      std::cout << "note: " << note << std::endl;
      ctx.log().info("note: {}", note);
    }
    const double pause = params.json().value("pause", 0.0);
    if (pause > 0) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long long>(pause * 1000)));
    if (params.json().value("crash", false)) std::abort();
    if (ctx.dry_run()) return dihya::Result::success("probed (dry run)");
    ctx.journal().record({"probe", {{"pid", ::getpid()}}});
    if (params.json().value("fail", false)) return dihya::Result::failure("failing on purpose after one journal entry");
    return dihya::Result::success("probed");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>&, dihya::Context& ctx) override {
    probe("rollback", ctx);
    return dihya::Result::success("nothing to undo");
  }
};

}  // namespace secret_probe

DIHYA_PLUGIN(secret_probe::SecretProbe)
