// SPDX-License-Identifier: AGPL-3.0-or-later
// The budgeted YAML loader of the SDK (sdk/include/dihya/yaml_file.hpp):
// scalar typing (a quoted scalar stays a string, YAML 1.2 floats are numbers,
// inf/nan/hex stay strings) and the budgets that stop alias bombs and depth.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include <unistd.h>

#include <dihya/yaml_file.hpp>

namespace {

nlohmann::json load(const std::string& text) {
  const std::string path = "/tmp/dihya-yaml-file-test-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << text;
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } remove{path};
  return dihya::load_yaml_file(path);
}

}  // namespace

TEST_CASE("YAML scalars get JSON types as YAML 1.2 would give them") {
  const auto j = load("i: 42\nneg: -7\nf: 0.5\ng: -.25\ne: 2e3\ns: '0.5'\nq: \"42\"\nb: true\nn: ~\n"
                      "inf: .inf\nnan: nan\nhex: 0x1F\noct: 0o17\nneghex: -0x1F\nbadoct: 0o19\nver: 1.2.3\nbig: 1e999\n"
                      "huge: 18446744073709551616\n");
  CHECK(j["i"] == 42);
  CHECK(j["neg"] == -7);
  CHECK(j["f"] == 0.5);
  CHECK(j["g"] == -0.25);
  CHECK(j["e"] == 2000.0);
  CHECK(j["s"] == "0.5");
  CHECK(j["q"] == "42");
  CHECK(j["b"] == true);
  CHECK(j["n"].is_null());
  CHECK(j["inf"] == ".inf");
  CHECK(j["nan"] == "nan");
  // The core schema's hexadecimal and octal integers (unsigned only), as the host's parameter files read them.
  CHECK(j["hex"] == 31);
  CHECK(j["oct"] == 15);
  CHECK(j["neghex"] == "-0x1F");
  CHECK(j["badoct"] == "0o19");
  CHECK(j["huge"] == 18446744073709551616.0);
  CHECK(j["ver"] == "1.2.3");
  CHECK(j["big"] == "1e999");
}

TEST_CASE("alias bombs and deep nesting are refused with one line") {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
    prev = c;
  }
  CHECK_THROWS_WITH(load(bomb), Catch::Contains("more than 100000 nodes"));
  CHECK_THROWS_WITH(load(std::string(200, '[') + std::string(200, ']')), Catch::Contains("nested"));
}

TEST_CASE("YAML 1.2 core booleans and nulls in every spelling, and nothing else", "[yaml]") {
  const auto j = load("a: TRUE\nb: False\nc: NULL\nd: Null\ne:\nf: yes\ng: on\nh: +5\ni: -9223372036854775808\n"
                      "j: 18446744073709551615\nk: +.5\nl: 1.\n");
  CHECK(j["a"] == true);
  CHECK(j["b"] == false);
  CHECK(j["c"].is_null());
  CHECK(j["d"].is_null());
  CHECK(j["e"].is_null());
  CHECK(j["f"] == "yes");  // YAML 1.1 booleans are strings in 1.2
  CHECK(j["g"] == "on");
  CHECK(j["h"] == 5);
  CHECK(j["i"] == std::numeric_limits<std::int64_t>::min());
  CHECK(j["j"] == std::numeric_limits<std::uint64_t>::max());
  CHECK(j["k"] == 0.5);
  CHECK(j["l"] == 1.0);
}

TEST_CASE("a duplicate key is refused with its line, not silently overwritten", "[yaml]") {
  CHECK_THROWS_WITH(load("name: a\nkeep: 1\nname: b\n"), Catch::Contains("duplicate key \"name\" (line 3)"));
  CHECK_THROWS_WITH(load("outer:\n  x: 1\n  x: 2\n"), Catch::Contains("duplicate key \"x\" (line 3)"));
  // The guard: the same keys in two different maps are fine.
  CHECK(load("a:\n  x: 1\nb:\n  x: 2\n")["b"]["x"] == 2);
}

TEST_CASE("tags other than !!str, non-string keys and several documents are refused", "[yaml]") {
  CHECK(load("s: !!str 42\n")["s"] == "42");
  CHECK_THROWS_WITH(load("n: !!int 42\n"), Catch::Contains("tag tag:yaml.org,2002:int is not supported (line 1)"));
  CHECK_THROWS_WITH(load("? [a, b]\n: 1\n"), Catch::Contains("a key is not a string (line 1)"));
  CHECK_THROWS_WITH(load("a: 1\n---\nb: 2\n"), Catch::Contains("expected one YAML document"));
}

TEST_CASE("a stray comma at the start is an error, not a hang", "[yaml]") {
  CHECK_THROWS_AS(dihya::load_yaml_text(",x", "spec.yaml"), dihya::Error);
}

TEST_CASE("invalid YAML names the file, line and column", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: [1, 2\n", "policy.yaml"), Catch::StartsWith("policy.yaml:") &&
                                                                           Catch::Contains(": invalid YAML: "));
}

TEST_CASE("the string budget stops an alias bomb of long strings", "[yaml]") {
  dihya::YamlLimits limits;
  limits.max_string_bytes = 1000;
  const std::string text = "a: &a " + std::string(400, 'x') + "\nb: [*a, *a, *a]\n";
  CHECK_THROWS_WITH(dihya::load_yaml_text(text, "t.yaml", limits), Catch::Contains("more than 1000 bytes of strings"));
  CHECK(dihya::load_yaml_text(text, "t.yaml")["b"].size() == 3);
}
