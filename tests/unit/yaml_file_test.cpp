// SPDX-License-Identifier: AGPL-3.0-or-later
// The project's one YAML reader (sdk/include/dihya/yaml_file.hpp), which the
// host's parameter files and every plugin use: scalar typing by the YAML 1.2
// core schema, tags, keys, merge keys, documents, hostile bytes, and the
// budgets that stop alias bombs and deep nesting, each refusal one line with
// its place.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include <sys/stat.h>
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
  CHECK_THROWS_WITH(load(bomb), Catch::EndsWith(": more than 100000 nodes once aliases are expanded (alias bomb?)"));
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
  CHECK_THROWS_WITH(load("name: a\nkeep: 1\nname: b\n"), Catch::EndsWith(":3:1: duplicate key \"name\""));
  CHECK_THROWS_WITH(load("outer:\n  x: 1\n  x: 2\n"), Catch::EndsWith(":3:3: duplicate key \"x\""));
  CHECK_THROWS_WITH(dihya::load_yaml_text("{a: 1, a: 2}", "f.yaml"), "f.yaml:1:8: duplicate key \"a\"");
  // The guard: the same keys in two different maps are fine.
  CHECK(load("a:\n  x: 1\nb:\n  x: 2\n")["b"]["x"] == 2);
}

TEST_CASE("the core schema's tags are honoured, any other tag is refused with its place", "[yaml]") {
  const auto j = load("s: !!str 42\ni: !!int 0x10\nf: !!float 3\nb: !!bool TRUE\nn: !!null ~\nq: ! 42\n"
                      "l: !!seq [1]\nm: !!map {a: 1}\n");
  CHECK(j["s"] == "42");
  CHECK(j["i"] == 16);
  CHECK(j["f"] == 3);
  CHECK(j["b"] == true);
  CHECK(j["n"].is_null());
  CHECK(j["q"] == "42");  // the non-specific tag: a string
  CHECK(j["l"] == nlohmann::json::array({1}));
  CHECK(j["m"]["a"] == 1);
  const auto refused = [](const std::string& text) { return [text] { dihya::load_yaml_text(text, "t.yaml"); }; };
  CHECK_THROWS_WITH(refused("n: !!int 4x\n")(), "t.yaml:1:4: the value does not match its tag !!int");
  CHECK_THROWS_WITH(refused("b: !!bool yes\n")(), "t.yaml:1:4: the value does not match its tag !!bool");
  CHECK_THROWS_WITH(refused("a: 1\np: !secret x\n")(),
                    "t.yaml:2:4: the tag !secret is not supported (only the YAML core schema's)");
  CHECK_THROWS_WITH(refused("x: !!binary aGk=\n")(), Catch::StartsWith("t.yaml:1:4: the tag !!binary is not supported"));
  CHECK_THROWS_WITH(refused("s: !!set {a}\n")(), Catch::StartsWith("t.yaml:1:4: the tag !!set is not supported"));
  CHECK_THROWS_WITH(refused("l: !!map [1]\n")(), Catch::StartsWith("t.yaml:1:4: the tag !!map is not supported"));
  CHECK_THROWS_WITH(refused("!!int 1: x\n")(), "t.yaml:1:1: a mapping key cannot have the tag !!int");
}

TEST_CASE("mapping keys are strings; null, list and mapping keys are refused", "[yaml]") {
  const auto j = load("1: a\ntrue: b\n");
  CHECK(j["1"] == "a");
  CHECK(j["true"] == "b");
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: 1\n~: c\n", "t.yaml"), "t.yaml:2:1: a mapping key is null; keys must be strings");
  CHECK_THROWS_WITH(dihya::load_yaml_text("? [a, b]\n: 1\n", "t.yaml"),
                    "t.yaml:1:3: a mapping key is a list or a mapping; keys must be strings");
  CHECK_THROWS_WITH(dihya::load_yaml_text("{null: 1}", "t.yaml"), "t.yaml:1:2: a mapping key is null; keys must be strings");
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: &l [1]\n*l : 2\n", "t.yaml"), "t.yaml:2:1: a mapping key must be a string");
  CHECK(dihya::load_yaml_text("a: &k name\n*k : 2\n", "t.yaml")["name"] == 2);
}

