// SPDX-License-Identifier: AGPL-3.0-or-later
// backup_db: PostgreSQL backups an operator can trust. A backup is written
// under a temporary name and renamed only once pg_dump finished and its
// manifest (a SHA-256 per file, sealed by its own checksum) is on disk, so a
// name in backup_dir is always a complete backup. Restore and prune are the
// destructive modes: restore snapshots the target before dropping it, prune
// moves backups to a trash emptied only when the run succeeded, and both
// journal each step first so `dihya-host rollback` can undo them.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <dihya/duration.hpp>
#include <dihya/plugin.hpp>
#include <dihya/utc_time.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "backup_check.hpp"
#include "backup_store.hpp"
#include "database.hpp"
#include "manifest.hpp"
#include "pg_tools.hpp"
#include "restore.hpp"

namespace backup_db {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPluginVersion = "backup_db 1.0.0";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Major version from "pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)".
int major_of(const std::string& version) {
  const auto paren = version.find(") ");
  if (paren == std::string::npos) return 0;
  return std::atoi(version.c_str() + paren + 2);
}

std::string writable_problem(const fs::path& dir) {
  std::error_code ec;
  fs::path probe = dir;
  while (!fs::exists(probe, ec)) {
    if (probe == probe.parent_path()) return "backup_dir " + dir.string() + " cannot be created";
    probe = probe.parent_path();
  }
  if (!fs::is_directory(probe, ec)) return "backup_dir " + dir.string() + ": " + probe.string() + " is not a directory";
  if (::access(probe.c_str(), W_OK | X_OK) != 0) {
    struct stat st{};
    ::stat(probe.c_str(), &st);
    return fmt::format("backup_dir {}: {} is not writable (owner uid {}, mode {:04o}); fix its permissions or choose another backup_dir",
                       dir.string(), probe.string(), st.st_uid, st.st_mode & 07777);
  }
  return {};
}

// Why verify does not record its verdict (verified.json) in `backup`, or ""
// when it does. The plugin may write in backup_dir only, its one write grant
// (least privilege: a backup elsewhere is only read), and only list and prune
// in backup_dir read the verdict. Compared with symbolic links resolved, as
// the sandbox compares.
std::string unrecorded_why(const fs::path& backup, const fs::path& dir) {
  std::error_code ec;
  const fs::path real_dir = fs::canonical(dir, ec);
  const fs::path real_backup = ec ? fs::path() : fs::canonical(backup, ec);
  if (!ec) {
    const auto [in_dir, in_backup] = std::mismatch(real_dir.begin(), real_dir.end(), real_backup.begin(), real_backup.end());
    if (in_dir == real_dir.end() && in_backup != real_backup.end()) return {};
  }
  const std::string shown =
      real_backup.empty() || real_backup == backup ? backup.string() : backup.string() + " (" + real_backup.string() + ")";
  return fmt::format("the verified state was not recorded: {} is outside backup_dir {} (verify writes only there); "
                     "verify it with backup_dir set to its directory to record it",
                     shown, dir.string());
}

class BackupDb final : public dihya::Plugin {
 public:
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    const std::string mode = params.get_or<std::string>("mode", "backup");
    const fs::path dir = param_path(params, "backup_dir");
    std::vector<dihya::ValidationError> errors;
    if (mode == "backup") {
      if (auto problem = writable_problem(dir); !problem.empty()) errors.push_back({"backup_dir", problem});
      return errors;
    }
    std::error_code ec;
    if (mode == "list" && !fs::exists(dir, ec)) return errors;  // nothing backed up yet: an empty list
    if (!fs::is_directory(dir, ec)) {
      errors.push_back({"backup_dir", "backup_dir " + dir.string() + " does not exist: run mode=backup first or fix the path"});
      return errors;
    }
    if (mode == "verify" || mode == "restore") {
      try {
        find_backup(dir, params.get_or<std::string>("backup", ""));
      } catch (const dihya::Error& e) {
        errors.push_back({"backup", e.what()});
        return errors;
      }
    }
    if (mode == "prune") validate_prune(params, ctx, dir, errors);
    if (mode == "restore") validate_restore(params, ctx, errors);
    return errors;
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const std::string mode = params.get_or<std::string>("mode", "backup");
    if (mode == "backup") return backup(params, ctx);
    if (mode == "verify") return verify(params, ctx);
    if (mode == "list") return list(params, ctx);
    if (mode == "prune") return prune(params, ctx);
    if (mode == "restore") return restore(params, ctx);
    throw dihya::Error("unknown mode '" + mode + "': expected backup, verify, list, restore or prune");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    std::vector<std::string> done;
    for (const auto& entry : newest_first) {
      const auto& d = entry.data;
      if (entry.action == "remove_partial_backup") {
        const fs::path path = d.at("path").get<std::string>();
        std::error_code ec;
        // Only ever a directory this plugin named, whatever the journal says.
        if (path.filename().string().rfind(".partial-", 0) == 0 && fs::exists(path, ec)) {
          fs::remove_all(path, ec);
          done.push_back("removed partial backup " + path.string());
        }
      } else if (entry.action == "restore_pruned") {
        const fs::path from = d.at("from").get<std::string>();
        const fs::path to = d.at("to").get<std::string>();
        std::error_code ec;
        if (fs::exists(from, ec) && !fs::exists(to, ec)) {
          require_private_dir(from.parent_path().parent_path());
          require_private_dir(from.parent_path());
          fs::rename(from, to, ec);
          if (ec) throw dihya::Error("cannot move " + from.string() + " back to " + to.string() + ": " + ec.message());
          done.push_back("put back " + to.filename().string());
        }
      } else if (entry.action == "drop_created_database") {
        done.push_back(undo_created_database(d, ctx));
      } else if (entry.action == "restore_snapshot") {
        done.push_back(undo_restore_snapshot(d, ctx));
      } else {
        throw dihya::Error("unknown journal entry '" + entry.action + "': was this run made by another backup_db version?");
      }
    }
    std::string summary = done.empty() ? "nothing to undo" : fmt::format("{}", fmt::join(done, "; "));
    return dihya::Result::success(summary, {{"undone", done}});
  }

