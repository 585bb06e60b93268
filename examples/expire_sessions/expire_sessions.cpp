// SPDX-License-Identifier: AGPL-3.0-or-later
// The SDK's destructive example: batches, an undo entry per batch recorded
// before the batch is deleted, a dry-run plan, cancellation between batches,
// progress, an exact and idempotent rollback, and a report table. Written
// against libpqxx 6.4 (Debian 12): exec_params/exec_params1, no pqxx 7 idioms.
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace expire_sessions {

// Every batch is chosen against one cutoff, computed once by the database, so
// that the plan of a dry run and the batches of the run are the same rows.
std::string cutoff(pqxx::work& tx, long long older_than_days) {
  return tx.exec_params1("select (now() - $1 * interval '1 day')::text", older_than_days)[0].as<std::string>();
}

class ExpireSessions final : public dihya::Plugin {
  // ctx.db() works here too: semantic checks may read, never write.
  std::vector<dihya::ValidationError> validate(const dihya::Params&, dihya::Context& ctx) override {
    pqxx::work tx(ctx.db());
    if (!tx.exec1("select to_regclass('public.sessions') is not null")[0].as<bool>()) {
      return {{"database", "it has no public.sessions table (is it the platform database?)"}};
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto batch = params.get<long long>("batch");
    pqxx::work first(ctx.db());
    const std::string before = cutoff(first, params.get<long long>("older_than_days"));
    const auto total = first.exec_params1("select count(*) from public.sessions where expires_at < $1::timestamptz",
                                          before)[0].as<long long>();
    first.commit();
    if (ctx.dry_run()) return plan(ctx, before, total, batch);

    std::string report = fmt::format("{:>5}  {:>8}  {:>10}  {:>10}\n", "BATCH", "SESSIONS", "FIRST ID", "LAST ID");
    long long deleted = 0;
    for (long long number = 1;; ++number) {
      // Between batches is where stopping is safe: what was deleted is journalled
      // and the host rolls it back. Throwing (or returning a failure) ends the run.
      if (ctx.cancelled()) {
        throw dihya::Error(fmt::format("cancelled after deleting {} of {} session(s) in {} batch(es)", deleted, total,
                                       number - 1));
      }
      pqxx::work tx(ctx.db());
      const auto rows = nlohmann::json::parse(
          tx.exec_params1("select coalesce(json_agg(s order by s.id), '[]')::text from (select * from public.sessions "
                          "where expires_at < $1::timestamptz order by id limit $2 for update) s",
                          before, batch)[0].as<std::string>());
      if (rows.empty()) break;
      // Durable before the rows go: if anything stops us after this line, the
      // rollback has what it needs. It gets only the entries, so they carry it all.
      ctx.journal().record({"reinsert_sessions", {{"rows", rows}}});
      const auto gone = tx.exec_params(
          "delete from public.sessions where id in (select (r->>'id')::bigint from json_array_elements($1::json) r)",
          rows.dump());
      tx.commit();
      deleted += static_cast<long long>(gone.affected_rows());
      ctx.progress(static_cast<std::uint64_t>(deleted), static_cast<std::uint64_t>(total), "sessions");
      report += fmt::format("{:>5}  {:>8}  {:>10}  {:>10}\n", number, gone.affected_rows(),
                            rows.front().at("id").get<long long>(), rows.back().at("id").get<long long>());
    }
    ctx.log().info("deleted {} session(s) that expired before {}", deleted, before);
    if (deleted == 0) report.clear();
    return dihya::Result::success(fmt::format("deleted {} expired session(s)", deleted),
                                  {{"deleted", deleted}, {"expired_before", before}}, report);
  }

  // The rollback gets the run's entries, newest first, and nothing else of the
  // run (ctx.run_id() names the run being undone; its parameters are not given).
  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    long long restored = 0;
    long long orphaned = 0;
    std::string report;
    pqxx::work tx(ctx.db());
    for (const auto& entry : newest_first) {
      if (entry.action != "reinsert_sessions") throw dihya::Error("unknown undo entry '" + entry.action + "'");
      const std::string rows = entry.data.at("rows").dump();
      // Rows already back (a rollback run twice) conflict on id and are skipped.
      restored += static_cast<long long>(
          tx.exec_params("insert into public.sessions select r.* from json_populate_recordset(null::public.sessions, "
                         "$1::json) r where exists (select 1 from public.users u where u.id = r.user_id) "
                         "on conflict (id) do nothing",
                         rows)
              .affected_rows());
      for (const auto& row : tx.exec_params("select r.id from json_populate_recordset(null::public.sessions, $1::json) r "
                                            "where not exists (select 1 from public.users u where u.id = r.user_id)",
                                            rows)) {
        ++orphaned;
        report += fmt::format("session {} not restored: its user was deleted since the run\n", row[0].as<long long>());
      }
    }
    tx.commit();
    const std::string summary = fmt::format("restored {} session(s){}", restored,
                                            orphaned > 0 ? fmt::format(", {} left out", orphaned) : "");
    return dihya::Result::success(summary, {{"restored", restored}, {"left_out", orphaned}}, report);
  }

 private:
  // The dry run: the same batches the run would delete, read and not touched.
  static dihya::Result plan(dihya::Context& ctx, const std::string& before, long long total, long long batch) {
    pqxx::work tx(ctx.db());
    std::string report = fmt::format("{:>5}  {:>8}  {:>10}  {:>10}\n", "BATCH", "SESSIONS", "FIRST ID", "LAST ID");
    long long batches = 0;
    for (const auto& row : tx.exec_params(
             "select (n - 1) / $2 + 1, count(*), min(id), max(id) from (select id, row_number() over (order by id) n "
             "from public.sessions where expires_at < $1::timestamptz) s group by 1 order by 1",
             before, batch)) {
      ++batches;
      report += fmt::format("{:>5}  {:>8}  {:>10}  {:>10}\n", row[0].as<long long>(), row[1].as<long long>(),
                            row[2].as<long long>(), row[3].as<long long>());
    }
    return dihya::Result::success(
        fmt::format("would delete {} expired session(s) in {} batch(es)", total, batches),
        {{"sessions", total}, {"batches", batches}, {"expired_before", before}}, report);
  }
};

}  // namespace expire_sessions

DIHYA_PLUGIN(expire_sessions::ExpireSessions)
