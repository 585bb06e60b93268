// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host audit verify`: walks the hash chain of the audit log and names
// the first line that was edited, dropped, inserted or moved.
#include <iostream>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "errors.hpp"

namespace dihya::host {

int cmd_audit(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host audit verify [--file PATH] [--json]";
  spec.description = "Verifies the audit log (default: <state dir>/audit.jsonl). Exit 0 when intact,\n"
                     "1 when a line was edited, dropped, inserted or reordered.";
  spec.options.add_options()("file", po::value<std::string>(), "audit file to verify")("json", "print JSON");
  spec.hidden.add_options()("action", po::value<std::string>()->required(), "verify");
  spec.positional.add("action", 1);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  if ((*vm)["action"].as<std::string>() != "verify") {
    throw usage_error(fmt::format("audit {}: unknown action (expected: verify)", (*vm)["action"].as<std::string>()));
  }
  if (!vm->count("file")) check_state_dir(settings);
  const std::filesystem::path file =
      vm->count("file") ? std::filesystem::path((*vm)["file"].as<std::string>()) : settings.state_dir / "audit.jsonl";
  const AuditVerifyReport report = verify_audit_log(file);
  if (vm->count("json")) {
    nlohmann::json out{{"file", file.string()}, {"ok", report.ok}, {"lines", report.lines}, {"head_sha256", report.head_sha256}};
    if (!report.ok) {
      out["first_bad_line"] = *report.first_bad_line;
      out["problem"] = report.problem;
    }
    print_json(out);
  } else if (report.ok) {
    std::cout << fmt::format("{}: intact, {} line(s)\n", file.string(), report.lines);
  } else {
    std::cout << fmt::format("{}: TAMPERED at line {}: {}\n", file.string(), *report.first_bad_line, report.problem);
  }
  return report.ok ? 0 : kExitRunFailed;
}

}  // namespace dihya::host
