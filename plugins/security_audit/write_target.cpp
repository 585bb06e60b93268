// SPDX-License-Identifier: AGPL-3.0-or-later
#include "write_target.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <dihya/error.hpp>
#include <nlohmann/json.hpp>

#include "finding.hpp"
#include "report.hpp"

namespace security_audit {
namespace {

namespace fs = std::filesystem;

// Our biggest reports (SARIF, ~1 KB a finding) stay far below this; a larger
// file is not one of ours, and reading it to find out is not worth it.
constexpr std::uintmax_t kMaxOwnFileBytes = 256u << 20;

// `file` (which may not exist) with its directory's symlinks resolved lies at
// or below `dir`.
bool lies_within(const fs::path& file, const fs::path& dir) {
  std::error_code ec;
  const fs::path real_dir = fs::canonical(dir, ec);
  if (ec) return false;
  fs::path real_file = fs::canonical(file.has_parent_path() ? file.parent_path() : fs::path("."), ec);
  if (ec) return false;
  real_file /= file.filename();
  return std::mismatch(real_dir.begin(), real_dir.end(), real_file.begin(), real_file.end()).first == real_dir.end();
}

// obj[key] when it is a string, else "" (hostile files hold anything anywhere).
std::string string_field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
  return obj[key].get<std::string>();
}

// A text report: our title line, or the first line reports had before it
// ("no findings", or the table's header).
bool is_text_report(const std::string& first_line) {
  return first_line.rfind(kTextReportTitle, 0) == 0 || first_line == "no findings" ||
         first_line.rfind("SEVERITY   RULE ", 0) == 0;
}

bool is_json_report(const nlohmann::json& doc) {
  for (const char* key : {"checks", "findings", "counts", "suppressed", "scanned"}) {
    if (!doc.contains(key)) return false;
  }
  return !doc.contains("tool") || doc["tool"] == kToolName;
}

bool is_sarif_report(const nlohmann::json& doc) {
  if (string_field(doc, "version") != "2.1.0" || !doc.contains("runs") || !doc["runs"].is_array() || doc["runs"].empty()) {
    return false;
  }
  const auto& run = doc["runs"][0];
  if (!run.is_object() || !run.contains("tool") || !run["tool"].is_object() || !run["tool"].contains("driver")) return false;
  return string_field(run["tool"]["driver"], "name") == kSarifDriverName;
}

bool is_baseline(const nlohmann::json& doc) {
  return string_field(doc, "tool") == kToolName && doc.contains("generated_at") && doc.contains("findings") &&
         !doc.contains("checks");
}

// What an existing regular file is: one of ours of `kind`, or why it is not.
std::string not_own_file(const fs::path& file, WrittenFile kind) {
  const char* what = kind == WrittenFile::report ? "security_audit report" : "security_audit baseline";
  const std::string refused = printable(file.string()) + " exists and is not a " + what +
                              ": the audit replaces only its own; remove the file or give another path";
  std::ifstream in(file, std::ios::binary);
  if (!in) return printable(file.string()) + " exists and cannot be read (" + std::strerror(errno) + "): give another path";
  std::string first(256, '\0');
  in.read(first.data(), static_cast<std::streamsize>(first.size()));
  first.resize(static_cast<std::size_t>(in.gcount()));
  first = first.substr(0, first.find('\n'));
  if (kind == WrittenFile::report && is_text_report(first)) return "";
  if (first.find_first_not_of(" \t\r") == std::string::npos || first[first.find_first_not_of(" \t\r")] != '{') {
    return refused;
  }
  nlohmann::json doc;
  try {
    doc = read_json_file(file, kMaxOwnFileBytes, 64);
  } catch (const dihya::Error&) {
    return refused;
  }
  if (!doc.is_object()) return refused;
  const bool report = is_json_report(doc) || is_sarif_report(doc);
  const bool baseline = is_baseline(doc);
  if (kind == WrittenFile::report ? report : baseline) return "";
  // One must never replace the other: a report written over the baseline loses what it suppressed.
  if (report || baseline) {
    return printable(file.string()) + " is a security_audit " + (baseline ? "baseline" : "report") + ", not a " +
           (baseline ? "report" : "baseline") + ": give another path";
  }
  return refused;
}

}  // namespace

std::string refusal_to_write(const fs::path& file, WrittenFile kind, const fs::path& audited) {
  if (!audited.empty() && lies_within(file, audited)) {
    return printable(file.string()) + " is inside the audited tree " + printable(audited.string()) +
           ", which the audit only reads: give a path outside it";
  }
  std::error_code ec;
  const auto status = fs::symlink_status(file, ec);
  if (ec || status.type() == fs::file_type::not_found) return "";
  if (status.type() != fs::file_type::regular) {
    return printable(file.string()) + " exists and is not a regular file: give another path";
  }
  return not_own_file(file, kind);
}

}  // namespace security_audit
