// SPDX-License-Identifier: AGPL-3.0-or-later
// A plugin schema's regular expressions ("pattern", "patternProperties") and
// formats, checked without std::regex: a value of any length and a pattern
// that makes a backtracking engine try 2^40 ways both end in one message, at
// once. The semantics are draft-07's (ECMA-262 patterns, `$` at the very end).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "params/param_builder.hpp"
#include "params/schema_pattern.hpp"

namespace {

using dihya::host::HostError;
using dihya::host::schema_pattern_matches;
using dihya::host::schema_pattern_problem;
using nlohmann::json;

// The one-line usage error `run` throws; "" when it throws none.
template <typename Run>
std::string refusal_of(Run&& run) {
  try {
    run();
  } catch (const HostError& error) {
    CHECK(error.exit_code() == dihya::host::kExitUsage);
    return error.what();
  }
  return "";
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Times `run`: what backtracked for ever must now take no time to speak of.
template <typename Run>
double seconds_of(Run&& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const json kRegexSchema = json::parse(R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "word":   {"type": "string", "pattern": "^(a+)+$"},
    "name":   {"type": "string", "maxLength": 54, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "day":    {"type": "string", "format": "date"},
    "at":     {"type": "string", "format": "date-time"},
    "clock":  {"type": "string", "format": "time"},
    "labels": {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}, "^x": {"minimum": 10}},
               "additionalProperties": false},
    "names":  {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
    "schema": {"type": "string", "not": {"anyOf": [{"pattern": "^pg_"}, {"const": "information_schema"}]}}
  }
})");

std::string build_refusal(const std::vector<std::string>& args) {
  return refusal_of([&] { dihya::host::build_params(kRegexSchema, args, std::nullopt); });
}

}  // namespace

TEST_CASE("a schema pattern matches as draft-07 says", "[params]") {
  CHECK(schema_pattern_matches("^[a-z]+$", "abc"));
  CHECK_FALSE(schema_pattern_matches("^[a-z]+$", "abc\n"));  // PCRE's `$` would accept it
  CHECK(schema_pattern_matches("[0-9]", "abc7"));            // a search, not a whole match
  CHECK(schema_pattern_matches("", "anything"));
  CHECK(schema_pattern_matches("x*", "abc"));
  CHECK(schema_pattern_matches("^$", ""));
  CHECK(schema_pattern_matches("a[$]b", "a$b"));
  CHECK(schema_pattern_matches("a\\$b", "a$b"));
  CHECK(schema_pattern_matches("^a[^]c$", "a\nc"));
  CHECK(schema_pattern_matches("^[[:a]+$", "[:a"));  // '[' in a class is a literal, not a POSIX class
  CHECK(schema_pattern_matches("^a{2,3}$", "aaa"));
  CHECK_FALSE(schema_pattern_matches("^a{2,3}$", "aaaa"));
  CHECK(schema_pattern_matches("^a{,3}$", "a{,3}"));  // not a quantifier: literal braces
  CHECK(schema_pattern_matches(std::string("^a\0b$", 5), std::string("a\0b", 3)));
}

TEST_CASE("a pattern is matched in linear time, whatever the text", "[params]") {
  const std::string forty = std::string(40, 'a') + "!";
  bool matched = true;
  CHECK(seconds_of([&] { matched = schema_pattern_matches("^(a+)+$", forty); }) < 1.0);
  CHECK_FALSE(matched);
  const std::string long_text(16 * 1024 * 1024, 'a');
  CHECK(seconds_of([&] { matched = schema_pattern_matches("^[A-Za-z_][A-Za-z0-9_]*$", long_text); }) < 2.0);
  CHECK(matched);
}

TEST_CASE("a pattern that needs backtracking or would compile for seconds is a schema error", "[params]") {
  CHECK(schema_pattern_problem("^[0-9]{1,30}([._][0-9]{1,30}){0,15}$").empty());  // migrate_data's version
  CHECK(schema_pattern_problem("^(a+)+$").empty());
  CHECK(mentions(schema_pattern_problem("^(?!pg_)[a-z]+$"), "no lookaround"));
  CHECK(mentions(schema_pattern_problem("(?<=a)b"), "not supported"));
  CHECK(mentions(schema_pattern_problem("(a)\\1"), "no backreferences"));
  CHECK(mentions(schema_pattern_problem("(("), "Missing close parenthesis"));
  CHECK(mentions(schema_pattern_problem(".{10000}x"), "too many to compile quickly"));
  CHECK(mentions(schema_pattern_problem("(.{100}){100}"), "too many to compile quickly"));
  CHECK(mentions(schema_pattern_problem("[]"), "never matches"));
  CHECK(mentions(schema_pattern_problem(std::string(5000, 'a')), "longer than"));

  const std::string lookahead = refusal_of([] {
    dihya::host::check_parameter_schema(json::parse(R"({"type": "object", "properties": {"s": {"pattern": "^(?!pg_)x"}}})"));
  });
  CHECK(mentions(lookahead, "plugin schema is invalid: pattern '^(?!pg_)x' is not a valid regular expression here"));
  CHECK(mentions(lookahead, "no lookaround"));
  const std::string key = refusal_of([] {
    dihya::host::check_parameter_schema(json::parse(R"({"type": "object", "patternProperties": {"(a)\\1": {}}})"));
  });
  CHECK(mentions(key, "patternProperties key '(a)\\1'"));
  // valijson matches a "$ref" against a URN with std::regex, once per
  // character: this one overflowed the stack.
  const std::string ref = refusal_of([] {
    const json schema = {{"type", "object"}, {"properties", {{"x", {{"$ref", "urn:ab:" + std::string(100000, 'b')}}}}}};
    dihya::host::check_parameter_schema(schema);
  });
  CHECK(mentions(ref, "$ref is longer than 1024 bytes"));
  CHECK_NOTHROW(dihya::host::compile_parameter_patterns(kRegexSchema));
}

