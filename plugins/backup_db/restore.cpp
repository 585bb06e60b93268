// SPDX-License-Identifier: AGPL-3.0-or-later
#include "restore.hpp"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>

#include <dihya/file_io.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "backup_check.hpp"
#include "backup_store.hpp"
#include "database.hpp"
#include "manifest.hpp"
#include "pg_tools.hpp"

namespace backup_db {
namespace fs = std::filesystem;

fs::path param_path(const dihya::Params& params, const char* key) {
  return params.has(key) ? fs::path(params.get<std::string>(key)).lexically_normal() : fs::path();
}

namespace {

std::string target_of(const dihya::Params& params, const Server& server) {
  return params.has("target_database") ? params.get<std::string>("target_database") : server.database();
}

void dump_snapshot(Server& server, const Tools& tools, const PasswordFile& password_file, const std::string& target,
                   const fs::path& snapshot, int jobs, dihya::Context& ctx) {
  require_private_dir(snapshot.parent_path().parent_path());
  require_private_dir(snapshot.parent_path());
  const fs::path partial = snapshot.parent_path() / (".partial-" + snapshot.filename().string());
  std::error_code ec;
  fs::remove_all(partial, ec);
  std::vector<std::string> argv = {tools.pg_dump.string(), "--no-password", "--format=directory",
                                   "--jobs=" + std::to_string(jobs), "--file=" + partial.string(),
                                   "--dbname=" + server.conn.conninfo(target)};
  ctx.log().info("snapshot of {}: {}", target, describe_command(argv));
  ToolOptions options;
  options.password_file = &password_file;
  options.cancelled = [&] { return ctx.cancelled(); };
  ToolRun run;
  try {
    run = run_tool(argv, options);
  } catch (...) {
    fs::remove_all(partial, ec);
    throw;
  }
  if (run.exit_code != 0) {
    fs::remove_all(partial, ec);
    throw dihya::Error("snapshot of " + target + ": " + tool_failure("pg_dump", run, server.conn.password()));
  }
  sync_directory(partial);
  fs::rename(partial, snapshot, ec);
  if (ec) throw dihya::Error("cannot rename " + partial.string() + " to " + snapshot.string() + ": " + ec.message());
  sync_directory(snapshot.parent_path());
}

// A snapshot that fails (a full disk, pg_dump refused) leaves nothing behind:
// dump_snapshot removes its partial dump, and the directories made for it
// (.snapshots/<run-id>, and .snapshots when this made it) go too. rmdir, so
// a directory that holds anything, another run's snapshot say, stays.
void take_snapshot(Server& server, const Tools& tools, const PasswordFile& password_file, const std::string& target,
                   const fs::path& snapshot, int jobs, dihya::Context& ctx) {
  const auto made = make_private_dirs(snapshot.parent_path());
  try {
    dump_snapshot(server, tools, password_file, target, snapshot, jobs, ctx);
  } catch (...) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
    throw;
  }
}

// Every user table of the database, qualified and quoted.
std::vector<std::string> user_tables(pqxx::transaction_base& tx) {
  std::vector<std::string> tables;
  for (const auto& r : tx.exec("SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c"
                               " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
                               " AND n.nspname !~ '^pg_' ORDER BY 1")) {
    tables.push_back(r[0].as<std::string>());
  }
  return tables;
}

// Loading rows runs the tables' CHECK constraints, domain checks and
// generated columns with our privileges, and the backup brings their
// functions: a role that owned them in the backed-up database would run its
// code as us (often a superuser). Triggers, rules, policies and indexes come
// after the data (post-data; PostgreSQL builds indexes as the table owner).
// So the tables are created first (with the CHECK constraints pg_dump puts in
// post-data, NOT VALID: see PostData) and checked before any row is loaded, and
// the checking session keeps them locked in SHARE UPDATE EXCLUSIVE mode
// until the rows are in: the tables' owner (the backup restores owners)
// cannot add a check, a default or a generated column, nor attach a
// partition, between the check and the load (each waits for that lock),
// while pg_restore's COPY (ROW EXCLUSIVE) goes through. A domain's owner can
// still add a NOT VALID check to it meanwhile (ALTER DOMAIN locks no table).
struct LoadGuard {
  std::unique_ptr<pqxx::connection> db;
  std::unique_ptr<pqxx::work> tx;
};

LoadGuard refuse_untrusted_load(Server& server, const std::string& target) {
  LoadGuard guard;
  guard.db = server.open(target);
  guard.tx = std::make_unique<pqxx::work>(*guard.db);
  auto& tx = *guard.tx;
  // Held across the load, which may be long: not ended as idle by the server.
  tx.exec("SET LOCAL idle_in_transaction_session_timeout = 0");
  const std::vector<std::string> tables = user_tables(tx);
  std::string list;
  for (const auto& t : tables) list += (list.empty() ? "" : ", ") + t;
  if (tables.empty()) return guard;
  tx.exec("LOCK TABLE " + list + " IN SHARE UPDATE EXCLUSIVE MODE");
  try {
    dihya::pg::refuse_untrusted_code(tx, tables, dihya::pg::TableUse::load);
  } catch (const dihya::Error& e) {
    throw dihya::Error("restore into " + target + " stopped before loading any row: " + e.what());
  }
  return guard;
}

// The entries of a backup's post-data section that run code as us when they
// are created: a CHECK constraint pg_dump could not put in its table's
// definition (its function refers back to the table, or it is NOT VALID) is
// checked against every row with our privileges, and so is a foreign key,
// whose check query is planned (the planner simplifies both tables' index,
// statistics and partition-key expressions) and casts its column. So the
// CHECK constraints are added NOT VALID before the tables are checked and
// loaded; the rest of post-data follows the data, then every table is
// checked again (now with its indexes and statistics), and only then are
// those constraints validated and the foreign keys added.
struct PostData {
  std::vector<std::string> entries;  // `pg_restore --list --section=post-data`, one line per entry
  std::vector<bool> held_back;       // per entry: one of the three below
  std::vector<std::size_t> checks, foreign_keys, comments;
};

// "<id>; <catalog oid> <oid> <DESC> <schema> <name> <owner>": the type, which
// may hold spaces, follows the two numbers; empty for a comment line.
std::string entry_type(const std::string& line) {
  static const std::regex kEntry(R"(^\d+; \d+ \d+ (CHECK CONSTRAINT|FK CONSTRAINT|COMMENT|SECURITY LABEL) )");
  std::smatch m;
  return std::regex_search(line, m, kEntry) ? m[1].str() : std::string();
}

PostData read_post_data(const Tools& tools, const fs::path& dump, dihya::Context& ctx) {
  PostData p;
  ToolOptions options;
  options.cancelled = [&] { return ctx.cancelled(); };
  options.on_stdout_line = [&](std::string_view line) {
    if (line.empty() || line.front() == ';') return;
    const std::string entry(line);
    const std::string type = entry_type(entry);
    const std::size_t i = p.entries.size();
    if (type == "CHECK CONSTRAINT") p.checks.push_back(i);
    if (type == "FK CONSTRAINT") p.foreign_keys.push_back(i);
    // After the foreign keys: a comment may be on one.
    if (type == "COMMENT" || type == "SECURITY LABEL") p.comments.push_back(i);
    p.entries.push_back(entry);
    p.held_back.push_back(!type.empty());
  };
  const auto run = run_tool({tools.pg_restore.string(), "--list", "--section=post-data", dump.string()}, options);
  if (run.exit_code != 0) throw dihya::Error("cannot list the backup's post-data: " + tool_failure("pg_restore", run, ""));
  return p;
}

// A pg_restore list file in the run's (private) work dir holding ENTRIES.
fs::path write_list(const fs::path& dir, const std::string& name, const std::vector<std::string>& entries) {
  const fs::path path = dir / name;
  std::string text;
  for (const auto& e : entries) text += e + "\n";
  // Read by pg_restore at once, made again by a rerun: no fsync.
  if (const auto ec = dihya::replace_file(path, text, 0600, dihya::Durability::kAtomicOnly)) {
    throw dihya::Error("cannot write " + path.string() + ": " + ec.message());
  }
  return path;
}

// The one ALTER TABLE ... ADD CONSTRAINT ... CHECK statement of the CHECK
// constraint entry LINE, from pg_restore's script: after the entry's header
// ("-- Name: ...; Type: CHECK CONSTRAINT; ...") and before the script's end.
std::string check_statement(const Tools& tools, const fs::path& dump, const fs::path& dir, const std::string& line,
                            dihya::Context& ctx) {
  const fs::path list = write_list(dir, "check-entry.list", {line});
  ToolOptions options;
  options.capture_stdout = true;
  options.cancelled = [&] { return ctx.cancelled(); };
  const auto run = run_tool({tools.pg_restore.string(), "--file=-", "--use-list=" + list.string(), dump.string()}, options);
  fs::remove(list);
  if (run.exit_code != 0) throw dihya::Error("cannot read a CHECK constraint of the backup: " + tool_failure("pg_restore", run, ""));
  const std::string& out = run.output;
  const auto header = out.find("\n-- Name: ");
  const auto begin = header == std::string::npos ? header : out.find("\n--\n\n", header);
  const auto end = out.rfind("\n--\n-- PostgreSQL database dump complete");
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    throw dihya::Error("cannot read the CHECK constraint entry '" + line.substr(0, 200) +
                       "' of the backup (a statement over 64 KiB, or a pg_restore this plugin does not know)");
  }
  std::string sql = out.substr(begin + 5, end - begin - 5);
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.back()))) sql.pop_back();
  if (sql.rfind("ALTER TABLE ", 0) != 0 || sql.back() != ';' || sql.find(" ADD CONSTRAINT ") == std::string::npos) {
    throw dihya::Error("the CHECK constraint entry '" + line.substr(0, 200) + "' of the backup is not one ALTER TABLE");
  }
  return sql;
}