 private:
  // ---- backup -------------------------------------------------------------

  dihya::Result backup(const dihya::Params& params, dihya::Context& ctx) {
    const fs::path dir = param_path(params, "backup_dir");
    const int jobs = params.get_or<int>("jobs", 2);
    const std::string format = params.get_or<std::string>("format", "directory");
    Server server(ctx);
    auto db = server.open();
    std::string database, encoding, collate, ctype;
    std::uint64_t db_size = 0;
    long long tables = 0;
    {
      pqxx::work tx(*db);
      auto r = tx.exec1(
          "select current_database(), pg_database_size(current_database()), pg_encoding_to_char(encoding), "
          "datcollate, datctype from pg_database where datname = current_database()");
      database = r[0].as<std::string>();
      db_size = r[1].as<std::uint64_t>();
      encoding = r[2].as<std::string>();
      collate = r[3].as<std::string>();
      ctype = r[4].as<std::string>();
      tables = tx.exec1(
                     "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                     "where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema') "
                     "and n.nspname not like 'pg_toast%'")[0]
                   .as<long long>();
    }
    db.reset();
    const Tools tools = find_tools(server.major, param_path(params, "pg_bindir"));
    const auto started = ctx.now();
    std::string name = compact_utc(started) + "_" + file_safe(database);
    std::error_code ec;
    for (int n = 2; fs::exists(dir / name, ec); ++n) name = compact_utc(started) + "_" + file_safe(database) + "_" + std::to_string(n);
    const fs::path final_path = dir / name;
    const std::string dump_rel = format == "custom" ? "dump.pgdump" : "dump";

    if (ctx.dry_run()) {
      auto r = dihya::Result::success(
          fmt::format("would back up database {} ({}) to {}", database, human_size(db_size), final_path.string()),
          {{"would_create", final_path.string()}, {"database", database}, {"database_size_bytes", db_size}});
      r.report = fmt::format("would run {} --format={}{} into {}/{} (written as {}/.partial-{} and renamed when complete)\n",
                             tools.pg_dump.string(), format, format == "directory" ? fmt::format(" --jobs={}", jobs) : "",
                             final_path.string(), dump_rel, dir.string(), ctx.run_id());
      return r;
    }

    make_private_dirs(dir);
    const fs::path partial = dir / (".partial-" + ctx.run_id());
    ctx.journal().record({"remove_partial_backup", {{"path", partial.string()}}});
    fs::create_directory(partial, ec);
    if (ec) throw dihya::Error("cannot create " + partial.string() + ": " + ec.message());
    fs::permissions(partial, fs::perms::owner_all, ec);

    const auto clock_start = Clock::now();
    std::vector<std::string> argv = {tools.pg_dump.string(), "--verbose", "--no-password", "--format=" + format,
                                     "--file=" + (partial / dump_rel).string()};
    if (format == "directory") argv.push_back("--jobs=" + std::to_string(jobs));
    if (params.has("compress")) argv.push_back("--compress=" + std::to_string(params.get<int>("compress")));
    argv.push_back("--dbname=" + server.conn.conninfo());
    const PasswordFile password_file(ctx.work_dir(), server.conn.password());
    ctx.log().info("running: {}", describe_command(argv));

    std::uint64_t dumped = 0;
    const auto total = static_cast<std::uint64_t>(tables);
    ToolOptions options;
    options.password_file = &password_file;
    options.cancelled = [&] { return ctx.cancelled(); };
    options.on_stderr_line = [&](std::string_view line) {
      if (line.find("dumping contents of table") != std::string_view::npos) {
        ++dumped;
        ctx.progress(std::min(dumped, total), total, "tables dumped");
      }
    };
    const auto run = run_tool(argv, options);
    if (run.exit_code != 0) throw dihya::Error(tool_failure("pg_dump", run, server.conn.password()));
    const double dump_seconds = seconds_since(clock_start);

    const auto files = content_files(partial);
    const auto digests = hash_files(
        partial, files, jobs, [&](std::uint64_t done, std::uint64_t all) { ctx.progress(done, all, "bytes checksummed"); },
        [&] { return ctx.cancelled(); });
    nlohmann::json file_list = nlohmann::json::array();
    std::uint64_t backup_size = 0;
    for (const auto& f : digests) {
      if (!f.error.empty()) throw dihya::Error("cannot checksum the dump: " + f.error);
      file_list.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
      backup_size += f.size;
    }
    const auto finished = ctx.now();
    nlohmann::json manifest = {
        {"manifest_version", 1},
        {"created_by", kPluginVersion},
        {"run_id", ctx.run_id()},
        {"database", database},
        {"server_version", server.version},
        {"server_version_major", server.major},
        {"pg_dump_version", tool_version(tools.pg_dump)},
        {"pg_restore_version", tool_version(tools.pg_restore)},
        {"format", format},
        {"dump_path", dump_rel},
        {"jobs", jobs},
        {"database_size_bytes", db_size},
        {"backup_size_bytes", backup_size},
        {"table_count", tables},
        {"encoding", encoding},
        {"lc_collate", collate},
        {"lc_ctype", ctype},
        {"started_at", dihya::format_utc(started)},
        {"finished_at", dihya::format_utc(finished)},
        {"duration_seconds", seconds_since(clock_start)},
        {"dump_seconds", dump_seconds},
        {"checksum_algorithm", "sha256"},
        {"files", file_list},
    };
    if (params.has("compress")) manifest["compress"] = params.get<int>("compress");
    write_json_atomically(partial / kManifestName, seal(manifest));
    if (format == "directory") sync_directory(partial / dump_rel);
    sync_directory(partial);
    fs::rename(partial, final_path, ec);
    if (ec) throw dihya::Error("cannot rename " + partial.string() + " to " + final_path.string() + ": " + ec.message());
    sync_directory(dir);

    const double seconds = seconds_since(clock_start);
    return dihya::Result::success(
        fmt::format("backed up database {} ({} of dump, {} files) to {} in {:.1f} s", database, human_size(backup_size),
                    digests.size(), final_path.string(), seconds),
        {{"backup", name},
         {"path", final_path.string()},
         {"database", database},
         {"size_bytes", backup_size},
         {"files", digests.size()},
         {"duration_seconds", seconds}});
  }

