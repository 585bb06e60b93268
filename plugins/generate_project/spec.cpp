// SPDX-License-Identifier: AGPL-3.0-or-later
#include "spec.hpp"

#include <algorithm>
#include <regex>
#include <set>

#include <dihya/error.hpp>

#include "names.hpp"

namespace generate_project {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw dihya::Error("spec: " + where + ": " + what);
}

std::string show(const std::string& s) { return json_literal(utf8_prefix(s, 80)); }

// A key inside an error location: bare when it is a plain word, quoted (so
// no control character or newline reaches the message) otherwise.
std::string key_part(const std::string& key, std::size_t max_bytes) {
  const bool plain = !key.empty() && key.size() <= max_bytes && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  return plain ? key : json_literal(utf8_prefix(key, max_bytes));
}

const std::vector<std::string> kFieldTypes = {"string", "text", "integer", "number", "boolean", "date", "email"};

std::string stack_from_word(const std::string& w) {
  if (w == "flask") return "flask";
  if (w == "express" || w == "node" || w == "nodejs") return "express";
  if (w == "spa" || w == "frontend") return "spa";
  if (w == "ai") return "ai";
  if (w == "solidity" || w == "blockchain") return "solidity";
  return "";
}

// A name as a person wrote it → lower-case ASCII words, refusing anything
// that could be a path or markup: only letters, digits, spaces, '-' and '_'.
std::vector<std::string> name_words(const nlohmann::json& value, const std::string& where) {
  if (!value.is_string()) fail(where, "must be a string");
  const auto& s = value.get_ref<const std::string&>();
  if (s.empty()) fail(where, "is empty");
  if (s.size() > 4 * kMaxNameBytes) fail(where, "longer than " + std::to_string(kMaxNameBytes) + " characters");
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ' ' || c == '_' || c == '-';
    if (!ok) fail(where, show(s) + ": only letters, digits, spaces, '-' and '_' are allowed");
  }
  auto words = split_words(s);
  if (words.empty()) fail(where, show(s) + ": needs at least one Latin letter or digit");
  if (words.front()[0] >= '0' && words.front()[0] <= '9') fail(where, show(s) + ": must start with a letter");
  if (join_snake(words).size() > kMaxNameBytes) {
    fail(where, show(s) + ": longer than " + std::to_string(kMaxNameBytes) + " characters");
  }
  return words;
}

bool as_bool(const nlohmann::json& v, const std::string& where) {
  if (!v.is_boolean()) fail(where, "must be true or false");
  return v.get<bool>();
}

Field parse_field(const std::string& raw_name, const nlohmann::json* type, const nlohmann::json* required,
                  const std::string& where) {
  const auto words = name_words(raw_name, where + ".name");
  Field f;
  f.name = join_snake(words);
  if (f.name == "id") fail(where, "\"id\" is added automatically to every resource: remove this field");
  f.name = unreserved(f.name);
  if (type != nullptr && !type->is_null()) {
    if (!type->is_string()) fail(where + ".type", "must be a string");
    f.type = field_type_from_word(fold_ascii(type->get<std::string>()));
    if (f.type.empty()) {
      fail(where + ".type", show(type->get<std::string>()) + ": unknown type (string, text, integer, number, boolean, date, email)");
    }
  } else {
    f.type = guess_field_type(join_snake(words));
  }
  if (required != nullptr && !required->is_null()) f.required = as_bool(*required, where + ".required");
  return f;
}

