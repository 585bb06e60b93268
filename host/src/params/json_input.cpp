// SPDX-License-Identifier: AGPL-3.0-or-later
// Parsing of operator-written parameter input (JSON, YAML, files) with hard
// budgets on size, depth and alias expansion, and one-line messages that never
// echo raw input bytes. YAML is the SDK's reader (dihya/yaml_file.hpp), the
// one the plugins use, with the parameter file's budgets.
#include "params/json_input.hpp"
#include "util/printable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <set>
#include <system_error>
#include <vector>

#include <dihya/error.hpp>
#include <dihya/yaml_file.hpp>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

std::string os_reason(int error) { return std::generic_category().message(error); }

std::string size_text(std::size_t bytes) {
  constexpr std::size_t kMiB = 1024 * 1024;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// ---------------------------------------------------------------- JSON

// Thrown from inside the nlohmann parser callback; never leaves this file.
struct JsonTooDeep {};
struct JsonDuplicateKey {
  std::string key;
};

// Token names nlohmann puts after "; expected ": fixed texts, never input.
bool is_token_name(std::string_view name) {
  static const std::set<std::string_view> kNames = {
      "<uninitialized>", "true literal", "false literal", "null literal", "string literal",
      "number literal",  "'['",          "'{'",           "']'",          "'}'",
      "':'",             "','",          "<parse error>", "end of input", "'[', '{', or a literal",
      "unknown token"};
  return kNames.count(name) > 0;
}

// nlohmann's what() reads "[json.exception.parse_error.101] parse error at
// line 1, column 5: syntax error while parsing value - invalid literal; last
// read: 'tru'; expected ...". The "last read" part quotes the input, so it is
// cut; the prefix is noise. What remains is the reason proper.
std::string json_parse_reason(const std::string& what) {
  std::string_view text(what);
  if (text.find("attempting to parse an empty input") != std::string_view::npos) return "empty input";
  const auto column = text.find(", column ");
  if (column != std::string_view::npos) {
    const auto colon = text.find(": ", column);
    if (colon != std::string_view::npos) text.remove_prefix(colon + 2);
  }
  const auto dash = text.find(" - ");
  std::string_view context;
  if (text.substr(0, dash).find("syntax error") == 0 && dash != std::string_view::npos) {
    context = text.substr(0, dash);
    text.remove_prefix(dash + 3);
  }
  std::string expected;
  const auto expected_at = text.rfind("; expected ");
  if (expected_at != std::string_view::npos &&
      is_token_name(text.substr(expected_at + std::string_view("; expected ").size()))) {
    expected = std::string(text.substr(expected_at));
  }
  const auto last_read = text.find("; last read: ");
  if (last_read != std::string_view::npos) {
    text = text.substr(0, last_read);
  } else if (!expected.empty()) {
    text = text.substr(0, expected_at);
  }
  std::string reason(text);
  constexpr std::string_view kWhileParsing = "syntax error while parsing ";
  if (context.substr(0, kWhileParsing.size()) == kWhileParsing && context != "syntax error while parsing value") {
    reason += " in " + std::string(context.substr(kWhileParsing.size()));
  }
  return reason + expected;
}

// "line 3, column 7" from nlohmann's what(), or empty when absent.
std::string json_line_column(const std::string& what) {
  const auto at = what.find("at line ");
  if (at == std::string::npos) return {};
  const auto end = what.find(':', at);
  if (end == std::string::npos) return {};
  return what.substr(at + 3, end - at - 3);
}

void check_text(std::string_view text, const std::string& where, const char* format) {
  if (text.size() > kMaxInputBytes) {
    throw usage_error(where + ": " + format + " text is larger than " + size_text(kMaxInputBytes));
  }
  if (auto bad = find_invalid_utf8(text)) {
    throw usage_error(where + ": invalid UTF-8 at byte " + std::to_string(*bad + 1));
  }
}

}  // namespace