  // ---- verify -------------------------------------------------------------

  dihya::Result verify(const dihya::Params& params, dihya::Context& ctx) {
    const fs::path dir = param_path(params, "backup_dir");
    const int jobs = params.get_or<int>("jobs", 2);
    const BackupEntry backup = find_backup(dir, params.get_or<std::string>("backup", ""));
    const auto start = Clock::now();
    Damage damage = check_files(backup, jobs, ctx);
    std::size_t toc_entries = 0;
    if (!backup.manifest.is_null()) {
      const int major = major_of(text_field(backup.manifest, "pg_restore_version"));
      const Tools tools = find_tools(major, param_path(params, "pg_bindir"));
      fs::path dump;
      try {
        dump = dump_path_of(backup);
      } catch (const dihya::Error& e) {
        damage.problems.push_back(std::string("manifest.json: ") + e.what());
      }
      std::error_code ec;
      if (dump.empty()) {
        // Reported above.
      } else if (fs::exists(dump, ec)) {
        ToolOptions options;
        options.cancelled = [&] { return ctx.cancelled(); };
        options.on_stdout_line = [&](std::string_view line) {
          if (!line.empty() && line[0] != ';') ++toc_entries;
        };
        const auto run = run_tool({tools.pg_restore.string(), "--list", dump.string()}, options);
        if (run.exit_code != 0) damage.problems.push_back(tool_failure("pg_restore --list", run, ""));
      } else {
        damage.problems.push_back("missing: " + dump.filename().string() + " (the dump itself)");
      }
    }
    const double seconds = seconds_since(start);
    const bool ok = damage.problems.empty();
    // Checksumming throughput alone (pg_restore --list is not part of it).
    const double mb_per_s =
        damage.hash_seconds > 0 ? static_cast<double>(damage.bytes_checked) / 1e6 / damage.hash_seconds : 0;
    const std::string unrecorded = unrecorded_why(backup.path, dir);
    const bool record = !ctx.dry_run() && unrecorded.empty();
    if (record) {
      write_json_atomically(backup.path / kVerifiedName,
                            {{"verified_at", dihya::format_utc(ctx.now())},
                             {"ok", ok},
                             {"run_id", ctx.run_id()},
                             {"problems", damage.problems},
                             {"manifest_sha256", text_field(backup.manifest, "manifest_sha256")}});
    }
    nlohmann::json data = {{"backup", backup.name},
                           {"path", backup.path.string()},
                           {"ok", ok},
                           {"problems", damage.problems},
                           {"files_checked", damage.files_checked},
                           {"bytes_checked", damage.bytes_checked},
                           {"toc_entries", toc_entries},
                           {"seconds", seconds},
                           {"checksum_seconds", damage.hash_seconds},
                           {"mb_per_second", mb_per_s},
                           {"recorded", record}};
    if (!unrecorded.empty()) data["not_recorded"] = unrecorded;
    std::string report = fmt::format("backup {}: {} file(s), {} checked at {:.0f} MB/s, {} archive entries\n", backup.name,
                                     damage.files_checked, human_size(damage.bytes_checked), mb_per_s, toc_entries);
    for (const auto& p : damage.problems) report += "  DAMAGED " + p + "\n";
    if (!unrecorded.empty()) {
      report += "(" + unrecorded + ")\n";
    } else if (ctx.dry_run()) {
      report += "(dry run: the verified state was not recorded)\n";
    }
    const std::string outside = unrecorded.empty() ? "" : " (outside backup_dir: not recorded)";
    dihya::Result r = ok ? dihya::Result::success(fmt::format("backup {} verified: {} files, checksums and archive ok{}",
                                                              backup.name, damage.files_checked, outside),
                                                  data)
                         : dihya::Result::failure(fmt::format("backup {} is damaged{}: {} problem(s): {}", backup.name,
                                                              outside, damage.problems.size(), damage.problems.front()),
                                                  data);
    r.report = report;
    return r;
  }

