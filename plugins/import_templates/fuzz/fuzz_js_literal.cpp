// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the JS object-literal parser and the two writers that
// must read back exactly. Beyond "no crash" it checks the promises of
// js_literal.hpp and template_yaml.hpp: an error is one line naming
// "<file>:<line>:<col>:"; every string the parser returns is valid UTF-8; a
// parsed object written as JS parses back to the same value, and its JS text
// is stable (write -> parse -> write is byte-identical); the same object
// written as YAML reads back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <dihya/error.hpp>
#include <dihya/template_format.hpp>

#include "../js_literal.hpp"
#include "../template_yaml.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

bool strings_valid(const nlohmann::json& j) {
  if (j.is_string()) return dihya::templates::valid_utf8(j.get_ref<const std::string&>());
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!dihya::templates::valid_utf8(key) || !strings_valid(value)) return false;
    }
  } else if (j.is_array()) {
    for (const auto& value : j) {
      if (!strings_valid(value)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc;
  try {
    doc = import_templates::parse_js_module(input, "f.js");
  } catch (const dihya::Error& e) {
    const std::string what = e.what();
    require(what.rfind("f.js:", 0) == 0 && what.find('\n') == std::string::npos);
    return 0;
  }
  require(doc.is_object() && strings_valid(doc));
  const std::string js = import_templates::write_js_module(doc);
  const nlohmann::json again = import_templates::parse_js_module(js, "again.js");
  require(again == doc);
  require(import_templates::write_js_module(again) == js);
  // YAML: strings with NUL cannot be YAML scalars in yaml-cpp; the importer
  // refuses NUL anyway (PostgreSQL jsonb cannot store it).
  if (doc.dump().find("\\u0000") == std::string::npos) {
    const nlohmann::json from_yaml = import_templates::parse_yaml_document(import_templates::write_yaml_document(doc), "f.yaml");
    require(from_yaml == doc);
  }
  return 0;
}