std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes, const std::string& what) {
  // O_NONBLOCK: a FIFO without a writer must be refused, not waited for.
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (file.get() < 0) throw usage_error(what + ": cannot open: " + os_reason(errno));
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) throw usage_error(what + ": cannot read: " + os_reason(errno));
  if (S_ISDIR(info.st_mode)) throw usage_error(what + ": is a directory, not a file");
  if (!S_ISREG(info.st_mode)) throw usage_error(what + ": is not a regular file (a FIFO, socket or device)");
  const std::string too_large = what + ": is larger than " + size_text(max_bytes);
  if (S_ISREG(info.st_mode) && static_cast<std::uintmax_t>(info.st_size) > max_bytes) throw usage_error(too_large);
  // Read until EOF rather than trusting st_size: /proc files report 0.
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(file.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw usage_error(what + ": cannot read: " + os_reason(errno));
    if (got == 0) break;
    if (text.size() + static_cast<std::size_t>(got) > max_bytes) throw usage_error(too_large);
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

nlohmann::json parse_json_text(std::string_view text, const std::string& origin) {
  const std::string where = printable(origin, 200);
  check_text(text, where, "JSON");
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) throw usage_error(where + ": empty JSON text");
  // The callback runs while the value is being built, so a too-deep input
  // stops before anything (dump, copy, ==) can recurse through it.
  std::vector<std::set<std::string>> keys_seen;
  const json::parser_callback_t limit = [&keys_seen](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth) throw JsonTooDeep{};
        if (event == json::parse_event_t::object_start) keys_seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys_seen.empty() && parsed.is_string() &&
            !keys_seen.back().insert(parsed.get_ref<const std::string&>()).second) {
          throw JsonDuplicateKey{parsed.get<std::string>()};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.data(), text.data() + text.size(), limit);
  } catch (const JsonTooDeep&) {
    throw usage_error(where + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  } catch (const JsonDuplicateKey& duplicate) {
    throw usage_error(where + ": duplicate JSON key '" + printable(duplicate.key) + "'");
  } catch (const json::parse_error& error) {
    const std::string what = error.what();
    std::string position = "at byte " + std::to_string(error.byte);
    const std::string line_column = json_line_column(what);
    if (!line_column.empty()) position += " (" + line_column + ")";
    throw usage_error(printable(where + ": invalid JSON " + position + ": " + json_parse_reason(what), 400));
  } catch (const json::out_of_range&) {
    throw usage_error(where + ": invalid JSON: a number is too large");
  } catch (const json::exception& error) {
    // Not expected from parse(); keep only the category, never the detail.
    throw usage_error(where + ": invalid JSON (error " + std::to_string(error.id) + ")");
  }
}

nlohmann::json parse_yaml_text(std::string_view text, const std::string& origin) {
  const std::string where = printable(origin, 200);
  check_text(text, where, "YAML");
  dihya::YamlLimits limits;
  limits.max_nodes = kMaxYamlNodes;
  limits.max_string_bytes = kMaxYamlExpandedBytes;
  limits.max_depth = kMaxDepth;
  try {
    return dihya::load_yaml_text(text, where, limits);
  } catch (const dihya::Error& error) {
    throw usage_error(error.what());
  }
}

nlohmann::json load_params_file(const std::filesystem::path& path) {
  const std::string shown = printable(path.string(), 200);
  const std::string text = read_text_file(path, kMaxInputBytes, "params file " + shown);
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool as_json = extension == ".json";
  if (extension != ".json" && extension != ".yaml" && extension != ".yml") {
    std::string_view body(text);
    if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte order mark
    const auto first = body.find_first_not_of(" \t\r\n");
    as_json = first != std::string_view::npos && body[first] == '{';
  }
  json values = as_json ? parse_json_text(text, shown) : parse_yaml_text(text, shown);
  if (!as_json && values.is_null()) return json::object();  // a YAML file with nothing (or only comments) in it
  if (!values.is_object()) {
    throw usage_error(shown + ": the top level must map parameter names to values, not be " +
                      (values.is_array() ? "a list" : "a single value"));
  }
  return values;
}

}  // namespace dihya::host
