// SPDX-License-Identifier: AGPL-3.0-or-later
// Fuzzes what the sandbox reads from hostile input: plugin.json's
// "capabilities" (any JSON), the run's parameters it resolves paths and ports
// from (URLs), the database URL, a "param:NAME#key[].field" document, and the
// failure text the denial hint scans. Input: a JSON object
// {"capabilities": ..., "params": ..., "database_url": "...", "doc": ..., "message": "..."}.
// Invariant: a plan is built only from accepted capabilities and every rule path is absolute.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "supervise/sandbox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int depth = 0;
  // Depth-limited: nlohmann's recursive destructor and dump() overflow the stack on deep input.
  const auto limit = [&depth](int d, nlohmann::json::parse_event_t, nlohmann::json&) {
    depth = d;
    return d <= 64;
  };
  const nlohmann::json input =
      nlohmann::json::parse(data, data + size, limit, /*allow_exceptions=*/false);
  if (!input.is_object()) return 0;
  dihya::host::Capabilities caps;
  if (!dihya::host::parse_capabilities(input, &caps).empty()) return 0;
  dihya::host::SandboxInputs in;
  in.abi = 7;
  in.work_dir = "/tmp";
  in.params = input.value("params", nlohmann::json::object());
  if (!in.params.is_object()) return 0;
  const auto url = input.find("database_url");
  if (url != input.end() && url->is_string()) in.database_url = url->get<std::string>();
  const nlohmann::json doc = input.value("doc", nlohmann::json::object());
  in.read_document = [&doc](const std::string&) { return doc; };
  const dihya::host::SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  for (const auto& rule : plan.rules) {
    if (rule.path.empty() || rule.path[0] != '/') std::abort();
  }
  (void)dihya::host::sandbox_plan_json(plan).dump();
  (void)dihya::host::capabilities_json(caps).dump();
  const auto message = input.find("message");
  if (message != input.end() && message->is_string()) (void)dihya::host::sandbox_denial_hint(plan, message->get<std::string>());
  return 0;
}