TEST_CASE("one document: several are refused, an empty text is null", "[yaml]") {
  CHECK_THROWS_WITH(load("a: 1\n---\nb: 2\n"), Catch::EndsWith(": more than one YAML document (expected one)"));
  CHECK(load("").is_null());
  CHECK(load("# only a comment\n").is_null());
  CHECK(load("---\na: 1\n...\n")["a"] == 1);
}

TEST_CASE("merge keys copy the keys a mapping does not write itself", "[yaml]") {
  const auto j = dihya::load_yaml_text(
      "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\n"
      "one:\n  <<: *a\n  y: 3\n"
      "two: {<<: [*a, *b], w: 4}\n"
      "inline: {<<: {k: v}}\n"
      "quoted: {\"<<\": 5}\n",
      "m.yaml");
  CHECK(j["one"] == nlohmann::json({{"x", 1}, {"y", 3}}));
  CHECK(j["two"] == nlohmann::json({{"x", 1}, {"y", 1}, {"z", 2}, {"w", 4}}));  // the earlier source wins
  CHECK(j["inline"]["k"] == "v");
  CHECK(j["quoted"]["<<"] == 5);  // a quoted "<<" is an ordinary key
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: {<<: 1}\n", "m.yaml"),
                    "m.yaml:1:9: the merge key '<<' needs a mapping or a list of mappings");
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: {<<: [{x: 1}, 2]}\n", "m.yaml"), Catch::Contains("needs a mapping"));
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: {<<: {x: 1}, <<: {y: 2}}\n", "m.yaml"),
                    "m.yaml:1:17: duplicate key \"<<\"");
}

TEST_CASE("an alias inside the node it names is refused", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("&a [*a]", "c.yaml"), "c.yaml:1:5: an alias refers to a node that contains it");
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: *nowhere\n", "c.yaml"), Catch::StartsWith("c.yaml:1:4: invalid YAML: "));
}

TEST_CASE("bytes YAML does not allow are refused with their offset, never echoed", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: \xc3\x28", "b.yaml"), "b.yaml: invalid UTF-8 at byte 4");
  CHECK_THROWS_WITH(dihya::load_yaml_text(std::string("a: x\0y", 7), "b.yaml"), "b.yaml: a control character at byte 5");
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: \x1b[2J", "b.yaml"), "b.yaml: a control character at byte 4");
  // An escape naming a lone surrogate would decode to bytes that are not UTF-8.
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: \"\\ud800\"\n", "b.yaml"), Catch::StartsWith("b.yaml:1:"));
  // Escapes that decode to NUL: a value or key cut short where it is used.
  for (const char* text : {"a: \"x\\0y\"\n", "a: \"x\\x00\"\n", "a: \"\\u0000\"\n", "\"k\\0\": 1\n", "{\"a\": \"\\u0000\"}"}) {
    CHECK_THROWS_WITH(dihya::load_yaml_text(text, "b.yaml"), Catch::Contains("a scalar decodes to a NUL character"));
  }
  // The guard: tabs, CRLF and non-ASCII text are fine.
  CHECK(dihya::load_yaml_text("a:\t\"caf\xc3\xa9\"\r\nb: 1\r\n", "b.yaml")["a"] == "caf\xc3\xa9");
}

TEST_CASE("a hostile name or key reaches the message escaped, on one line", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: [", "x\n\x1b]0;t\x07.yaml"), Catch::StartsWith("x\\n\\x1b]0;t\\x07.yaml:"));
  CHECK_THROWS_WITH(dihya::load_yaml_text("\"k\\e\\u0085\": 1\n\"k\\e\\u0085\": 2\n", "d.yaml"),
                    "d.yaml:2:1: duplicate key \"k\\x1b\\xc2\\x85\"");
  const std::string long_key(300, 'k');
  const std::string message = [&] {
    try {
      dihya::load_yaml_text(long_key + ": 1\n" + long_key + ": 2\n", "d.yaml");
    } catch (const dihya::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  CHECK(message.size() < 120);
  CHECK_THAT(message, Catch::EndsWith("...\""));
}

TEST_CASE("64 containers one inside the other are accepted, 65 are not", "[yaml]") {
  CHECK(dihya::load_yaml_text(std::string(64, '[') + std::string(64, ']'), "d.yaml").is_array());
  CHECK_THROWS_WITH(dihya::load_yaml_text(std::string(65, '[') + std::string(65, ']'), "d.yaml"),
                    "d.yaml:1:65: nested more than 64 levels");
  // An alias counts the containers it brings.
  const std::string text = "a: &a " + std::string(40, '[') + std::string(40, ']') + "\nb: " + std::string(30, '[') +
                           "*a" + std::string(30, ']') + "\n";
  CHECK_THROWS_WITH(dihya::load_yaml_text(text, "d.yaml"), Catch::Contains("nested more than 64 levels"));
  // Block nesting 1000 deep stops at the limit, not in yaml-cpp's recursion guard.
  std::string block;
  for (int i = 0; i < 1000; ++i) block += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
  CHECK_THROWS_WITH(dihya::load_yaml_text(block, "d.yaml"), Catch::Contains(": nested more than 64 levels"));
}

TEST_CASE("a stray comma at the start is an error, not a hang", "[yaml]") {
  CHECK_THROWS_AS(dihya::load_yaml_text(",x", "spec.yaml"), dihya::Error);
}

TEST_CASE("invalid YAML names the file, line and column", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("a: 1\nb: [1, 2\n", "policy.yaml"),
                    "policy.yaml:3:1: invalid YAML: end of sequence flow not found");
}