// Adds the post-data CHECK constraints NOT VALID (nothing is evaluated) and
// returns the oids of those to validate once the tables are checked (not
// those the backup has NOT VALID: they stay so).
std::vector<std::string> add_checks_not_valid(Server& server, const Tools& tools, const fs::path& dump, const PostData& post,
                                              const std::string& target, dihya::Context& ctx) {
  std::vector<std::string> to_validate;
  if (post.checks.empty()) return to_validate;
  auto db = server.open(target);
  pqxx::work tx(*db);
  const char* kNotValid = "SELECT c.oid::pg_catalog.text FROM pg_catalog.pg_constraint c"
                          " WHERE c.contype = 'c' AND NOT c.convalidated AND c.coninhcount = 0";
  std::set<std::string> before;
  for (const auto& r : tx.exec(kNotValid)) before.insert(r[0].as<std::string>());
  for (std::size_t i : post.checks) {
    std::string sql = check_statement(tools, dump, ctx.work_dir(), post.entries[i], ctx);
    const std::string not_valid = " NOT VALID;";
    const bool valid = sql.size() < not_valid.size() || sql.compare(sql.size() - not_valid.size(), not_valid.size(), not_valid) != 0;
    if (valid) sql.insert(sql.size() - 1, " NOT VALID");
    tx.exec_params(sql);  // one statement (the extended protocol runs no second one)
    for (const auto& r : tx.exec(kNotValid)) {
      if (before.insert(r[0].as<std::string>()).second && valid) to_validate.push_back(r[0].as<std::string>());
    }
  }
  tx.commit();
  return to_validate;
}

