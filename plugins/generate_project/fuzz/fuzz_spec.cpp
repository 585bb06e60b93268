// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the spec parsers that see operator input: the
// plain-text parser, and the structured spec from JSON and from YAML (with
// the SDK's budgeted YAML conversion). Beyond "no crash", it checks what the
// engine promises: refusals are dihya::Error with one line; an accepted spec
// has at most 200 resources of at most 100 fields, every resource and field
// name is a lower-case identifier of at most 49 bytes, never "id"; normalising
// is idempotent (to_json then normalize gives the same spec); the render
// context's string literals parse back to the project name; no two resources
// share a derived identifier (singular, class or JS name); the slug is a
// DNS-1035 label short enough for every Kubernetes name made from it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include <dihya/error.hpp>
#include <dihya/yaml_file.hpp>

#include "../names.hpp"
#include "../render.hpp"
#include "../spec.hpp"
#include "../text_spec.hpp"

namespace {

using namespace generate_project;

void require(bool condition) {
  if (!condition) std::abort();
}

bool identifier(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  for (const char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void check_spec(const nlohmann::json& doc) {
  Spec spec;
  try {
    spec = normalize_spec(doc);
  } catch (const dihya::Error& e) {
    require(std::string(e.what()).find('\n') == std::string::npos);
    return;
  }
  require(spec.resources.size() <= kMaxResources);
  require(!spec.stacks.empty());
  for (const auto& r : spec.resources) {
    require(identifier(r.name));
    require(r.fields.size() <= kMaxFields && !r.fields.empty());
    for (const auto& f : r.fields) require(identifier(f.name) && f.name != "id");
  }
  const nlohmann::json once = to_json(spec);
  require(to_json(normalize_spec(once)) == once);
  const nlohmann::json context = build_context(spec, "1.0.0");
  require(nlohmann::json::parse(context["project"]["name_py"].get<std::string>()) == spec.name);
  require(nlohmann::json::parse(context["project"]["name_js"].get<std::string>()) == spec.name);
  // Templates append up to 12 characters ("-express-api") to a Kubernetes name.
  const auto& slug = context["project"]["slug"].get_ref<const std::string&>();
  require(!slug.empty() && slug.size() <= 51 && slug[0] >= 'a' && slug[0] <= 'z' && slug.back() != '-');
  for (const char c : slug) require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  // No two resources share an identifier in the generated code (one struct
  // Person for "people" and "persons" does not compile).
  std::map<std::string, std::size_t> owner;
  for (std::size_t i = 0; i < context["resources"].size(); ++i) {
    const auto& r = context["resources"][i];
    require(identifier(r["singular"].get<std::string>()));
    require(r["singular"] != r["name"]);
    for (const char* key : {"name", "singular", "class_name", "js_name", "js_plural"}) {
      require(owner.emplace(r[key].get<std::string>(), i).first->second == i);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const TextSpec parsed = parse_text_spec(input);
    check_spec(parsed.spec);
  } catch (const dihya::Error& e) {
    require(std::string(e.what()).find('\n') == std::string::npos);
  }
  try {
    check_spec(parse_json_limited(input, kMaxSpecDepth));
  } catch (const dihya::Error& e) {
    require(std::string(e.what()).find('\n') == std::string::npos);
  }
  // Any bytes: the reader refuses invalid UTF-8 and control characters itself,
  // and nothing but a one-line dihya::Error may leave it.
  try {
    check_spec(dihya::load_yaml_text(input, "spec.yaml"));
  } catch (const dihya::Error& e) {
    require(std::string(e.what()).find('\n') == std::string::npos);
  }
  return 0;
}
