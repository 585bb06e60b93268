// SPDX-License-Identifier: AGPL-3.0-or-later
// Parameters: parsing hostile JSON/YAML input, coercing --param text by the
// plugin's schema, @env:/@file: secrets, defaults, validation messages that
// never show a secret, and redaction of what the host stores and prints.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <dihya/json_text.hpp>
#include <nlohmann/json.hpp>

#include "temp_dir.hpp"
#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"
#include "params/param_builder.hpp"
#include "params/redaction.hpp"

namespace {

using dihya::host::HostError;
using nlohmann::json;
namespace fs = std::filesystem;

// A directory under /tmp removed with everything in it at the end of a test.
using dihya::testing::TempDir;

// Sets an environment variable for the length of a test.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
};

const json kSchema = json::parse(R"({
  "type": "object",
  "properties": {
    "count":    {"type": "integer", "minimum": 0},
    "ratio":    {"type": "number"},
    "dry_run":  {"type": "boolean", "default": false},
    "name":     {"type": "string"},
    "tags":     {"type": "array", "items": {"type": "string"}},
    "ports":    {"type": "array", "items": {"type": "integer"}},
    "options":  {"type": "object"},
    "limit":    {"type": ["integer", "null"]},
    "label":    {"type": ["string", "null"]},
    "port":     {"type": "integer", "minimum": 1, "maximum": 65535, "default": 5432},
    "mode":     {"type": "string", "enum": ["fast", "safe"]},
    "password": {"type": "string", "writeOnly": true, "minLength": 12, "pattern": "^[A-Za-z0-9]+$"},
    "pin":      {"type": "integer", "writeOnly": true, "maximum": 9999},
    "database": {"type": "object", "properties": {
                   "host": {"type": "string", "default": "localhost"},
                   "user": {"type": "string", "default": "postgres"},
                   "secret": {"type": "string", "writeOnly": true}}}
  }
})");

dihya::host::ResolvedParams build(const std::vector<std::string>& kv,
                                  const std::optional<fs::path>& file = std::nullopt,
                                  const json& schema = kSchema) {
  return dihya::host::build_params(schema, kv, file);
}

