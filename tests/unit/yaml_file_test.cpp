// SPDX-License-Identifier: AGPL-3.0-or-later
// The budgeted YAML loader of the SDK (sdk/include/dihya/yaml_file.hpp):
// scalar typing (a quoted scalar stays a string, YAML 1.2 floats are numbers,
// inf/nan/hex stay strings) and the budgets that stop alias bombs and depth.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
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
                      "inf: .inf\nnan: nan\nhex: 0x1F\nver: 1.2.3\nbig: 1e999\n");
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
  CHECK(j["hex"] == "0x1F");
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
