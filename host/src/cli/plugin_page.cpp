// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/plugin_page.hpp"

#include <fmt/format.h>

#include "supervise/sandbox.hpp"
#include "util/json_text_of.hpp"
#include "util/printable.hpp"

namespace dihya::host {
namespace {

// A word or a line of the author's made safe for the terminal (`info`) and
// the pages `docs` writes: no control sequence, and no line break that could
// forge a line of the page (a summary ending "\n- destructive: no").
std::string line_of(std::string_view text) { return printable(text, std::string::npos); }

std::string type_of(const nlohmann::json& property) {
  const auto t = property.find("type");
  if (t == property.end()) return property.contains("enum") ? "enum" : "any";
  if (t->is_string()) {
    std::string type = t->get<std::string>();
    if (type == "array" && property.contains("items") && property["items"].contains("type") &&
        property["items"]["type"].is_string()) {
      type += "<" + property["items"]["type"].get<std::string>() + ">";
    }
    return type;
  }
  if (!t->is_array()) return t->dump();
  std::string joined;
  for (const auto& each : *t) joined += (joined.empty() ? "" : "|") + (each.is_string() ? each.get<std::string>() : each.dump());
  return joined;
}

std::string describe(const nlohmann::json& property) {
  std::string text = text_of(property, "description");
  if (property.contains("enum")) text += fmt::format(" (one of {})", property["enum"].dump());
  if (property.contains("minimum")) text += fmt::format(" (min {})", property["minimum"].dump());
  if (property.contains("maximum")) text += fmt::format(" (max {})", property["maximum"].dump());
  return text;
}

std::string escape_cell(std::string_view text) {
  std::string out;
  for (char c : line_of(text)) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

}  // namespace

std::vector<ParameterRow> parameter_rows(const nlohmann::json& schema) {
  std::vector<ParameterRow> rows;
  const auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return rows;
  std::vector<std::string> required;
  if (schema.contains("required") && schema["required"].is_array()) {
    for (const auto& r : schema["required"]) {
      if (r.is_string()) required.push_back(r.get<std::string>());
    }
  }
  for (const auto& [name, property] : props->items()) {
    ParameterRow row;
    row.name = name;
    row.type = property.is_object() ? type_of(property) : "any";
    row.required = std::find(required.begin(), required.end(), name) != required.end() ? "yes" : "no";
    const auto write_only = property.is_object() ? property.find("writeOnly") : property.end();
    row.secret = write_only != property.end() && write_only->is_boolean() && write_only->get<bool>();
    row.default_value = property.is_object() && property.contains("default") && !row.secret ? property["default"].dump() : "";
    row.description = property.is_object() ? describe(property) : "";
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string capabilities_text(const nlohmann::json& metadata) {
  Capabilities caps;
  const std::string problem = parse_capabilities(metadata, &caps);
  if (!problem.empty()) return "INVALID: " + problem;
  std::vector<std::string> parts;
  const auto list = [&](const char* verb, const std::vector<std::string>& entries) {
    if (!entries.empty()) parts.push_back(fmt::format("{} {}", verb, fmt::join(entries, ", ")));
  };
  list("reads", caps.read);
  list("writes", caps.write);
  list("executes", caps.exec);
  list("connects to TCP ports", caps.connect);
  if (caps.database) parts.push_back("the database");
  if (caps.dns) parts.push_back("DNS");
  if (caps.processes) parts.push_back("makes processes");
  if (parts.empty()) return "none (its work and output dirs and the runtime only)";
  if (caps.runs_host) {
    // A Landlock domain only narrows: the jobs' hosts need the state dir and
    // their own plugins' paths, so a plugin that starts the host has none.
    return fmt::format("UNCONFINED FILES: it executes dihya-host, so it runs with no Landlock and may read and write "
                       "whatever this user may (seccomp still applies); review it as a program run as this user. {}",
                       fmt::join(parts, "; "));
  }
  return fmt::format("{} (besides its work and output dirs and the runtime)", fmt::join(parts, "; "));
}

std::string plugin_markdown(const PluginFile& plugin) {
  const auto& m = plugin.metadata;
  std::string md = fmt::format("# {} {}\n\n{}\n\n", plugin.name(), line_of(plugin.version()), line_of(plugin.summary()));
  if (m.contains("description")) md += printable_text(text_of(m, "description")) + "\n\n";

  std::vector<std::string> needs;
  if (m.contains("needs") && m["needs"].is_array()) {
    for (const auto& n : m["needs"]) needs.push_back(line_of(n.is_string() ? n.get<std::string>() : n.dump()));
  }
  md += fmt::format("- destructive: {}\n- reversible: {}\n- supports dry-run: {}\n- needs: {}\n",
                    plugin.destructive() ? "yes" : "no", plugin.reversible() ? "yes" : "no",
                    m.value("dry_run", true) ? "yes" : "no", needs.empty() ? "nothing" : fmt::format("{}", fmt::join(needs, ", ")));
  md += "- sandbox capabilities: " + line_of(capabilities_text(m)) + "\n";
  if (m.contains("timeout_seconds")) md += fmt::format("- default timeout: {} s\n", line_of(m["timeout_seconds"].dump()));
  md += fmt::format("- concurrency: {}\n\n", line_of(m.value("concurrency", "allow")));

  md += "## Parameters\n\n";
  const auto rows = parameter_rows(plugin.parameters());
  if (rows.empty()) {
    md += "None.\n\n";
  } else {
    md += "| name | type | required | default | secret | description |\n|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
      md += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", escape_cell(r.name), escape_cell(r.type), r.required,
                        r.default_value.empty() ? "" : "`" + escape_cell(r.default_value) + "`",
                        r.secret ? "yes" : "", escape_cell(r.description));
    }
    md += "\n";
  }
  if (m.contains("examples") && m["examples"].is_array() && !m["examples"].empty()) {
    md += "## Examples\n\n";
    for (const auto& e : m["examples"]) {
      if (!e.is_object()) continue;
      md += printable_text(text_of(e, "description")) + "\n\n";
      if (e.contains("command")) md += "```sh\n" + line_of(text_of(e, "command")) + "\n```\n\n";
    }
  }
  if (m.contains("security")) md += "## Security\n\n" + printable_text(text_of(m, "security")) + "\n\n";
  if (m.contains("rollback")) md += "## Rollback\n\n" + printable_text(text_of(m, "rollback")) + "\n\n";
  return md;
}

}  // namespace dihya::host
