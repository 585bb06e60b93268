// SPDX-License-Identifier: AGPL-3.0-or-later
// The template document shared by import_templates and generate_project
// (sdk/support/include/dihya/template_format.hpp): what it accepts, what it refuses
// and why, and that the canonical text and checksum ignore key order.
#include <catch2/catch.hpp>

#include <dihya/template_format.hpp>

namespace {

using nlohmann::json;
namespace tpl = dihya::templates;

json minimal() {
  return json::parse(R"({"name": "flask-api", "version": "1.2.3-rc.1", "stack": "flask",
    "description": "d", "tags": ["backend"],
    "variables": {"port": {"type": "integer", "default": 5000, "description": "p"}},
    "files": {"{{#features.docker}}flask-api/Dockerfile{{/features.docker}}": "FROM x",
              "flask-api/app.py": "port = {{var.port}}"},
    "per_resource": {"flask-api/tests/test_{{name}}.py": "x"}})");
}

std::string rejection(const json& doc) {
  try {
    tpl::validate_template(doc, "t.json");
  } catch (const dihya::Error& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("a well-formed template is accepted, mustache spans in paths are opaque") {
  CHECK(rejection(minimal()) == "accepted");
}

TEST_CASE("each broken rule is refused with the field that broke it") {
  auto with = [](const char* pointer, json value) {
    auto doc = minimal();
    doc[json::json_pointer(pointer)] = std::move(value);
    return rejection(doc);
  };
  CHECK(with("/name", "Flask API") == R"(t.json: "name" must be lower-case letters, digits, '.', '_' or '-' (at most 64))");
  CHECK(with("/version", "1.0") == R"(t.json: "version" must be a version MAJOR.MINOR.PATCH[-pre])");
  CHECK(with("/files/..~1etc~1passwd", "x") == R"(t.json: files["../etc/passwd"]: path leaves the template (..))");
  CHECK(with("/files/~1abs", "x") == R"(t.json: files["/abs"]: absolute path)");
  CHECK(with("/files/a\\b", "x") == R"(t.json: files["a\\b"]: backslash in path (use /))");
  CHECK(with("/files/a~1~1b", "x") == R"(t.json: files["a//b"]: empty path component)");
  CHECK(with("/files/{{x", "x") == R"(t.json: files["{{x"]: unclosed {{ in path)");
  CHECK(with("/files/a{{\x1b]0;t\x07}}.py", "x") == R"(t.json: files["a{{\u001b]0;t\u0007}}.py"]: control character in path)");
  CHECK(with("/files/ok", 1) == R"(t.json: files["ok"]: content must be a string)");
  CHECK(with("/variables/port/type", "float") ==
        R"(t.json: variables["port"]: "type" must be string, integer, number or boolean)");
  CHECK(with("/variables/port/default", "5000") == R"(t.json: variables["port"]: "default" is not a integer)");
  CHECK(with("/variables/port/maximum", 65535) == "accepted");
  CHECK(with("/variables/port/maximum", 1024) == R"(t.json: variables["port"]: "default" is outside its minimum and maximum)");
  CHECK(with("/variables/port/minimum", "1") == R"(t.json: variables["port"]: "minimum" must be a number)");
  CHECK(with("/variables/name", json{{"type", "string"}, {"maximum", 3}}) ==
        R"(t.json: variables["name"]: "maximum" is for an integer or a number)");
  CHECK(with("/variables/tag", json{{"type", "string"}, {"default", "3.11"}, {"format", "tag"}}) == "accepted");
  CHECK(with("/variables/tag", json{{"type", "string"}, {"default", "16: x"}, {"format", "tag"}}) ==
        R"(t.json: variables["tag"]: "default" is not a tag)");
  CHECK(with("/variables/tag", json{{"type", "string"}, {"format", "semver"}}) ==
        R"(t.json: variables["tag"]: "format" must be "tag")");
  CHECK(with("/variables/port/format", "tag") == R"(t.json: variables["port"]: "format" is for a string)");
  CHECK(with("/evil", true).find("unknown key \"evil\"") != std::string::npos);
  CHECK(with("/description", std::string("\xff\xfe")) == "t.json: a string is not valid UTF-8");
  CHECK(with("/description", std::string("a\0b", 3)) == "t.json: a string holds a NUL character");
}

TEST_CASE("a tag variable holds a version or an image tag, nothing that ends a YAML or Dockerfile value") {
  const json tag = {{"type", "string"}, {"format", "tag"}};
  for (const char* good : {"16", "3.11", "3.11-slim", "0.8.24", "lts_2024", "A1"}) {
    CHECK(tpl::detail::has_format(tag, good));
  }
  for (const char* bad : {"", "16: x", "16 #x", "16#x", "-1", ".hidden", "a/b", "1;2"}) {
    CHECK_FALSE(tpl::detail::has_format(tag, bad));
  }
  CHECK(tpl::detail::has_format(tag, std::string(128, 'a')));
  CHECK_FALSE(tpl::detail::has_format(tag, std::string(129, 'a')));
  CHECK(tpl::detail::has_format(json{{"type", "string"}}, "16: x"));  // no format: the generic checks apply
}

TEST_CASE("limits: files, sizes, nesting") {
  tpl::Limits small;
  small.max_entries = 2;
  small.max_file_bytes = 4;
  auto doc = minimal();
  doc["files"]["x"] = "12345";
  try {
    tpl::validate_template(doc, "t.json", small);
    FAIL("accepted");
  } catch (const dihya::Error& e) {
    CHECK(std::string(e.what()).find("larger than 4 bytes") != std::string::npos);
  }
  json deep = "leaf";
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  doc = minimal();
  doc["tags"] = deep;
  CHECK(rejection(doc) == "t.json: nested more than 64 levels");
}

TEST_CASE("rendered paths are checked on their own") {
  std::string why;
  CHECK(tpl::safe_relative_path("a/b.txt", &why));
  CHECK_FALSE(tpl::safe_relative_path("a/../../b", &why));
  CHECK(why == "path leaves the template (..)");
  CHECK_FALSE(tpl::safe_relative_path("a/./b", &why));
  CHECK_FALSE(tpl::safe_relative_path("a\nb", &why));
  CHECK(why == "control character in path");
  CHECK_FALSE(tpl::safe_relative_path(std::string(256, 'a'), &why));
  CHECK(why == "path component longer than 255 bytes");
}

TEST_CASE("UTF-8: overlong forms, surrogates and truncation are invalid") {
  CHECK(tpl::valid_utf8("caf\xc3\xa9 \xe2\xb5\x8e\xf0\x9f\x98\x80"));
  CHECK_FALSE(tpl::valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(tpl::valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(tpl::valid_utf8("\xe2\xb5"));          // truncated
  CHECK_FALSE(tpl::valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST_CASE("canonical text and checksum do not depend on key order") {
  const auto a = json::parse(R"({"b": 1, "a": {"y": 2, "x": 3}})");
  const auto b = json::parse(R"({"a": {"x": 3, "y": 2}, "b": 1})");
  CHECK(tpl::canonical(a) == tpl::canonical(b));
  CHECK(tpl::checksum(a) == tpl::checksum(b));
  CHECK(tpl::checksum(a).size() == 64);
  CHECK(tpl::checksum(a) != tpl::checksum(json::parse(R"({"b": 2, "a": {"y": 2, "x": 3}})")));
}