std::vector<Field> parse_fields(const nlohmann::json& fields, const std::string& where) {
  std::vector<Field> out;
  if (fields.is_object()) {
    if (fields.size() > kMaxFields) fail(where, "more than " + std::to_string(kMaxFields) + " fields");
    for (const auto& [key, value] : fields.items()) {
      const std::string w = where + "." + key_part(key, 60);
      if (value.is_object()) {
        for (const auto& [k, v] : value.items()) {
          (void)v;
          if (k != "type" && k != "required") fail(w, "unknown key " + show(k) + " (type, required)");
        }
        out.push_back(parse_field(key, value.contains("type") ? &value["type"] : nullptr,
                                  value.contains("required") ? &value["required"] : nullptr, w));
      } else {
        out.push_back(parse_field(key, &value, nullptr, w));
      }
    }
  } else if (fields.is_array()) {
    if (fields.size() > kMaxFields) fail(where, "more than " + std::to_string(kMaxFields) + " fields");
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const auto& item = fields[i];
      const std::string w = where + "[" + std::to_string(i) + "]";
      if (item.is_string()) {
        // "price:number" or "price"
        const auto& s = item.get_ref<const std::string&>();
        const auto colon = s.find(':');
        if (colon == std::string::npos) {
          out.push_back(parse_field(s, nullptr, nullptr, w));
        } else {
          const nlohmann::json type = s.substr(colon + 1);
          out.push_back(parse_field(s.substr(0, colon), &type, nullptr, w));
        }
      } else if (item.is_object()) {
        for (const auto& [k, v] : item.items()) {
          (void)v;
          if (k != "name" && k != "type" && k != "required") fail(w, "unknown key " + show(k) + " (name, type, required)");
        }
        if (!item.contains("name")) fail(w, "missing \"name\"");
        if (!item["name"].is_string()) fail(w + ".name", "must be a string");
        out.push_back(parse_field(item["name"].get<std::string>(), item.contains("type") ? &item["type"] : nullptr,
                                  item.contains("required") ? &item["required"] : nullptr, w));
      } else {
        fail(w, "a field is a name, \"name:type\" or {name, type, required}");
      }
    }
  } else if (!fields.is_null()) {
    fail(where, "must be a list of fields or a map name -> type");
  }
  std::set<std::string> seen;
  for (const auto& f : out) {
    if (!seen.insert(f.name).second) fail(where, "field " + show(f.name) + " given twice");
  }
  if (out.empty()) out.push_back(Field{"name", "string", true});
  return out;
}

Resource parse_resource(const nlohmann::json& item, const std::string& where) {
  Resource r;
  const nlohmann::json* fields = nullptr;
  const nlohmann::json* name = &item;
  if (item.is_object()) {
    for (const auto& [k, v] : item.items()) {
      (void)v;
      if (k != "name" && k != "fields") fail(where, "unknown key " + show(k) + " (name, fields)");
    }
    if (!item.contains("name")) fail(where, "missing \"name\"");
    name = &item["name"];
    if (item.contains("fields")) fields = &item["fields"];
  } else if (!item.is_string()) {
    fail(where, "a resource is a name or {name, fields}");
  }
  const auto words = name_words(*name, where + ".name");
  r.given = name->get<std::string>();
  r.name = unreserved(plural_of(join_snake(words)));
  if (r.name.size() > kMaxNameBytes + 4) fail(where + ".name", show(r.given) + ": too long once in the plural");
  r.fields = parse_fields(fields ? *fields : nlohmann::json(), where + ".fields");
  return r;
}

}  // namespace

const std::vector<std::string>& known_stacks() {
  static const std::vector<std::string> kStacks = {"flask", "express", "spa", "ai", "solidity"};
  return kStacks;
}

std::string field_type_from_word(const std::string& raw) {
  std::string w;
  for (const char c : raw) {
    if (c >= 'A' && c <= 'Z') w.push_back(static_cast<char>(c - 'A' + 'a'));
    else if (c != ' ') w.push_back(c);
  }
  if (std::find(kFieldTypes.begin(), kFieldTypes.end(), w) != kFieldTypes.end()) return w;
  if (w == "str" || w == "chaine" || w == "texte_court" || w == "varchar") return "string";
  if (w == "texte" || w == "longtext") return "text";
  if (w == "int" || w == "entier" || w == "bigint") return "integer";
  if (w == "float" || w == "double" || w == "decimal" || w == "nombre" || w == "reel" || w == "numeric" ||
      w == "money" || w == "montant") {
    return "number";
  }
  if (w == "bool" || w == "booleen") return "boolean";
  if (w == "datetime" || w == "timestamp" || w == "jour") return "date";
  if (w == "mail" || w == "courriel") return "email";
  return "";
}

std::string guess_field_type(const std::string& snake) {
  auto has_word = [&](std::initializer_list<const char*> words) {
    for (const char* w : words) {
      const std::string word = w;
      if (snake == word || snake.rfind(word + "_", 0) == 0 ||
          (snake.size() > word.size() && snake.compare(snake.size() - word.size() - 1, std::string::npos, "_" + word) == 0)) {
        return true;
      }
    }
    return false;
  };
  if (has_word({"email", "courriel", "mail"})) return "email";
  if (has_word({"price", "prix", "total", "amount", "montant", "cost", "cout", "rate", "tarif", "balance",
                "solde", "weight", "poids", "score"})) {
    return "number";
  }
  if (has_word({"quantity", "qty", "quantite", "stock", "count", "age", "year", "annee", "rank", "position"})) {
    return "integer";
  }
  if (has_word({"date", "at", "birthday", "deadline", "echeance"}) ) return "date";
  if (has_word({"active", "actif", "enabled", "published", "publie", "done", "paid", "paye", "visible",
                "verified", "available", "disponible"}) ||
      snake.rfind("is_", 0) == 0 || snake.rfind("has_", 0) == 0 || snake.rfind("est_", 0) == 0) {
    return "boolean";
  }
  if (has_word({"description", "content", "contenu", "body", "corps", "text", "texte", "bio", "notes"})) {
    return "text";
  }
  return "string";
}

