// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/capabilities.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

namespace dihya::host {
namespace {

bool is_string_array(const nlohmann::json& v) {
  if (!v.is_array()) return false;
  return std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_string(); });
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string check_paths(const nlohmann::json& v, const char* key, bool allow_host, std::vector<std::string>* out,
                        bool* runs_host) {
  if (!is_string_array(v)) return fmt::format("capabilities.{}: expected an array of strings", key);
  for (const auto& e : v) {
    const std::string s = e.get<std::string>();
    if (allow_host && s == "dihya-host") {
      *runs_host = true;
    } else if (!is_param_reference(s) && !is_clean_absolute_path(s)) {
      return fmt::format("capabilities.{}: '{}' is neither an absolute path without '..' nor param:NAME", key,
                         s.substr(0, 200));
    }
    out->push_back(s);
  }
  return "";
}

}  // namespace

bool is_param_reference(const std::string& s) {
  if (s.rfind("param:", 0) != 0 || s.size() == 6 || s.size() > 6 + 200) return false;
  const auto hash = s.find('#');
  const std::string name = s.substr(6, hash == std::string::npos ? std::string::npos : hash - 6);
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) return false;
  if (hash == std::string::npos) return true;
  const std::string pointer = s.substr(hash + 1);
  std::size_t start = 0;
  while (true) {
    const auto dot = pointer.find('.', start);
    std::string key = pointer.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.size() > 2 && key.compare(key.size() - 2, 2, "[]") == 0) key.resize(key.size() - 2);
    if (key.empty() || !std::all_of(key.begin(), key.end(), is_name_char)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool is_clean_absolute_path(const std::string& s) {
  if (s.empty() || s[0] != '/' || s.size() > 4096 || s.find('\0') != std::string::npos) return false;
  for (const auto& part : std::filesystem::path(s)) {
    if (part == "..") return false;
  }
  return true;
}

std::optional<std::uint16_t> port_number(const std::string& digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const long n = std::strtol(digits.c_str(), nullptr, 10);
  if (n < 1 || n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(n);
}

std::string parse_capabilities(const nlohmann::json& metadata, Capabilities* out) {
  *out = Capabilities{};
  const auto it = metadata.find("capabilities");
  if (it == metadata.end()) return "";
  if (!it->is_object()) return "capabilities: expected an object";
  for (const auto& [key, value] : it->items()) {
    std::string problem;
    if (key == "read") {
      problem = check_paths(value, "read", false, &out->read, &out->runs_host);
    } else if (key == "write") {
      problem = check_paths(value, "write", false, &out->write, &out->runs_host);
    } else if (key == "exec") {
      problem = check_paths(value, "exec", true, &out->exec, &out->runs_host);
    } else if (key == "connect") {
      if (!value.is_array()) return "capabilities.connect: expected an array of ports or param:NAME";
      for (const auto& e : value) {
        if (e.is_number_integer() && e.get<long long>() >= 1 && e.get<long long>() <= 65535) {
          out->connect.push_back(std::to_string(e.get<long long>()));
        } else if (e.is_string() && is_param_reference(e.get<std::string>()) && e.get<std::string>().find('#') == std::string::npos) {
          out->connect.push_back(e.get<std::string>());
        } else {
          return fmt::format("capabilities.connect: '{}' is neither a port 1-65535 nor param:NAME",
                             e.dump().substr(0, 200));
        }
      }
    } else if (key == "database" || key == "dns" || key == "processes") {
      if (!value.is_boolean()) return fmt::format("capabilities.{}: expected true or false", key);
      (key == "database" ? out->database : key == "dns" ? out->dns : out->processes) = value.get<bool>();
    } else {
      return fmt::format("capabilities: unknown key '{}' (known: read, write, exec, connect, database, dns, processes)",
                         key.substr(0, 100));
    }
    if (!problem.empty()) return problem;
  }
  return "";
}

nlohmann::json capabilities_json(const Capabilities& caps) {
  nlohmann::json j = nlohmann::json::object();
  if (!caps.read.empty()) j["read"] = caps.read;
  if (!caps.write.empty()) j["write"] = caps.write;
  if (!caps.exec.empty()) j["exec"] = caps.exec;
  if (!caps.connect.empty()) {
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : caps.connect) {
      if (auto n = port_number(p)) {
        ports.push_back(*n);
      } else {
        ports.push_back(p);
      }
    }
    j["connect"] = ports;
  }
  if (caps.database) j["database"] = true;
  if (caps.dns) j["dns"] = true;
  if (caps.processes) j["processes"] = true;
  return j;
}

}  // namespace dihya::host