// After post-data but its held-back entries: refuses code of another role
// that validating the CHECK constraints or adding the foreign keys would run,
// then validates those constraints.
void validate_post_data(Server& server, const std::string& target, const std::vector<std::string>& to_validate) {
  auto db = server.open(target);
  {
    pqxx::work tx(*db);
    const auto tables = user_tables(tx);
    try {
      dihya::pg::refuse_untrusted_code(tx, tables, dihya::pg::TableUse::validate);
      dihya::pg::refuse_untrusted_event_triggers(tx);  // restored last in post-data; ours is DDL
    } catch (const dihya::Error& e) {
      throw dihya::Error("restore into " + target + " stopped before checking its constraints: " + e.what());
    }
    tx.commit();
  }
  for (const auto& oid : to_validate) {
    pqxx::work tx(*db);
    const auto sql = tx.exec_params1("SELECT pg_catalog.format('ALTER TABLE %s VALIDATE CONSTRAINT %I',"
                                     " c.conrelid::pg_catalog.regclass, c.conname) FROM pg_catalog.pg_constraint c"
                                     " WHERE c.oid = $1::pg_catalog.oid", oid)[0].as<std::string>();
    tx.exec(sql);
    tx.commit();
  }
}

void run_restore(Server& server, const Tools& tools, const PasswordFile& password_file, const std::string& target,
                 const fs::path& dump, int jobs, std::uint64_t tables, dihya::Context& ctx) {
  std::uint64_t restored = 0;
  ToolOptions options;
  options.password_file = &password_file;
  options.cancelled = [&] { return ctx.cancelled(); };
  options.on_stderr_line = [&](std::string_view line) {
    if (line.find("processing data for table") != std::string_view::npos) {
      ++restored;
      ctx.progress(std::min(restored, tables), tables, "tables restored");
    }
  };
  // SELECTION: "--section=<name>" or "--use-list=<file>".
  auto pg_restore = [&](const std::string& selection) {
    std::vector<std::string> argv = {tools.pg_restore.string(), "--verbose", "--no-password", "--exit-on-error",
                                     "--jobs=" + std::to_string(jobs), "--dbname=" + server.conn.conninfo(target),
                                     selection, dump.string()};
    ctx.log().info("running: {}", describe_command(argv));
    const auto run = run_tool(argv, options);
    if (run.exit_code != 0) {
      throw dihya::Error("restore into " + target + ": " + tool_failure("pg_restore", run, server.conn.password()));
    }
  };
  const PostData post = read_post_data(tools, dump, ctx);
  pg_restore("--section=pre-data");
  const auto to_validate = add_checks_not_valid(server, tools, dump, post, target, ctx);
  {
    LoadGuard guard = refuse_untrusted_load(server, target);
    pg_restore("--section=data");
    guard.tx->commit();
  }
  // Indexes, constraints and triggers need locks the guard held.
  if (post.checks.empty() && post.foreign_keys.empty()) {
    pg_restore("--section=post-data");
    return;
  }
  std::vector<std::string> first, last;
  for (std::size_t i = 0; i < post.entries.size(); ++i) {
    if (!post.held_back[i]) first.push_back(post.entries[i]);
  }
  for (std::size_t i : post.foreign_keys) last.push_back(post.entries[i]);
  for (std::size_t i : post.comments) last.push_back(post.entries[i]);
  if (!first.empty()) pg_restore("--use-list=" + write_list(ctx.work_dir(), "post-data.list", first).string());
  validate_post_data(server, target, to_validate);
  if (!last.empty()) pg_restore("--use-list=" + write_list(ctx.work_dir(), "post-data-last.list", last).string());
}

}  // namespace

