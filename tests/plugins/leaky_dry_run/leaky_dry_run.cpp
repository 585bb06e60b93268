// SPDX-License-Identifier: AGPL-3.0-or-later
// A dry run that is not one: it updates a row. `check --exercise` must say
// which table changed and show the row as it was.
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace leaky_dry_run {

class LeakyDryRun final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    pqxx::work tx(ctx.db());
    const std::string quoted = tx.quote_name(params.get<std::string>("table"));
    tx.exec("update " + quoted + " set payload = 'touched' where id = (select min(id) from " + quoted + ")");
    tx.commit();
    return dihya::Result::success(ctx.dry_run() ? "would touch nothing" : "touched one row");
  }
};

}  // namespace leaky_dry_run

DIHYA_PLUGIN(leaky_dry_run::LeakyDryRun)
