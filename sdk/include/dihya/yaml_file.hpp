// SPDX-License-Identifier: AGPL-3.0-or-later
// Reads an operator's YAML (or JSON) file — a policy, a config — into JSON with
// a budget: yaml-cpp keeps alias bombs as shared nodes and expanding them would
// explode, and deep nesting throws a misleading error, so both are bounded here
// (64 levels, 100 000 nodes, 4 MiB) and every failure is one dihya::Error line
// naming the file. Header-only; a plugin that includes it links yaml-cpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <dihya/error.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

namespace dihya {

inline nlohmann::json yaml_to_json(const YAML::Node& node, int depth, std::size_t& budget) {
  if (depth > 64) throw dihya::Error("nested more than 64 levels");
  if (budget == 0) throw dihya::Error("more than 100000 nodes (alias bomb?)");
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& child : node) out.push_back(yaml_to_json(child, depth + 1, budget));
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = yaml_to_json(kv.second, depth + 1, budget);
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (s == "~" || s == "null") return nullptr;
  try {
    std::size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  // A YAML 1.2 core-schema float (1.5, -.5, 2e3); strtod alone would also take
  // "inf", "nan" and hex forms, which stay strings, as does a float too large
  // for a double (1e999): JSON has no infinity.
  if (!s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
      s.find_first_of("0123456789") != std::string::npos) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() + s.size() && std::isfinite(v)) return v;
  }
  return s;
}

// A YAML document already read (`where` names it in errors) as JSON. Throws
// dihya::Error "<where>: <what>".
inline nlohmann::json load_yaml_text(const std::string& text, const std::string& where) {
  try {
    std::size_t budget = 100000;
    return yaml_to_json(YAML::Load(text), 0, budget);
  } catch (const YAML::DeepRecursion&) {
    throw dihya::Error(where + ": nested too deeply");
  } catch (const YAML::Exception& e) {
    throw dihya::Error(where + ": invalid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  } catch (const dihya::Error& e) {
    throw dihya::Error(where + ": " + e.what());
  }
}

// The document at `path` as JSON. Throws dihya::Error "<path>: <what>".
inline nlohmann::json load_yaml_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw dihya::Error(path.string() + ": not a readable file");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw dihya::Error(path.string() + ": cannot be read: " + ec.message());
  if (size > 4 * 1024 * 1024) throw dihya::Error(path.string() + ": larger than 4 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw dihya::Error(path.string() + ": cannot be read");
  // One byte more than announced: a file that grew meanwhile is noticed.
  std::string text(static_cast<std::size_t>(size) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw dihya::Error(path.string() + ": changed while being read");
  text.resize(static_cast<std::size_t>(size));
  return load_yaml_text(text, path.string());
}

}  // namespace dihya