void check_strings_utf8(const nlohmann::json& j, const std::string& where) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (!valid_utf8(s)) throw dihya::Error(where + ": a string is not valid UTF-8");
    if (s.find('\0') != std::string::npos) throw dihya::Error(where + ": a string holds a NUL character");
  } else if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!valid_utf8(key)) throw dihya::Error(where + ": a key is not valid UTF-8");
      if (key.find('\0') != std::string::npos) throw dihya::Error(where + ": a key holds a NUL character");
      check_strings_utf8(value, where);
    }
  } else if (j.is_array()) {
    for (const auto& value : j) check_strings_utf8(value, where);
  }
}

Spec normalize_spec(const nlohmann::json& doc) {
  if (!doc.is_object()) fail("document", "a spec is a mapping (name, stacks, features, resources...)");
  if (dihya::templates::json_depth(doc, kMaxSpecDepth + 1) > kMaxSpecDepth) {
    fail("document", "nested more than " + std::to_string(kMaxSpecDepth) + " levels");
  }
  check_strings_utf8(doc, "spec");
  static const std::set<std::string> kKeys = {"name",      "description", "stacks",   "stack",
                                              "features",  "resources",   "templates", "variables"};
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (kKeys.count(key) == 0) {
      fail(show(key), "unknown key (name, description, stacks, features, resources, templates, variables)");
    }
  }
  Spec spec;
  if (!doc.contains("name") || !doc["name"].is_string()) fail("name", "required, a string");
  spec.name = clean_text(doc["name"].get<std::string>());
  std::size_t code_points = 0;
  for (const char c : spec.name) code_points += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (code_points == 0) fail("name", "is empty");
  if (code_points > kMaxProjectName) fail("name", "longer than " + std::to_string(kMaxProjectName) + " characters");
  if (doc.contains("description") && !doc["description"].is_null()) {
    if (!doc["description"].is_string()) fail("description", "must be a string");
    const auto& d = doc["description"].get_ref<const std::string&>();
    if (d.size() > kMaxDescription) fail("description", "longer than " + std::to_string(kMaxDescription) + " bytes");
    spec.description = clean_text(d);
  }

  std::set<std::string> stacks;
  for (const char* key : {"stack", "stacks"}) {
    if (!doc.contains(key)) continue;
    const auto& v = doc[key];
    const nlohmann::json list = v.is_array() ? v : nlohmann::json::array({v});
    if (list.size() > 16) fail(key, "more than 16 stacks");
    for (const auto& s : list) {
      if (!s.is_string()) fail(key, "a stack is a string");
      const std::string stack = stack_from_word(fold_ascii(s.get<std::string>()));
      if (stack.empty()) fail(key, show(s.get<std::string>()) + ": unknown stack (flask, express, spa, ai, solidity)");
      stacks.insert(stack);
    }
  }
  if (stacks.empty()) fail("stacks", "name at least one of flask, express, spa, ai, solidity");
  for (const auto& s : known_stacks()) {
    if (stacks.count(s)) spec.stacks.push_back(s);
  }

  if (doc.contains("features") && !doc["features"].is_null()) {
    const auto& f = doc["features"];
    if (!f.is_object()) fail("features", "must be a mapping");
    for (const auto& [key, v] : f.items()) {
      const std::string where = "features." + key_part(key, 40);
      if (key == "auth") {
        if (v.is_boolean()) spec.auth = v.get<bool>() ? "jwt" : "none";
        else if (v.is_string() && (v == "jwt" || v == "none")) spec.auth = v.get<std::string>();
        else fail(where, "jwt, none, true or false");
      } else if (key == "database") {
        if (v.is_boolean()) spec.database = v.get<bool>() ? "postgresql" : "none";
        else if (v == "postgresql" || v == "postgres") spec.database = "postgresql";
        else if (v == "sqlite" || v == "none") spec.database = v.get<std::string>();
        else fail(where, "postgresql, sqlite, none, true or false");
      } else if (key == "admin") {
        spec.admin = as_bool(v, where);
      } else if (key == "docker") {
        spec.docker = as_bool(v, where);
      } else if (key == "ci") {
        spec.ci = as_bool(v, where);
      } else if (key == "kubernetes" || key == "k8s") {
        spec.kubernetes = as_bool(v, where);
      } else {
        fail(where, "unknown feature (auth, database, admin, docker, ci, kubernetes)");
      }
    }
  }

  if (doc.contains("resources") && !doc["resources"].is_null()) {
    const auto& list = doc["resources"];
    if (!list.is_array()) fail("resources", "must be a list");
    if (list.size() > kMaxResources) fail("resources", "more than " + std::to_string(kMaxResources) + " resources");
    std::map<std::string, std::string> seen;
    // Every identifier a resource becomes in code -> the resource (as given):
    // "people" and "persons" are two tables but one struct Person.
    std::map<std::string, std::string> identifiers;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto r = parse_resource(list[i], "resources[" + std::to_string(i) + "]");
      const auto [it, inserted] = seen.emplace(r.name, r.given);
      if (!inserted) {
        fail("resources[" + std::to_string(i) + "]",
             show(r.given) + " and " + show(it->second) + " are the same resource " + show(r.name));
      }
      const ResourceNames n = resource_names(r.name);
      std::set<std::string> own;
      for (const std::string& id : {r.name, n.singular, n.class_name, n.js_name, n.js_plural}) {
        if (!own.insert(id).second) continue;
        const auto [other, fresh] = identifiers.emplace(id, r.given);
        if (!fresh) {
          fail("resources[" + std::to_string(i) + "]", show(r.given) + " and " + show(other->second) +
                                                           " would both be " + show(id) +
                                                           " in the generated code: rename one");
        }
      }
      spec.resources.push_back(std::move(r));
    }
  }

  if (doc.contains("templates") && !doc["templates"].is_null()) {
    const auto& t = doc["templates"];
    if (!t.is_object()) fail("templates", "must be a mapping stack -> template name");
    static const std::regex kName("[a-z0-9][a-z0-9._-]{0,63}");
    for (const auto& [stack, name] : t.items()) {
      const std::string where = "templates." + key_part(stack, 40);
      const bool known = stack == "project" || stack == "devops" ||
                         std::find(known_stacks().begin(), known_stacks().end(), stack) != known_stacks().end();
      if (!known) fail(where, "unknown stack (project, flask, express, spa, ai, solidity, devops)");
      if (!name.is_string() || !std::regex_match(name.get<std::string>(), kName)) {
        fail(where, "a template name is lower-case letters, digits, '.', '_' or '-'");
      }
      spec.templates[stack] = name.get<std::string>();
    }
  }

  if (doc.contains("variables") && !doc["variables"].is_null()) {
    const auto& v = doc["variables"];
    if (!v.is_object()) fail("variables", "must be a mapping name -> value");
    if (v.size() > 100) fail("variables", "more than 100 variables");
    static const std::regex kVar("[a-z_][a-z0-9_]{0,63}");
    for (const auto& [key, value] : v.items()) {
      const std::string where = "variables." + key_part(key, 64);
      if (!std::regex_match(key, kVar)) fail(where, "a variable name is [a-z_][a-z0-9_]*");
      if (!value.is_primitive() || value.is_null()) fail(where, "a variable is a string, number or boolean");
      if (value.is_string() && value.get_ref<const std::string&>().size() > 256) fail(where, "longer than 256 bytes");
    }
    spec.variables = v;
  }
  return spec;
}

nlohmann::json to_json(const Spec& spec) {
  nlohmann::json resources = nlohmann::json::array();
  for (const auto& r : spec.resources) {
    nlohmann::json fields = nlohmann::json::array();
    for (const auto& f : r.fields) fields.push_back({{"name", f.name}, {"type", f.type}, {"required", f.required}});
    resources.push_back({{"name", r.name}, {"fields", fields}});
  }
  nlohmann::json templates = nlohmann::json::object();
  for (const auto& [k, v] : spec.templates) templates[k] = v;
  return {{"name", spec.name},
          {"description", spec.description},
          {"stacks", spec.stacks},
          {"features",
           {{"auth", spec.auth},
            {"database", spec.database},
            {"admin", spec.admin},
            {"docker", spec.docker},
            {"ci", spec.ci},
            {"kubernetes", spec.kubernetes}}},
          {"resources", resources},
          {"templates", templates},
          {"variables", spec.variables}};
}

}  // namespace generate_project