  // ---- list ---------------------------------------------------------------

  dihya::Result list(const dihya::Params& params, dihya::Context& ctx) {
    const fs::path dir = param_path(params, "backup_dir");
    std::error_code ec;
    const auto backups = fs::exists(dir, ec) ? list_backups(dir) : std::vector<BackupEntry>{};
    const auto now = ctx.now();
    nlohmann::json rows = nlohmann::json::array();
    std::string report = fmt::format("{:<40} {:>10} {:>11} {:<8} {}\n", "NAME", "AGE", "SIZE", "VERIFIED", "DATABASE");
    for (const auto& b : backups) {
      const auto age = b.finished ? age_at(now, *b.finished) : std::chrono::seconds(0);
      const std::string database = text_field(b.manifest, "database");
      rows.push_back({{"name", b.name},
                      {"path", b.path.string()},
                      {"database", database},
                      {"finished_at", text_field(b.manifest, "finished_at")},
                      {"age_seconds", age.count()},
                      {"size_bytes", b.size},
                      {"format", text_field(b.manifest, "format")},
                      {"verified", b.verified_state},
                      {"verified_at", b.verified_at},
                      {"manifest_error", b.manifest_error},
                      {"sealed", b.sealed}});
      std::string shown = b.manifest.is_null() ? "(manifest unreadable)" : database;
      if (!b.manifest.is_null() && !b.sealed) shown += " (" + b.unsealed_why + ")";
      report += fmt::format("{:<40} {:>10} {:>11} {:<8} {}\n", b.name, b.finished ? human_age(age) : "?",
                            human_size(b.size), b.verified_state, shown);
    }
    auto r = dihya::Result::success(fmt::format("{} backup(s) in {}", backups.size(), dir.string()),
                                    {{"backup_dir", dir.string()}, {"backups", rows}});
    r.report = report;
    return r;
  }

