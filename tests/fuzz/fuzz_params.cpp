// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the parameter parsers: whatever bytes an operator can
// put in a params file or a --param value, parse_json_text and parse_yaml_text
// must return a value or throw a usage error. Any other exception, a crash, a
// hang or a sanitizer report is a bug. Connection-string redaction runs on the
// same bytes since log lines reach it unfiltered, and one_line() must leave no
// line break in any message. The same bytes as a plugin schema's pattern are
// refused or translated for vectorscan, and a short one is matched.
//
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -DVALIJSON_USE_EXCEPTIONS=1 \
//     -Ihost/src -Isdk/include tests/fuzz/fuzz_params.cpp host/src/params/*.cpp host/src/util/printable.cpp \
//     -lyaml-cpp -lhs -o fuzz_params
//   ./fuzz_params -max_total_time=60 -rss_limit_mb=4096 corpus/
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"
#include "params/redaction.hpp"
#include "params/schema_pattern.hpp"

namespace {

// A parsed value must be usable everywhere the host uses one.
void exercise(const nlohmann::json& value) {
  const nlohmann::json copy = nlohmann::json::parse(value.dump());
  if (!(copy == value)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    exercise(dihya::host::parse_json_text(text, "fuzz.json"));
  } catch (const dihya::host::HostError&) {
  }
  try {
    exercise(dihya::host::parse_yaml_text(text, "fuzz.yaml"));
  } catch (const dihya::host::HostError&) {
  }
  // Compiling takes up to milliseconds: only short patterns are, so that the
  // parsers above still get most of the run.
  const std::string pattern(text);
  if (dihya::host::schema_pattern_problem(pattern).empty() && size <= 16) {
    try {
      (void)dihya::host::schema_pattern_matches(pattern, text);
    } catch (const dihya::host::HostError&) {
    }
  }
  // Messages from libraries are joined into one line before they are shown.
  const std::string line = dihya::host::one_line(text);
  if (line.find_first_of("\r\n") != std::string::npos) __builtin_trap();
  dihya::host::Redactor redactor;
  redactor.add_secret(std::string(text.substr(0, 8)));
  // A multi-line secret (its lines are secrets too) and the URL passwords as written.
  redactor.add_secret(std::string(text.substr(size / 2, 40)));
  for (auto& spelling : dihya::host::password_spellings(text)) redactor.add_secret(std::move(spelling));
  const std::string whole = redactor.redact(text);
  // The stream form, fed in pieces of 7 bytes, masks at least what the whole does.
  std::string pending;
  std::string streamed;
  for (std::size_t i = 0; i < size; i += 7) {
    pending.append(text.substr(i, 7));
    const std::size_t done = redactor.redact_prefix(pending, false, &streamed);
    if (done > pending.size()) __builtin_trap();
    pending.erase(0, done);
  }
  redactor.redact_prefix(pending, true, &streamed);
  if (dihya::host::redact_connection_string(streamed) != whole) __builtin_trap();
  return 0;
}
