// SPDX-License-Identifier: AGPL-3.0-or-later
// A destructive plugin whose rollback lies: it journals and deletes rows, then
// "rolls back" by restoring nothing. `check --exercise` must catch it, name
// the table and the first missing row, and never touch the operator's table.
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace lazy_rollback {

class LazyRollback final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto table = params.get<std::string>("table");
    const auto max_id = params.get<long long>("max_id");
    pqxx::work tx(ctx.db());
    const std::string quoted = tx.quote_name(table);
    if (ctx.dry_run()) {
      const auto n = tx.exec_params1("select count(*) from " + quoted + " where id <= $1", max_id)[0].as<long long>();
      return dihya::Result::success("would delete " + std::to_string(n) + " row(s)");
    }
    const auto rows = tx.exec_params1("select coalesce(json_agg(t order by id), '[]'::json)::text from " + quoted +
                                          " t where id <= $1",
                                      max_id)[0].as<std::string>();
    ctx.journal().record({"reinsert_rows", {{"table", table}, {"rows", nlohmann::json::parse(rows)}}});
    const auto r = tx.exec_params("delete from " + quoted + " where id <= $1", max_id);
    tx.commit();
    return dihya::Result::success("deleted " + std::to_string(r.affected_rows()) + " row(s)");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context&) override {
    return dihya::Result::success("restored " + std::to_string(newest_first.size()) + " batch(es)");
  }
};

}  // namespace lazy_rollback

DIHYA_PLUGIN(lazy_rollback::LazyRollback)
