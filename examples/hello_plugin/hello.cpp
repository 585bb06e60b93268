// SPDX-License-Identifier: AGPL-3.0-or-later
// The SDK's example plugin: parameters, logging, progress, cancellation and the
// database, in the fewest lines. It changes nothing, so the default "not
// reversible" rollback is right.
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

namespace hello {

class Hello final : public dihya::Plugin {
  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto name = params.get<std::string>("name");
    const auto times = params.get<int>("times");
    for (int i = 1; i <= times && !ctx.cancelled(); ++i) {
      ctx.log().info("hello, {}!", name);
      ctx.progress(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(times), "greetings");
    }
    pqxx::work tx(ctx.db());
    const auto server = tx.exec1("select current_setting('server_version')")[0].as<std::string>();
    long long users = -1;
    if (tx.exec1("select to_regclass('public.users') is not null")[0].as<bool>()) {
      users = tx.exec1("select count(*) from users")[0].as<long long>();
    }
    const std::string platform = users >= 0 ? std::to_string(users) + " platform users" : "no platform schema";
    return dihya::Result::success(fmt::format("greeted {} {} time(s); PostgreSQL {}, {}", name, times, server, platform),
                                  {{"name", name}, {"times", times}, {"server_version", server}, {"users", users}});
  }
};

}  // namespace hello

DIHYA_PLUGIN(hello::Hello)