TEST_CASE("the string budget stops an alias bomb of long strings", "[yaml]") {
  dihya::YamlLimits limits;
  limits.max_string_bytes = 1000;
  const std::string text = "a: &a " + std::string(400, 'x') + "\nb: [*a, *a, *a]\n";
  CHECK_THROWS_WITH(dihya::load_yaml_text(text, "t.yaml", limits), "t.yaml:2:9: more than 1000 bytes of strings once aliases are expanded (alias bomb?)");
  CHECK(dihya::load_yaml_text(text, "t.yaml")["b"].size() == 3);
}

TEST_CASE("load_yaml_file reads only a regular file of at most 4 MiB", "[yaml]") {
  const std::string dir = "/tmp/dihya-yaml-file-test-dir-" + std::to_string(::getpid());
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  struct Remove {
    std::string d;
    ~Remove() {
      std::remove((d + "/fifo").c_str());
      std::remove((d + "/big.yaml").c_str());
      std::remove((d + "/ok.yaml").c_str());
      ::rmdir(d.c_str());
    }
  } remove{dir};
  std::ofstream(dir + "/ok.yaml") << "a: 1\n";
  CHECK(dihya::load_yaml_file(dir + "/ok.yaml")["a"] == 1);  // the guard for the refusals below
  CHECK_THROWS_WITH(dihya::load_yaml_file(dir + "/missing.yaml"),
                    dir + "/missing.yaml: not a readable file (No such file or directory)");
  CHECK_THROWS_WITH(dihya::load_yaml_file(dir), dir + ": not a readable file");
  REQUIRE(::mkfifo((dir + "/fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(dihya::load_yaml_file(dir + "/fifo"), dir + "/fifo: not a readable file");  // not waited on
  std::ofstream(dir + "/big.yaml") << "a: " << std::string(4u << 20, 'x') << "\n";
  CHECK_THROWS_WITH(dihya::load_yaml_file(dir + "/big.yaml"), dir + "/big.yaml: larger than 4 MiB");
}

TEST_CASE("a quoted scalar left open is refused, not read to the end of the text", "[yaml]") {
  CHECK_THROWS_WITH(dihya::load_yaml_text("name: Ada\nurl: \"abc\nmode: fast\n", "p.yaml"),
                    "p.yaml:2:6: invalid YAML: a quoted scalar has no closing quote");
  CHECK_THROWS_WITH(dihya::load_yaml_text("name: 'Ada\n", "p.yaml"),
                    "p.yaml:1:7: invalid YAML: a quoted scalar has no closing quote");
  // The guards: escaped quotes, '' in single quotes, a quoted scalar over
  // several lines and a block scalar are read as YAML says.
  const auto doc = dihya::load_yaml_text("a: \"x\\\"y\"\nb: 'it''s'\nc: \"one\n  two\"\nd: |\n  \"open\n", "p.yaml");
  CHECK(doc["a"] == "x\"y");
  CHECK(doc["b"] == "it's");
  CHECK(doc["c"] == "one two");
  CHECK(doc["d"] == "\"open\n");
  CHECK(dihya::load_yaml_text("&k \"key\": &v 'val'\n", "p.yaml")["key"] == "val");
}