// The message of the usage error `run` throws; fails the test otherwise.
template <typename Run>
std::string usage_error_of(Run&& run) {
  try {
    run();
  } catch (const HostError& error) {
    CHECK(error.exit_code() == dihya::host::kExitUsage);
    const std::string message = error.what();
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("expected a usage error");
  return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool is_one_printable_line(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return dihya::host::find_invalid_utf8(text) == std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------- coercion

TEST_CASE("a --param text is coerced to each parameter's schema type", "[params]") {
  SECTION("integer") { CHECK(build({"count=42"}).values["count"] == 42); }
  SECTION("negative integer") { CHECK(build({"ratio=-7"}).values["ratio"] == -7); }
  SECTION("number") { CHECK(build({"ratio=0.25"}).values["ratio"] == Approx(0.25)); }
  SECTION("number with exponent") { CHECK(build({"ratio=1.5e3"}).values["ratio"] == Approx(1500.0)); }
  SECTION("boolean spellings") {
    CHECK(build({"dry_run=true"}).values["dry_run"] == true);
    CHECK(build({"dry_run=YES"}).values["dry_run"] == true);
    CHECK(build({"dry_run=1"}).values["dry_run"] == true);
    CHECK(build({"dry_run=no"}).values["dry_run"] == false);
    CHECK(build({"dry_run=False"}).values["dry_run"] == false);
    CHECK(build({"dry_run=0"}).values["dry_run"] == false);
  }
  SECTION("string keeps the text, '=' included") { CHECK(build({"name=a=b"}).values["name"] == "a=b"); }
  SECTION("array as comma-separated items, trimmed") {
    CHECK(build({"tags=a, b ,c"}).values["tags"] == json({"a", "b", "c"}));
  }
  SECTION("array items coerced by the items type") { CHECK(build({"ports=80,443"}).values["ports"] == json({80, 443})); }
  SECTION("array as JSON text") { CHECK(build({R"(tags=["x,y", "z"])"}).values["tags"] == json({"x,y", "z"})); }
  SECTION("empty text is an empty array") { CHECK(build({"tags="}).values["tags"] == json::array()); }
  SECTION("object as JSON text") { CHECK(build({R"(options={"a": 1})"}).values["options"] == json({{"a", 1}})); }
  SECTION("type list tried in order: integer or null") {
    CHECK(build({"limit=10"}).values["limit"] == 10);
    CHECK(build({"limit=null"}).values["limit"].is_null());
  }
  SECTION("type list tried in order: string before null") { CHECK(build({"label=null"}).values["label"] == "null"); }
}

TEST_CASE("a non-integer for an integer parameter names the parameter and the text", "[params]") {
  const std::string message = usage_error_of([] { build({"count=abc"}); });
  CHECK(message == "parameter 'count': expected an integer, got 'abc'");
}

TEST_CASE("integer coercion is strict", "[params]") {
  CHECK(contains(usage_error_of([] { build({"count=1.5"}); }), "expected an integer"));
  CHECK(contains(usage_error_of([] { build({"count= 1"}); }), "expected an integer"));
  CHECK(contains(usage_error_of([] { build({"count=0x10"}); }), "expected an integer"));
  CHECK(contains(usage_error_of([] { build({"count=99999999999999999999"}); }), "out of range"));
}

TEST_CASE("a bad boolean or list item is refused with the parameter named", "[params]") {
  CHECK(contains(usage_error_of([] { build({"dry_run=maybe"}); }), "parameter 'dry_run': expected a boolean"));
  CHECK(contains(usage_error_of([] { build({"ports=80,http"}); }), "item 2 is not an integer"));
  CHECK(contains(usage_error_of([] { build({"options=[1]"}); }), "parameter 'options': expected an object"));
}

TEST_CASE("a --param without '=' is a usage error", "[params]") {
  CHECK(usage_error_of([] { build({"abc"}); }) == "--param 'abc': expected key=value");
}

TEST_CASE("a --param with an empty name is a usage error", "[params]") {
  CHECK(contains(usage_error_of([] { build({"=5"}); }), "empty"));
}

TEST_CASE("an unknown parameter is refused and the known ones listed", "[params]") {
  const std::string message = usage_error_of([] { build({"colour=red"}); });
  CHECK(contains(message, "unknown parameter 'colour'"));
  CHECK(contains(message, "known: count, database, dry_run, label, limit"));
}

TEST_CASE("additionalProperties true lets undeclared parameters through as text", "[params]") {
  const json open_schema = {{"type", "object"}, {"additionalProperties", true}};
  CHECK(build({"anything=1"}, std::nullopt, open_schema).values["anything"] == "1");
}

TEST_CASE("a missing required parameter is named", "[params]") {
  json schema = kSchema;
  schema["required"] = {"name"};
  CHECK(usage_error_of([&] { build({}, std::nullopt, schema); }) == "missing required parameter 'name'");
}

TEST_CASE("defaults fill absent parameters, also inside objects that are given", "[params]") {
  const json values = build({R"(database={"host": "db1"})"}).values;
  CHECK(values["port"] == 5432);
  CHECK(values["dry_run"] == false);
  CHECK(values["database"]["host"] == "db1");
  CHECK(values["database"]["user"] == "postgres");
  CHECK_FALSE(values.contains("name"));
}

TEST_CASE("a later --param replaces an earlier one and the params file", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("p.json", R"({"count": 1, "name": "file"})");
  const json values = build({"count=2", "count=3"}, file).values;
  CHECK(values["count"] == 3);
  CHECK(values["name"] == "file");
}

TEST_CASE("validation errors name the parameter, the value and the limit", "[params]") {
  CHECK(usage_error_of([] { build({"port=70000"}); }) == "parameter 'port': 70000 is greater than maximum 65535");
  CHECK(usage_error_of([] { build({"mode=slow"}); }) == "parameter 'mode': 'slow' is not one of 'fast', 'safe'");
}

TEST_CASE("at most three problems are listed in one line", "[params]") {
  json schema = kSchema;
  schema["required"] = {"name", "tags", "ports", "options"};
  const std::string many = usage_error_of([&] { build({"port=0"}, std::nullopt, schema); });
  CHECK(contains(many, "; and "));
  CHECK(std::count(many.begin(), many.end(), ';') == 3);
}

TEST_CASE("nested values are validated with a dotted path", "[params]") {
  CHECK(usage_error_of([] { build({R"(database={"host": 5})"}); }) ==
        "parameter 'database.host': expected a string, got 5");
}

// ---------------------------------------------------------------- secrets

TEST_CASE("@env: reads an environment variable and marks the value secret", "[params]") {
  ScopedEnv env("DIHYA_TEST_NAME", "from-env");
  const auto params = build({"name=@env:DIHYA_TEST_NAME"});
  CHECK(params.values["name"] == "from-env");
  CHECK(params.secret_values == std::vector<std::string>{"from-env"});
}

TEST_CASE("@env: text is coerced to the parameter's type", "[params]") {
  ScopedEnv env("DIHYA_TEST_COUNT", "17");
  CHECK(build({"count=@env:DIHYA_TEST_COUNT"}).values["count"] == 17);
}

TEST_CASE("@env: naming an unset variable names the variable", "[params]") {
  ::unsetenv("DIHYA_TEST_UNSET");
  CHECK(usage_error_of([] { build({"name=@env:DIHYA_TEST_UNSET"}); }) ==
        "parameter 'name': environment variable DIHYA_TEST_UNSET is not set");
}

TEST_CASE("@file: reads a file without one trailing newline", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("pw", "first line\nsecond\n\n");
  const auto params = build({"name=@file:" + file.string()});
  CHECK(params.values["name"] == "first line\nsecond\n");
  CHECK(params.secret_values == std::vector<std::string>{"first line\nsecond\n"});
}

TEST_CASE("@file: on a missing file names the path and the OS reason", "[params]") {
  const std::string message = usage_error_of([] { build({"name=@file:/nonexistent/dihya-secret"}); });
  CHECK(contains(message, "/nonexistent/dihya-secret"));
  CHECK(contains(message, "No such file or directory"));
}

TEST_CASE("references in the params file are resolved too", "[params]") {
  ScopedEnv env("DIHYA_TEST_PORT", "6543");
  TempDir dir;
  const fs::path file = dir.write("p.yaml", "port: '@env:DIHYA_TEST_PORT'\nname: '@@literal'\n");
  const auto params = build({}, file);
  CHECK(params.values["port"] == 6543);
  CHECK(params.values["name"] == "@literal");
}

TEST_CASE("@@ stands for a literal @", "[params]") { CHECK(build({"name=@@env:HOME"}).values["name"] == "@env:HOME"); }

TEST_CASE("errors about a writeOnly parameter never show its value", "[params]") {
  SECTION("coercion") {
    const std::string message = usage_error_of([] { build({"pin=12ab"}); });
    CHECK(message == "parameter 'pin': invalid value (expected an integer)");
  }
  SECTION("validation: too short") {
    const std::string message = usage_error_of([] { build({"password=hunter2"}); });
    CHECK(contains(message, "parameter 'password': invalid value"));
    CHECK_FALSE(contains(message, "hunter2"));
  }
  SECTION("validation: pattern") {
    const std::string message = usage_error_of([] { build({"password=correct horse battery"}); });
    CHECK(contains(message, "parameter 'password': invalid value"));
    CHECK_FALSE(contains(message, "horse"));
  }
  SECTION("validation: maximum") {
    const std::string message = usage_error_of([] { build({"pin=123456"}); });
    CHECK_FALSE(contains(message, "123456"));
  }
  SECTION("nested writeOnly") {
    const std::string message = usage_error_of([] { build({R"(database={"secret": 123456789})"}); });
    CHECK(contains(message, "parameter 'database.secret': invalid value"));
    CHECK_FALSE(contains(message, "123456789"));
  }
  SECTION("from a params file") {
    TempDir dir;
    const fs::path file = dir.write("p.json", R"({"password": "tooshort"})");
    const std::string message = usage_error_of([&] { build({}, file); });
    CHECK_FALSE(contains(message, "tooshort"));
  }
}

TEST_CASE("errors about a value read through @env: never show it", "[params]") {
  ScopedEnv env("DIHYA_TEST_MODE", "topsecretmode");
  const std::string bad_type = usage_error_of([] { build({"count=@env:DIHYA_TEST_MODE"}); });
  CHECK(bad_type == "parameter 'count': invalid value (expected an integer)");
  const std::string not_allowed = usage_error_of([] { build({"mode=@env:DIHYA_TEST_MODE"}); });
  CHECK(contains(not_allowed, "parameter 'mode': invalid value"));
  CHECK_FALSE(contains(not_allowed, "topsecretmode"));
}

TEST_CASE("writeOnly parameters are reported as secret keys and values", "[params]") {
  const auto params = build({"password=Abcdefghijkl1", R"(database={"secret": "dbsecret"})"});
  CHECK(params.secret_keys == std::vector<std::string>{"database.secret", "password"});
  CHECK(std::find(params.secret_values.begin(), params.secret_values.end(), "Abcdefghijkl1") != params.secret_values.end());
  CHECK(std::find(params.secret_values.begin(), params.secret_values.end(), "dbsecret") != params.secret_values.end());
}

// ---------------------------------------------------------------- params files

TEST_CASE("params files are read as JSON or YAML by extension, else by content", "[params]") {
  TempDir dir;
  CHECK(dihya::host::load_params_file(dir.write("a.json", R"({"x": 1})")) == json({{"x", 1}}));
  CHECK(dihya::host::load_params_file(dir.write("a.yml", "x: 1\n")) == json({{"x", 1}}));
  CHECK(dihya::host::load_params_file(dir.write("a.conf", " {\"x\": 1}")) == json({{"x", 1}}));
  CHECK(dihya::host::load_params_file(dir.write("b.conf", "x: 1\n")) == json({{"x", 1}}));
  CHECK(dihya::host::load_params_file(dir.write("empty.yaml", "# nothing\n")) == json::object());
}

TEST_CASE("a params file whose top level is not an object is refused", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("list.yaml", "- 1\n- 2\n");
  CHECK(contains(usage_error_of([&] { dihya::host::load_params_file(file); }), "top level"));
}

TEST_CASE("an unreadable params file is named with the OS reason", "[params]") {
  const std::string message = usage_error_of([] { dihya::host::load_params_file("/nonexistent/p.json"); });
  CHECK(message == "params file /nonexistent/p.json: cannot open: No such file or directory");
  TempDir dir;
  CHECK(contains(usage_error_of([&] { dihya::host::load_params_file(dir.path()); }), "is a directory"));
}

TEST_CASE("a params file over 16 MiB is refused before it is read", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("big.json", "");
  fs::resize_file(file, 17 * 1024 * 1024);
  CHECK(contains(usage_error_of([&] { dihya::host::load_params_file(file); }), "larger than 16 MiB"));
}

TEST_CASE("a params file value of 5432.0 is accepted for an integer parameter", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("p.yaml", "port: 5432.0\n");
  const json values = build({}, file).values;
  CHECK(values["port"] == 5432);
  CHECK(values["port"].is_number_integer());
}

TEST_CASE("an unknown parameter in a params file names the file", "[params]") {
  TempDir dir;
  const fs::path file = dir.write("p.json", R"({"colour": "red"})");
  CHECK(contains(usage_error_of([&] { build({}, file); }), "unknown parameter 'colour' in params file"));
}

// ---------------------------------------------------------------- hostile input

TEST_CASE("invalid UTF-8 is refused with its byte offset and without the byte", "[params]") {
  const std::string bad = "{\"a\": \"x\xff\"}";
  SECTION("JSON") {
    const std::string message = usage_error_of([&] { dihya::host::parse_json_text(bad, "p.json"); });
    CHECK(message == "p.json: invalid UTF-8 at byte 9");
  }
  SECTION("YAML") {
    const std::string message = usage_error_of([] { dihya::host::parse_yaml_text("a: \xc3\x28", "p.yaml"); });
    CHECK(message == "p.yaml: invalid UTF-8 at byte 4");
  }
  SECTION("--param value") {
    const std::string message = usage_error_of([] { build({"name=ab\xed\xa0\x80"}); });
    CHECK(contains(message, "parameter 'name': value is not valid UTF-8"));
    CHECK(is_one_printable_line(message));
  }
  SECTION("--param name") {
    CHECK(is_one_printable_line(usage_error_of([] { build({"n\xc0\xafme=x"}); })));
  }
}

TEST_CASE("JSON nested 100000 deep is refused without a crash", "[params]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(usage_error_of([&] { dihya::host::parse_json_text(deep, "deep.json"); }) ==
        "deep.json: JSON nested deeper than 64 levels");
  const std::string deep_objects = [] {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += "{\"a\":";
    return text + "1" + std::string(100000, '}');
  }();
  CHECK(contains(usage_error_of([&] { dihya::host::parse_json_text(deep_objects, "deep.json"); }), "nested deeper"));
}

TEST_CASE("JSON nested exactly 64 deep is accepted", "[params]") {
  const std::string text = std::string(64, '[') + std::string(64, ']');
  CHECK(dihya::host::parse_json_text(text, "ok.json").is_array());
  const std::string one_more = std::string(65, '[') + std::string(65, ']');
  CHECK_THROWS_AS(dihya::host::parse_json_text(one_more, "deep.json"), HostError);
}

TEST_CASE("a YAML billion-laughs alias bomb is refused quickly", "[params]") {
  std::string bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    const char previous = static_cast<char>(level - 1);
    bomb += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? ", *" : "*") + previous;
    bomb += "]\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string message = usage_error_of([&] { dihya::host::parse_yaml_text(bomb, "bomb.yaml"); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(message == "bomb.yaml:6:8: more than 100000 nodes once aliases are expanded (alias bomb?)");
  CHECK(elapsed < std::chrono::seconds(2));
}

TEST_CASE("a YAML alias bomb of one large scalar is refused by its size", "[params]") {
  std::string text = "a: &a " + std::string(1024 * 1024, 'x') + "\nb: [";
  for (int i = 0; i < 100; ++i) text += i ? ", *a" : "*a";
  text += "]\n";
  CHECK(contains(usage_error_of([&] { dihya::host::parse_yaml_text(text, "big.yaml"); }), "alias bomb?"));
}

TEST_CASE("a YAML anchor that contains itself is refused", "[params]") {
  CHECK(usage_error_of([] { dihya::host::parse_yaml_text("&a [*a]", "cycle.yaml"); }) ==
        "cycle.yaml:1:5: an alias refers to a node that contains it");
}

TEST_CASE("a YAML alias cannot nest deeper than the limit", "[params]") {
  const std::string text = "a: &a " + std::string(40, '[') + std::string(40, ']') + "\nb: " + std::string(30, '[') +
                           "*a" + std::string(30, ']') + "\n";
  CHECK(contains(usage_error_of([&] { dihya::host::parse_yaml_text(text, "p.yaml"); }), "nested more than 64 levels"));
}

// yaml-cpp 0.7's LoadAll never returns on this input (found by fuzz_params).
TEST_CASE("a stray comma before the first YAML node is refused, not looped on", "[params]") {
  CHECK(usage_error_of([] { dihya::host::parse_yaml_text(",*a,*a]\nc: 1\n", "p.yaml"); }) ==
        "p.yaml:1:1: invalid YAML: unexpected character");
}

TEST_CASE("a YAML text with several documents is refused", "[params]") {
  CHECK(contains(usage_error_of([] { dihya::host::parse_yaml_text("--- 1\n--- 2\n", "p.yaml"); }), "more than one YAML document"));
}

TEST_CASE("YAML nested 1000 deep is refused", "[params]") {
  SECTION("flow") {
    const std::string deep = std::string(1000, '[') + std::string(1000, ']');
    CHECK(usage_error_of([&] { dihya::host::parse_yaml_text(deep, "deep.yaml"); }) ==
          "deep.yaml:1:65: nested more than 64 levels");
  }
  SECTION("block") {
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
    CHECK(contains(usage_error_of([&] { dihya::host::parse_yaml_text(deep, "deep.yaml"); }),
                   ": nested more than 64 levels"));
  }
}

TEST_CASE("malformed JSON is reported on one line without the input", "[params]") {
  const std::string message = usage_error_of([] { dihya::host::parse_json_text("{\"a\": tru\x01}", "p.json"); });
  CHECK(contains(message, "p.json: invalid JSON at byte"));
  CHECK(is_one_printable_line(message));
  CHECK_FALSE(contains(message, "json.exception"));
  CHECK_FALSE(contains(message, "tru"));
  CHECK(contains(usage_error_of([] { dihya::host::parse_json_text("{\"a\": 1,}", "p.json"); }), "expected string literal"));
  CHECK(contains(usage_error_of([] { dihya::host::parse_json_text("  ", "p.json"); }), "empty"));
}

TEST_CASE("malformed YAML is reported on one line with its position", "[params]") {
  const std::string message = usage_error_of([] { dihya::host::parse_yaml_text("a: [1,\n b: x\n", "p.yaml"); });
  CHECK(message == "p.yaml:3:1: invalid YAML: end of sequence flow not found");
  CHECK(usage_error_of([] { dihya::host::parse_yaml_text("a: [1,\n b: \"x\n", "p.yaml"); }) ==
        "p.yaml:2:5: invalid YAML: a quoted scalar has no closing quote");
  CHECK(is_one_printable_line(message));
  CHECK(contains(usage_error_of([] { dihya::host::parse_yaml_text("a: \x01", "p.yaml"); }), "control character"));
}

TEST_CASE("duplicate keys are refused in JSON and YAML", "[params]") {
  CHECK(usage_error_of([] { dihya::host::parse_json_text(R"({"a": 1, "a": 2})", "p.json"); }) ==
        "p.json: duplicate JSON key 'a'");
  CHECK(usage_error_of([] { dihya::host::parse_yaml_text("a: 1\na: 2\n", "p.yaml"); }) ==
        "p.yaml:2:1: duplicate key \"a\"");
  // The SDK's reader for plugins' files: the same refusal; the same key in
  // two objects, or at two depths, is no duplicate.
  std::string sdk_error;
  try {
    dihya::parse_json_limited(R"({"o": {"k": 1, "k\u0001": 2, "k": 3}})", 8);
  } catch (const dihya::Error& e) {
    sdk_error = e.what();
  }
  CHECK(sdk_error == "invalid JSON: duplicate key \"k\"");
  CHECK(dihya::parse_json_limited(R"({"k": {"k": 1}, "a": [{"k": 1}, {"k": 2}], "b": {"k": 2}})", 8).size() == 3);
}

TEST_CASE("YAML plain scalars become JSON types, quoted ones stay strings", "[params]") {
  const json values = dihya::host::parse_yaml_text(
      "n: 42\nhex: 0x1F\nf: 1.5\nt: true\nnil: ~\nyes_word: yes\ns: hello\nq: \"42\"\nsq: 'true'\n"
      "tagged: !!str 7\nblock: |\n  text\n",
      "p.yaml");
  CHECK(values["n"] == 42);
  CHECK(values["hex"] == 31);
  CHECK(values["f"] == Approx(1.5));
  CHECK(values["t"] == true);
  CHECK(values["nil"].is_null());
  CHECK(values["yes_word"] == "yes");
  CHECK(values["s"] == "hello");
  CHECK(values["q"] == "42");
  CHECK(values["sq"] == "true");
  CHECK(values["tagged"] == "7");
  CHECK(values["block"] == "text\n");
}

// Parameter files kept the text of an application tag until they shared the
// plugins' reader: a tag outside the core schema is now refused everywhere.
TEST_CASE("a YAML tag outside the core schema is refused with its place", "[params]") {
  CHECK(usage_error_of([] { dihya::host::parse_yaml_text("password: !secret x\n", "p.yaml"); }) ==
        "p.yaml:1:11: the tag !secret is not supported (only the YAML core schema's)");
  CHECK(dihya::host::parse_yaml_text("n: !!int 7\n", "p.yaml")["n"] == 7);  // the guard: a core tag is fine
}

TEST_CASE("YAML merge keys are applied, explicit keys winning", "[params]") {
  const json values = dihya::host::parse_yaml_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "p.yaml");
  CHECK(values["d"] == json({{"x", 1}, {"y", 3}}));
}