void validate_restore(const dihya::Params& params, dihya::Context& ctx, std::vector<dihya::ValidationError>& errors) {
  try {
    Server server(ctx);
    const std::string target = target_of(params, server);
    if (target.empty()) {
      errors.push_back({"target_database", "the database URL names no database: pass target_database=<name>"});
      return;
    }
    if (target == "template0" || target == "template1" || target == "postgres") {
      errors.push_back({"target_database", "refusing to restore into the system database " + target + ": choose another target_database"});
      return;
    }
    auto admin = server.open(maintenance_db_for(target));
    const auto props = database_props(server, *admin, target);
    if (props.exists && props.user_tables > 0 && !params.get_or<bool>("force", false)) {
      errors.push_back({"target_database",
                        fmt::format("database {} is not empty ({} table(s)): pass force=true to overwrite it (a snapshot is "
                                    "taken first; rollback of the run restores it)",
                                    target, props.user_tables)});
    }
  } catch (const std::exception& e) {
    errors.push_back({"target_database", e.what()});
  }
}

dihya::Result restore(const dihya::Params& params, dihya::Context& ctx) {
  const fs::path dir = param_path(params, "backup_dir");
  const int jobs = params.get_or<int>("jobs", 2);
  const bool force = params.get_or<bool>("force", false);
  const BackupEntry backup = find_backup(dir, params.get_or<std::string>("backup", ""));
  Server server(ctx);
  const std::string target = target_of(params, server);
  auto admin = server.open(maintenance_db_for(target));
  const auto props = database_props(server, *admin, target);
  if (props.exists && props.user_tables > 0 && !force) {
    throw dihya::Error(fmt::format("database {} is not empty ({} table(s)): pass force=true", target, props.user_tables));
  }
  const Tools tools = find_tools(server.major, param_path(params, "pg_bindir"));
  const fs::path snapshot = dir / ".snapshots" / ctx.run_id() / file_safe(target);

  if (ctx.dry_run()) {
    std::string plan = fmt::format("would check the {} file(s) of backup {} against its manifest\n",
                                   backup.manifest.value("files", nlohmann::json::array()).size(), backup.name);
    if (props.exists) {
      plan += fmt::format("would snapshot database {} ({} table(s)) to {}\n", target, props.user_tables, snapshot.string());
      plan += fmt::format("would drop and recreate database {}\n", target);
    } else {
      plan += fmt::format("would create database {}\n", target);
    }
    plan += fmt::format("would run {} --jobs={} --exit-on-error into {}\n", tools.pg_restore.string(), jobs, target);
    auto r = dihya::Result::success(fmt::format("would restore backup {} into database {}", backup.name, target),
                                    {{"backup", backup.name}, {"target_database", target}, {"target_exists", props.exists},
                                     {"target_tables", props.user_tables}});
    r.report = plan;
    return r;
  }

  const auto start = std::chrono::steady_clock::now();
  // A damaged backup must not replace a good database.
  const Damage damage = check_files(backup, jobs, ctx);
  if (!damage.problems.empty()) {
    throw dihya::Error(fmt::format("backup {} is damaged ({} problem(s), first: {}); nothing was changed; run mode=verify for the full report",
                                   backup.name, damage.problems.size(), damage.problems.front()));
  }
  const PasswordFile password_file(ctx.work_dir(), server.conn.password());
  nlohmann::json data = {{"backup", backup.name}, {"target_database", target}};
  if (props.exists) {
    take_snapshot(server, tools, password_file, target, snapshot, jobs, ctx);
    ctx.journal().record({"restore_snapshot",
                          {{"database", target},
                           {"snapshot", snapshot.string()},
                           {"owner", props.owner},
                           {"encoding", props.encoding},
                           {"lc_collate", props.collate},
                           {"lc_ctype", props.ctype},
                           {"jobs", jobs},
                           {"pg_bindir", params.has("pg_bindir") ? param_path(params, "pg_bindir").string() : ""}}});
    drop_database(*admin, server.major, target);
    data["snapshot"] = snapshot.string();
  } else {
    ctx.journal().record({"drop_created_database", {{"database", target}}});
  }
  const auto& m = backup.manifest;
  create_database(*admin, target, text_field(m, "encoding"), text_field(m, "lc_collate"), text_field(m, "lc_ctype"));
  admin.reset();

  run_restore(server, tools, password_file, target, dump_path_of(backup), jobs,
              static_cast<std::uint64_t>(m.value("table_count", 0LL)), ctx);
  open_database(*server.open(maintenance_db_for(target)), target, props.owner);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  data["duration_seconds"] = seconds;
  auto r = dihya::Result::success(
      fmt::format("restored backup {} into database {} in {:.1f} s{}", backup.name, target, seconds,
                  props.exists ? "; previous content kept in " + snapshot.string() : ""),
      data);
  if (props.exists) {
    r.report = fmt::format(
        "The previous content of {} is kept in {}:\n  `dihya-host rollback {}` puts it back;\n  remove it with "
        "`rm -rf {}` once the restore is accepted.\n",
        target, snapshot.string(), ctx.run_id(), snapshot.parent_path().string());
  }
  return r;
}

