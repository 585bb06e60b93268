// SPDX-License-Identifier: AGPL-3.0-or-later
// A reversible destructive plugin: journal the rows of a batch, then delete
// them; rollback puts them back. The tests use it to prove that failure,
// timeout, cancellation and kill -9 all end with the table as it was.
#include <chrono>
#include <thread>

#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace purge_rows {

class PurgeRows final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    pqxx::work tx(ctx.db());
    auto found = tx.exec_params1("select to_regclass($1) is not null", tx.quote_name(params.get<std::string>("table")));
    if (!found[0].as<bool>()) return {{"table", "no such table"}};
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const std::string table = params.get<std::string>("table");
    const auto max_id = params.get<long long>("max_id");
    const auto batch = params.get<long long>("batch");
    const auto fail_after = params.get<long long>("fail_after_batches");
    const auto sleep = std::chrono::milliseconds(params.get<long long>("sleep_ms"));
    auto& db = ctx.db();
    const std::string quoted = pqxx::work(db).quote_name(table);

    if (ctx.dry_run()) {
      pqxx::work tx(db);
      auto n = tx.exec_params1("select count(*) from " + quoted + " where id <= $1", max_id)[0].as<long long>();
      return dihya::Result::success("would delete " + std::to_string(n) + " row(s) from " + table, {{"rows", n}});
    }

    long long deleted = 0;
    for (long long batches = 0;; ++batches) {
      if (ctx.cancelled()) throw dihya::Error("cancelled after deleting " + std::to_string(deleted) + " row(s)");
      if (fail_after > 0 && batches == fail_after) throw dihya::Error("failing on purpose after " + std::to_string(batches) + " batch(es)");
      pqxx::work tx(db);
      auto rows = tx.exec_params1(
          "select coalesce(json_agg(t order by id), '[]'::json)::text from "
          "(select * from " + quoted + " where id <= $1 order by id limit $2) t",
          max_id, batch)[0].as<std::string>();
      auto parsed = nlohmann::json::parse(rows);
      if (parsed.empty()) break;
      ctx.journal().record({"reinsert_rows", {{"table", table}, {"rows", parsed}}});
      auto last_id = parsed.back().at("id").get<long long>();
      auto r = tx.exec_params("delete from " + quoted + " where id <= $1 and id <= $2", max_id, last_id);
      tx.commit();
      deleted += static_cast<long long>(r.affected_rows());
      ctx.progress(static_cast<std::uint64_t>(deleted), 0, "rows");
      std::this_thread::sleep_for(sleep);
    }
    return dihya::Result::success("deleted " + std::to_string(deleted) + " row(s) from " + table, {{"rows", deleted}});
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    long long restored = 0;
    pqxx::work tx(ctx.db());
    for (const auto& entry : newest_first) {
      const std::string quoted = tx.quote_name(entry.data.at("table").get<std::string>());
      auto r = tx.exec_params("insert into " + quoted + " select * from json_populate_recordset(null::" + quoted +
                                  ", $1::json) on conflict do nothing",
                              entry.data.at("rows").dump());
      restored += static_cast<long long>(r.affected_rows());
    }
    tx.commit();
    return dihya::Result::success("restored " + std::to_string(restored) + " row(s)", {{"rows", restored}});
  }
};

}  // namespace purge_rows

DIHYA_PLUGIN(purge_rows::PurgeRows)
