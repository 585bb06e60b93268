// SPDX-License-Identifier: AGPL-3.0-or-later
// Returns its parameters and logs each of them, secrets included, so tests can
// see what the host coerced and what it redacted. Validation rejects the name
// "nobody" to exercise semantic checks.
#include <dihya/plugin.hpp>

namespace echo_params {

class EchoParams final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context&) override {
    if (params.get<std::string>("name") == "nobody") return {{"name", "nobody cannot be greeted"}};
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    for (const auto& [key, value] : params.json().items()) ctx.log().info("param {} = {}", key, value.dump());
    if (auto secret = ctx.secret("password")) ctx.log().info("the secret is {}", *secret);
    ctx.log().debug("dry run: {}", ctx.dry_run());
    if (params.get<bool>("loud")) ctx.log().warn("LOUD");
    auto result = dihya::Result::success("echoed " + std::to_string(params.json().size()) + " parameter(s)",
                                         {{"params", params.json()}, {"dry_run", ctx.dry_run()}});
    for (const auto& [key, value] : params.json().items()) result.report += key + "\t" + value.dump() + "\n";
    return result;
  }
};

}  // namespace echo_params

DIHYA_PLUGIN(echo_params::EchoParams)
