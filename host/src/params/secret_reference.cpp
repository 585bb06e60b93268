// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/secret_reference.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"

namespace dihya::host {

std::string resolve_secret_reference(const std::string& text, const std::string& origin) {
  if (text.rfind("@@", 0) == 0) return text.substr(1);
  if (text.rfind("@env:", 0) == 0) {
    const std::string name = text.substr(5);
    if (name.empty()) throw usage_error(fmt::format("{}: @env: needs the name of an environment variable", origin));
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      throw usage_error(fmt::format("{}: environment variable {} is not set", origin, printable(name)));
    }
    return value;
  }
  if (text.rfind("@file:", 0) == 0) {
    const std::string path = text.substr(6);
    if (path.empty()) throw usage_error(fmt::format("{}: @file: needs a path", origin));
    std::string content = read_text_file(path, 64 * 1024, fmt::format("{}: @file:{}", origin, printable(path, 200)));
    if (!content.empty() && content.back() == '\n') content.pop_back();
    if (!content.empty() && content.back() == '\r') content.pop_back();
    return content;
  }
  return text;
}

}  // namespace dihya::host