TEST_CASE("a value of any length under a pattern is one message, never a crash", "[params]") {
  for (const std::size_t length : {20000u, 50000u, 1000000u}) {
    CHECK(build_refusal({"name=" + std::string(length, 'a')}) == "parameter 'name': must be at most 54 characters long");
  }
  const json long_values = {{"name", std::string(1000000, 'a')}};
  CHECK(refusal_of([&] { dihya::host::build_params_from_values(kRegexSchema, long_values); }) ==
        "parameter 'name': must be at most 54 characters long");
  const std::string digits(50000, '1');
  CHECK(build_refusal({"day=" + digits + "-01-01"}).empty());  // any number of year digits
  CHECK(mentions(build_refusal({"day=" + digits + "-13-01"}), "is not a valid date"));
  CHECK(build_refusal({"at=2024-01-01T10:00:00." + digits + "Z"}).empty());
  CHECK(mentions(build_refusal({"clock=10:00:00." + digits + "x"}), "is not a valid time"));
}

TEST_CASE("a pattern that backtracks for ever elsewhere refuses a value at once", "[params]") {
  std::string message;
  const double took = seconds_of([&] { message = build_refusal({"word=" + std::string(40, 'a') + "!"}); });
  CHECK(took < 1.0);
  CHECK(message == "parameter 'word': '" + std::string(40, 'a') + "!' does not match the pattern ^(a+)+$");
  CHECK(build_refusal({"word=aaaa"}).empty());
  // A key: patternProperties run on every key of an object.
  const std::string key = std::string(40, 'a') + "!";
  CHECK(seconds_of([&] { message = build_refusal({"labels={\"" + key + "\": 1}"}); }) < 1.0);
  CHECK(mentions(message, "unknown parameter 'labels." + key.substr(0, 10)));
  const std::string long_key(100000, 'a');
  CHECK(mentions(build_refusal({"labels={\"" + long_key + "\": \"x\"}"}), "expected an integer"));
  CHECK(build_refusal({"labels={\"" + long_key + "\": 1}"}).empty());
}

TEST_CASE("patternProperties, propertyNames, not and formats keep their draft-07 meaning", "[params]") {
  CHECK(build_refusal({R"(labels={"aa": 1, "xy": 12})"}).empty());
  CHECK(build_refusal({R"(labels={"xy": 3})"}) == "parameter 'labels.xy': 3 is less than minimum 10");
  CHECK(mentions(build_refusal({R"(labels={"b": 1})"}), "unknown parameter 'labels.b'"));
  CHECK(build_refusal({R"(names={"abc": 1})"}).empty());
  CHECK(!build_refusal({R"(names={"ABC": 1})"}).empty());
  CHECK(build_refusal({"schema=public"}) == "");
  CHECK(build_refusal({"schema=pg_catalog"}) ==
        "parameter 'schema': 'pg_catalog' must not match the pattern ^pg_ or be 'information_schema'");
  CHECK(mentions(build_refusal({"schema=information_schema"}), "must not match the pattern ^pg_ or be"));
  CHECK(build_refusal({"day=2024-02-29"}).empty());
  CHECK(mentions(build_refusal({"day=2024-02-30"}), "is not a valid date"));
  CHECK(mentions(build_refusal({"day=2024-04-31"}), "is not a valid date"));
  CHECK(mentions(build_refusal({"day=2024-13-01"}), "is not a valid date"));
  CHECK(build_refusal({"at=2024-07-18T16:52:45.5+02:00"}).empty());
  CHECK(build_refusal({"at=2024-07-18t16:52:45z"}).empty());
  CHECK(mentions(build_refusal({"at=2024-07-18 16:52:45Z"}), "is not a valid date-time"));
  CHECK(build_refusal({"clock=23:59:60Z"}).empty());
  CHECK(mentions(build_refusal({"clock=24:00:00Z"}), "is not a valid time"));
  CHECK(mentions(build_refusal({"clock=10:00:00"}), "is not a valid time"));
}
