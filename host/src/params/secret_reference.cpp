// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/secret_reference.hpp"

#include <cstdlib>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"
#include "util/text.hpp"

namespace dihya::host {

void check_reference_form(std::string_view text, const std::string& origin) {
  if (starts_with(text, "@env:")) {
    const std::string_view variable = text.substr(5);
    if (variable.empty()) throw usage_error(origin + ": @env: needs the name of an environment variable");
    // No variable is named with '=' or a NUL: such a reference never resolves.
    if (variable.find_first_of(std::string_view("=\0", 2)) != std::string_view::npos) {
      throw usage_error(origin + ": @env:" + printable(variable, 100) + ": not a name an environment variable can have");
    }
  }
  if (starts_with(text, "@file:") && text.size() == 6) throw usage_error(origin + ": @file: needs a path");
}

std::optional<SecretReference> read_secret_reference(std::string_view text, const std::string& origin,
                                                     std::size_t max_file_bytes) {
  if (starts_with(text, "@@")) return SecretReference{std::string(text.substr(1)), false};
  check_reference_form(text, origin);
  if (starts_with(text, "@env:")) {
    const std::string variable(text.substr(5));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) throw usage_error(origin + ": environment variable " + printable(variable) + " is not set");
    if (find_invalid_utf8(value)) {
      throw usage_error(origin + ": environment variable " + printable(variable) + " is not valid UTF-8");
    }
    return SecretReference{value, true};
  }
  if (starts_with(text, "@file:")) {
    const std::string file(text.substr(6));
    const std::string what = origin + ": @file:" + printable(file, 200);
    std::string content = read_text_file(file, max_file_bytes, what);
    if (!content.empty() && content.back() == '\n') content.pop_back();
    if (!content.empty() && content.back() == '\r') content.pop_back();
    if (find_invalid_utf8(content)) throw usage_error(what + ": is not valid UTF-8 text");
    return SecretReference{std::move(content), true};
  }
  return std::nullopt;
}

std::string resolve_secret_reference(const std::string& text, const std::string& origin) {
  std::optional<SecretReference> reference = read_secret_reference(text, origin, 64 * 1024);
  return reference ? std::move(reference->text) : text;
}

}  // namespace dihya::host