std::string undo_restore_snapshot(const nlohmann::json& d, dihya::Context& ctx) {
  Server server(ctx);
  const std::string target = d.at("database").get<std::string>();
  const fs::path snapshot = d.at("snapshot").get<std::string>();
  std::error_code ec;
  if (!fs::is_directory(snapshot, ec)) {
    throw dihya::Error("the snapshot " + snapshot.string() + " of database " + target +
                       " is gone: cannot put the previous content back");
  }
  // Restored as us: nobody else may have been able to swap it.
  require_private_dir(snapshot.parent_path().parent_path());
  require_private_dir(snapshot.parent_path());
  require_private_dir(snapshot);
  auto admin = server.open(maintenance_db_for(target));
  const Tools tools = find_tools(server.major, d.value("pg_bindir", ""));
  // Drop and recreate every time, so a rollback interrupted half-way can run again.
  drop_database(*admin, server.major, target);
  create_database(*admin, target, d.value("encoding", ""), d.value("lc_collate", ""), d.value("lc_ctype", ""));
  admin.reset();
  const PasswordFile password_file(ctx.work_dir(), server.conn.password());
  run_restore(server, tools, password_file, target, snapshot, d.value("jobs", 2), 0, ctx);
  open_database(*server.open(maintenance_db_for(target)), target, d.value("owner", ""));
  return "restored database " + target + " from snapshot " + snapshot.string();
}

std::string undo_created_database(const nlohmann::json& data, dihya::Context& ctx) {
  Server server(ctx);
  const std::string name = data.at("database").get<std::string>();
  auto admin = server.open(maintenance_db_for(name));
  drop_database(*admin, server.major, name);
  return "dropped database " + name + " created by the run";
}

}  // namespace backup_db
