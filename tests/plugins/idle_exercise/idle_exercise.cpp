// SPDX-License-Identifier: AGPL-3.0-or-later
// A destructive plugin whose example deletes nothing and whose rollback does
// nothing: run → rollback "restores" every table, which proves nothing.
// `check --exercise` must refuse to call it conforming.
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace idle_exercise {

class IdleExercise final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto max_id = params.get<long long>("max_id");
    pqxx::work tx(ctx.db());
    const std::string quoted = tx.quote_name(params.get<std::string>("table"));
    if (ctx.dry_run()) return dihya::Result::success("would delete the rows with id <= " + std::to_string(max_id));
    const auto r = tx.exec_params("delete from " + quoted + " where id <= $1", max_id);
    tx.commit();
    return dihya::Result::success("deleted " + std::to_string(r.affected_rows()) + " row(s)");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>&, dihya::Context&) override {
    return dihya::Result::success("nothing to restore");
  }
};

}  // namespace idle_exercise

DIHYA_PLUGIN(idle_exercise::IdleExercise)
