// SPDX-License-Identifier: AGPL-3.0-or-later
// What a plugin declares it needs, read from plugin.json's "capabilities"
// without running its code, like the rest of its metadata. Parsing only: the
// supervise/sandbox.hpp plan turns a declaration into kernel rules. A
// malformed declaration is refused whole, with one line naming the entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

// What plugin.json's "capabilities" object declares. Path entries are
// absolute paths, "param:NAME" (the parameter's value), or
// "param:NAME#key[].field" (the paths listed at that key of the JSON/YAML
// file the parameter names: cleanup's policy lists the log dirs it prunes);
// port entries are numbers or "param:NAME" (a number or a URL).
// "exec" may name "dihya-host": the plugin runs the host itself (run_scheduler).
// "processes": true lets a plugin that starts no program fork (an exec grant
// implies it); without either, it may start threads but no process.
struct Capabilities {
  std::vector<std::string> read;
  std::vector<std::string> write;
  std::vector<std::string> exec;
  std::vector<std::string> connect;  // "5432", "param:smtp_url"
  bool database = false;             // the configured PostgreSQL connection
  bool dns = false;                  // resolver files and DNS over UDP/TCP 53
  bool processes = false;            // fork without exec
  bool runs_host = false;            // exec names "dihya-host"
};

// Reads metadata["capabilities"] (absent: nothing declared). Returns "" or one
// line naming the bad key or entry; `check` and every load refuse on it.
std::string parse_capabilities(const nlohmann::json& metadata, Capabilities* out);

// The capabilities as a JSON object in plugin.json's own shape (for `info --json`).
nlohmann::json capabilities_json(const Capabilities& caps);

// "param:NAME" (letters, digits, '_' and '-'), or "param:NAME#key[].field":
// the paths listed at that key of the JSON/YAML file the parameter names.
bool is_param_reference(const std::string& entry);

// Absolute, no ".." component, no NUL, at most 4096 bytes.
bool is_clean_absolute_path(const std::string& path);

// "1".."65535" as a port; anything else is none.
std::optional<std::uint16_t> port_number(const std::string& digits);

}  // namespace dihya::host
