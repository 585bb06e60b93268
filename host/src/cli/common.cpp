// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "errors.hpp"
#include "config/settings.hpp"
#include "loading/plugin_file.hpp"
#include "util/memory_size.hpp"
#include "util/printable.hpp"

namespace dihya::host {

std::optional<po::variables_map> parse_command(const Args& args, CommandSpec& spec) {
  spec.options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(spec.options).add(spec.hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(spec.positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: " << spec.usage << "\n\n" << spec.description << "\n\n" << spec.options << "\n"
                << exit_codes_help();
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::required_option& e) {
    // A positional argument is a hidden option to Boost, which named it
    // ("the option '--target' is required"): say what it stands for.
    std::string name = e.get_option_name();
    name.erase(0, name.find_first_not_of('-'));
    const auto* option = spec.hidden.find_nothrow(name, false);
    if (option == nullptr) throw usage_error(fmt::format("{} (usage: {})", e.what(), usage_line(spec)));
    throw usage_error(fmt::format("the {} is missing (usage: {})", option->description(), usage_line(spec)));
  } catch (const po::error& e) {
    throw usage_error(fmt::format("{} (usage: {})", e.what(), usage_line(spec)));
  }
  // No option or argument means anything empty: `--out ""` would be the
  // working directory, `--state-dir ""` no directory at all.
  for (const auto& [key, value] : vm) {
    const auto* text = boost::any_cast<std::string>(&value.value());
    if (text == nullptr || !text->empty() || value.defaulted()) continue;
    const auto* option = all.find_nothrow(key, false);
    if (option == nullptr || option->semantic()->max_tokens() == 0) continue;  // a switch: --dry-run
    bool positional = false;
    for (unsigned i = 0; i < spec.positional.max_total_count() && i < 8; ++i) {
      positional = positional || spec.positional.name_for_position(i) == key;
    }
    throw usage_error(fmt::format("{}{}: empty value (usage: {})", positional ? "" : "--", key, usage_line(spec)));
  }
  return vm;
}

std::string usage_line(const CommandSpec& spec) {
  std::string line;
  std::size_t at = 0;
  for (;;) {
    const std::size_t end = spec.usage.find('\n', at);
    const std::string part = spec.usage.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const std::size_t text = part.find_first_not_of(' ');
    if (text != std::string::npos) line += (line.empty() ? "" : " or ") + part.substr(text);
    if (end == std::string::npos) return line;
    at = end + 1;
  }
}

void add_plugin_argument(CommandSpec& spec) {
  spec.hidden.add_options()("plugin", po::value<std::string>()->required(), "plugin name or path");
  spec.positional.add("plugin", 1);
}

void add_run_id_argument(CommandSpec& spec) {
  spec.hidden.add_options()("run-id", po::value<std::string>()->required(), "run id");
  spec.positional.add("run-id", 1);
}

void print_table(const std::vector<std::vector<std::string>>& raw_rows) {
  // Cells may quote hostile names (a schedule's, a file's): one line each,
  // never a control sequence for the terminal.
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& raw : raw_rows) {
    auto& row = rows.emplace_back();
    for (const auto& cell : raw) row.push_back(printable(cell, std::string::npos));
  }
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

bool stderr_is_interactive() {
  const char* no_color = std::getenv("NO_COLOR");
  return ::isatty(2) == 1 && (no_color == nullptr || *no_color == '\0');
}

bool can_prompt() { return ::isatty(0) == 1 && ::isatty(2) == 1; }

std::chrono::milliseconds checked_seconds(double seconds, const std::string& flag) {
  if (!valid_timeout_seconds(seconds)) {
    throw usage_error(fmt::format("{}: expected a number of seconds from 0.001 to {}", flag, kMaxTimeoutSeconds));
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

std::optional<std::chrono::milliseconds> seconds_option(const po::variables_map& vm, const char* key,
                                                        const nlohmann::json& metadata, const char* metadata_key) {
  double seconds = 0;
  if (vm.count(key)) {
    seconds = vm[key].as<double>();
  } else if (metadata.contains(metadata_key) && metadata[metadata_key].is_number()) {
    seconds = metadata[metadata_key].get<double>();
  } else {
    return std::nullopt;
  }
  return checked_seconds(seconds, std::string("--") + key);
}

void add_memory_option(CommandSpec& spec) {
  spec.options.add_options()("memory-max", po::value<std::string>(),
                             "most memory the plugin may hold: 512M, 4G or off (default: memory_max in the config, "
                             "else half the RAM)");
}

Settings with_memory_option(const Settings& settings, const po::variables_map& vm) {
  Settings s = settings;
  if (vm.count("memory-max") == 0) return s;
  const std::string& text = vm["memory-max"].as<std::string>();
  const auto bytes = parse_memory_size(text);
  if (!bytes) {
    throw usage_error(fmt::format("--memory-max '{}': {}", printable(text, 40), kMemorySizeExpected));
  }
  if (s.memory_ceiling != 0 && (*bytes == 0 || *bytes > s.memory_ceiling)) {
    throw usage_error(fmt::format("--memory-max {}: above the system config's memory_max of {}; nothing was run", text,
                                  memory_size_text(s.memory_ceiling)));
  }
  s.memory_max = *bytes;
  return s;
}

void check_since(const std::string& since) {
  // Each field: its position in "2026-11-25T10:00:00", its width and range.
  struct Field {
    std::size_t at;
    std::size_t width;
    int low;
    int high;
    char before;
  };
  static const Field kFields[] = {{0, 4, 0, 9999, 0},  {5, 2, 1, 12, '-'}, {8, 2, 1, 31, '-'},
                                  {11, 2, 0, 23, 'T'}, {14, 2, 0, 59, ':'}, {17, 2, 0, 60, ':'}};
  const auto bad = [&since]() {
    return usage_error(fmt::format("--since '{}': expected an ISO-8601 UTC time such as 2026-11-25, "
                                   "2026-11-25T10:00 or 2026-11-25T10:00:00Z", printable(since)));
  };
  std::size_t end = 0;
  for (const Field& f : kFields) {
    if (f.at > 0 && (since.size() <= end || since[end] != f.before)) break;
    if (since.size() < f.at + f.width) throw bad();
    int value = 0;
    for (std::size_t i = f.at; i < f.at + f.width; ++i) {
      if (since[i] < '0' || since[i] > '9') throw bad();
      value = value * 10 + (since[i] - '0');
    }
    if (value < f.low || value > f.high) throw bad();
    end = f.at + f.width;
  }
  if (end >= 10) {  // a day the month has: not 2026-02-30
    const int year = std::stoi(since.substr(0, 4));
    const int month = std::stoi(since.substr(5, 2));
    const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (std::stoi(since.substr(8, 2)) > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) throw bad();
  }
  if (end == 19 && end < since.size() && since[end] == '.') {
    std::size_t digits = 0;
    while (end + 1 < since.size() && since[end + 1] >= '0' && since[end + 1] <= '9' && digits < 9) {
      ++end;
      ++digits;
    }
    if (digits == 0) throw bad();
    ++end;
  }
  if (end < since.size() && since[end] == 'Z' && end >= 13) ++end;
  if (end != since.size()) throw bad();
}

const char* exit_codes_help() {
  return "Exit codes:\n"
         "  0    ok\n"
         "  1    the run failed (or: audit tampered, cluster not running)\n"
         "  2    usage or validation error; nothing was changed\n"
         "  3    the plugin could not be loaded (or is untrusted, or its signature is refused)\n"
         "  4    the run timed out\n"
         "  5    the run failed and was rolled back\n"
         "  130  interrupted (Ctrl-C)\n";
}

}  // namespace dihya::host