  // ---- prune --------------------------------------------------------------

  static std::optional<long long> keep_last_of(const dihya::Params& params) {
    if (!params.has("keep_last")) return std::nullopt;
    return params.get<long long>("keep_last");
  }
  static std::optional<std::chrono::seconds> keep_within_of(const dihya::Params& params) {
    if (!params.has("keep_within")) return std::nullopt;
    return dihya::parse_duration(params.get<std::string>("keep_within"));
  }

  void validate_prune(const dihya::Params& params, dihya::Context& ctx, const fs::path& dir,
                      std::vector<dihya::ValidationError>& errors) {
    if (!params.has("keep_last") && !params.has("keep_within")) {
      errors.push_back({"keep_last", "prune needs keep_last=N and/or keep_within=<age> (e.g. 7d): nothing to decide by"});
      return;
    }
    std::string why;
    if (params.has("keep_within") && !dihya::parse_duration(params.get<std::string>("keep_within"), &why)) {
      errors.push_back({"keep_within", "keep_within " + why});
      return;
    }
    const auto backups = list_backups(dir);
    const auto plan = plan_retention(backups, keep_last_of(params), keep_within_of(params), ctx.now());
    if (!plan.refusal.empty()) errors.push_back({"keep_last", plan.refusal});
  }

  dihya::Result prune(const dihya::Params& params, dihya::Context& ctx) {
    const fs::path dir = param_path(params, "backup_dir");
    const auto backups = list_backups(dir);
    const auto plan = plan_retention(backups, keep_last_of(params), keep_within_of(params), ctx.now());
    // validate() refused already; checked again in case a verify ran in between.
    if (!plan.refusal.empty()) throw dihya::Error(plan.refusal);
    std::string report;
    nlohmann::json removed = nlohmann::json::array();
    nlohmann::json kept = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();
    std::uint64_t freed = 0;
    for (const auto* b : plan.skip) {
      skipped.push_back({{"name", b->name}, {"why", b->unsealed_why}});
      report += fmt::format("skip    {} ({}: left alone)\n", b->name, b->unsealed_why);
    }
    for (const auto* b : plan.keep) {
      kept.push_back(b->name);
      report += fmt::format("keep    {} ({}, verified: {})\n", b->name, human_size(b->size), b->verified_state);
    }
    for (const auto* b : plan.remove) {
      removed.push_back(b->name);
      freed += b->size;
      report += fmt::format("{} {} ({}, verified: {})\n", ctx.dry_run() ? "would delete" : "delete ", b->name,
                            human_size(b->size), b->verified_state);
    }
    nlohmann::json data = {
        {"kept", kept}, {"deleted", removed}, {"skipped", skipped}, {"freed_bytes", freed}, {"dry_run", ctx.dry_run()}};
    if (ctx.dry_run()) {
      auto r = dihya::Result::success(fmt::format("would delete {} backup(s) ({}), keep {}", plan.remove.size(),
                                                  human_size(freed), plan.keep.size()),
                                      data);
      r.report = report;
      return r;
    }
    const fs::path trash = dir / ".trash" / ctx.run_id();
    if (!plan.remove.empty()) {
      make_private_dirs(trash);
      require_private_dir(trash.parent_path());
    }
    std::error_code ec;
    for (const auto* b : plan.remove) {
      if (ctx.cancelled()) throw dihya::Error("cancelled while pruning; rollback puts the moved backups back");
      const fs::path to_trash = trash / b->name;
      ctx.journal().record({"restore_pruned", {{"from", to_trash.string()}, {"to", b->path.string()}}});
      fs::rename(b->path, to_trash, ec);
      if (ec) throw dihya::Error("cannot move " + b->path.string() + " to " + to_trash.string() + ": " + ec.message());
    }
    // The run is over and succeeded: only now are the backups really gone.
    if (!plan.remove.empty()) {
      fs::remove_all(trash, ec);
      if (ec) ctx.log().warn("could not empty {}: {}; remove it by hand", trash.string(), ec.message());
      fs::remove(dir / ".trash", ec);  // only when empty
    }
    auto r = dihya::Result::success(
        fmt::format("deleted {} backup(s) ({}), kept {}", plan.remove.size(), human_size(freed), plan.keep.size()), data);
    r.report = report;
    return r;
  }

};

}  // namespace
}  // namespace backup_db

DIHYA_PLUGIN(backup_db::BackupDb)