// ---------------------------------------------------------------- plugin schemas

TEST_CASE("a parameter schema must be a valid draft-07 object schema", "[params]") {
  using dihya::host::check_parameter_schema;
  CHECK_NOTHROW(check_parameter_schema(kSchema));
  CHECK(contains(usage_error_of([] { check_parameter_schema(json::array()); }), "plugin schema is invalid"));
  CHECK(contains(usage_error_of([] { check_parameter_schema({{"type", "string"}}); }), "\"type\" must be \"object\""));
  CHECK(contains(usage_error_of([] { check_parameter_schema(json::parse(R"({"type": "object", "properties": {"a": {"type": "strnig"}}})")); }),
                 "plugin schema is invalid"));
  CHECK(contains(usage_error_of([] { check_parameter_schema(json::parse(R"({"type": "object", "properties": {"a": {"pattern": "(("}}})")); }),
                 "not a valid regular expression"));
  CHECK(contains(usage_error_of([] { check_parameter_schema(json::parse(R"({"type": "object", "properties": {"a": {"$ref": "#/definitions/none"}}})")); }),
                 "plugin schema is invalid"));
}

// ---------------------------------------------------------------- redaction

TEST_CASE("connection string passwords are masked", "[params]") {
  using dihya::host::redact_connection_string;
  CHECK(redact_connection_string("postgresql://user:pass@host/db") == "postgresql://user:***@host/db");
  CHECK(redact_connection_string("postgres://u:p%40ss@h:5432/db?sslmode=require") == "postgres://u:***@h:5432/db?sslmode=require");
  CHECK(redact_connection_string("postgresql://user@host/db") == "postgresql://user@host/db");
  CHECK(redact_connection_string("host=x password=secret user=y") == "host=x password=*** user=y");
  CHECK(redact_connection_string("host=x password='quoted secret' user=y") == "host=x password=*** user=y");
  CHECK(redact_connection_string("host=x password = 'it\\'s' user=y") == "host=x password = *** user=y");
  CHECK(redact_connection_string("postgresql:///db?host=/tmp&password=abc&user=me") ==
        "postgresql:///db?host=/tmp&password=***&user=me");
  CHECK(redact_connection_string("no secrets here") == "no secrets here");
}

TEST_CASE("the Redactor masks every secret in text, longest first", "[params]") {
  dihya::host::Redactor redactor;
  redactor.add_secret("abc");
  redactor.add_secret("abcdef");
  redactor.add_secret("");
  CHECK(redactor.redact("x abcdef y abc z abcabc") == "x *** y *** z ******");
  CHECK(redactor.redact("nothing") == "nothing");
}

TEST_CASE("the Redactor masks a secret as it appears inside JSON", "[params]") {
  dihya::host::Redactor redactor;
  redactor.add_secret("pa\"ss");
  CHECK(redactor.redact(R"({"pw": "pa\"ss"})") == R"({"pw": "***"})");
}

TEST_CASE("the Redactor masks passwords of URLs inside log lines", "[params]") {
  const dihya::host::Redactor redactor;
  CHECK(redactor.redact("connecting to postgresql://app:hunter2@db/main now") ==
        "connecting to postgresql://app:***@db/main now");
}

TEST_CASE("redacted parameters hide writeOnly values and connection strings", "[params]") {
  const json values = {{"password", "Abcdefghijkl1"},
                       {"database", {{"host", "h"}, {"secret", "s"}}},
                       {"name", "postgresql://u:pw@h/db"},
                       {"count", 3}};
  const json redacted = dihya::host::redact_params(values, kSchema);
  CHECK(redacted["password"] == "***");
  CHECK(redacted["database"]["secret"] == "***");
  CHECK(redacted["database"]["host"] == "h");
  CHECK(redacted["name"] == "postgresql://u:***@h/db");
  CHECK(redacted["count"] == 3);

  dihya::host::Redactor redactor;
  redactor.add_secret("from-env");
  const json with_env = dihya::host::redact_params({{"name", "x from-env y"}}, kSchema, redactor);
  CHECK(with_env["name"] == "x *** y");
}

TEST_CASE("a YAML escape that decodes to invalid UTF-8 is a usage error", "[params]") {
  // Found by the fuzzer: the document is valid UTF-8, the decoded scalar is not.
  CHECK_THROWS_AS(dihya::host::parse_yaml_text("name: \"\\ud800\"\n", "p.yaml"), dihya::host::HostError);
}

TEST_CASE("plugin text shown on a terminal keeps its lines and tabs, escapes the rest", "[params]") {
  using dihya::host::printable_text;
  CHECK(printable_text("a\tb\nc\n") == "a\tb\nc\n");
  CHECK(printable_text("file \x1b]0;x\x07.json\r\n") == "file \\x1b]0;x\\x07.json\\x0d\n");
  CHECK(printable_text("caf\xc3\xa9 \xff") == "caf\xc3\xa9 \\xff");
  CHECK(printable_text("") == "");
}
