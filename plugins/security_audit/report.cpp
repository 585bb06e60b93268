// SPDX-License-Identifier: AGPL-3.0-or-later
#include "report.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace security_audit {
namespace {

// Display width of UTF-8 text (counts code points; good enough for a table).
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, std::size_t w) { return s + std::string(w > width(s) ? w - width(s) : 0, ' '); }

const char* sarif_level(Severity s) {
  switch (s) {
    case Severity::critical:
    case Severity::high: return "error";
    case Severity::medium: return "warning";
    default: return "note";
  }
}

// GitHub code scanning ranks security results by this CVSS-like number.
const char* security_severity(Severity s) {
  switch (s) {
    case Severity::critical: return "9.5";
    case Severity::high: return "8.0";
    case Severity::medium: return "5.5";
    case Severity::low: return "3.0";
    default: return "0.0";
  }
}

// RFC 3986: keep unreserved characters and '/', percent-encode the rest.
std::string uri_encode(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string severity_counts(const std::vector<Finding>& findings) {
  std::map<int, std::size_t, std::greater<int>> counts;
  for (const auto& f : findings) ++counts[static_cast<int>(f.severity)];
  std::string out;
  for (const auto& [sev, n] : counts) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + severity_name(static_cast<Severity>(sev));
  }
  return out;
}

std::string text_report(const AuditSummary& audit) {
  std::string out;
  if (audit.findings.empty()) {
    out += "no findings\n";
  } else {
    std::size_t wr = 4;
    std::size_t wl = 8;
    for (const auto& f : audit.findings) {
      wr = std::max(wr, width(f.rule));
      wl = std::max(wl, std::min<std::size_t>(width(location(f)), 70));
    }
    out += pad("SEVERITY", 9) + "  " + pad("RULE", wr) + "  " + pad("LOCATION", wl) + "  EVIDENCE\n";
    for (const auto& f : audit.findings) {
      out += pad(severity_name(f.severity), 9) + "  " + pad(f.rule, wr) + "  " + pad(location(f), wl) + "  " +
             f.evidence + "\n";
      out += std::string(11, ' ') + f.message + "\n";
      out += std::string(11, ' ') + "fix: " + f.fix + "\n";
    }
  }
  for (const auto& n : audit.notes) out += "note: " + n + "\n";
  if (audit.not_examined > 0) {
    out += "INCOMPLETE: " + std::to_string(audit.not_examined) +
           " path(s) could not be examined (notes above); the findings do not cover them\n";
  }
  if (audit.suppressed_baseline + audit.suppressed_allow > 0) {
    out += "suppressed: " + std::to_string(audit.suppressed_baseline) + " by the baseline, " +
           std::to_string(audit.suppressed_allow) + " by the allow list\n";
  }
  return out;
}

nlohmann::json json_report(const AuditSummary& audit) {
  nlohmann::json findings = nlohmann::json::array();
  std::map<std::string, std::size_t> counts{{"critical", 0}, {"high", 0}, {"medium", 0}, {"low", 0}, {"info", 0}};
  for (const auto& f : audit.findings) {
    findings.push_back(to_json(f));
    ++counts[severity_name(f.severity)];
  }
  nlohmann::json scanned = audit.scanned;
  scanned["not_examined"] = audit.not_examined;
  return {{"checks", audit.checks_run},
          {"complete", audit.not_examined == 0},
          {"findings", findings},
          {"counts", counts},
          {"notes", audit.notes},
          {"suppressed", {{"baseline", audit.suppressed_baseline}, {"allow", audit.suppressed_allow}}},
          {"scanned", scanned}};
}

nlohmann::json sarif_report(const AuditSummary& audit, const std::string& root, const std::vector<RuleInfo>& rules,
                            const std::string& version) {
  nlohmann::json driver_rules = nlohmann::json::array();
  std::map<std::string, std::size_t> index;
  auto add_rule = [&](const std::string& id, const std::string& title, const std::string& help, Severity sev) {
    if (index.count(id) != 0) return;
    index[id] = driver_rules.size();
    driver_rules.push_back({{"id", id},
                            {"name", id},
                            {"shortDescription", {{"text", title}}},
                            {"help", {{"text", help.empty() ? title : help}}},
                            {"defaultConfiguration", {{"level", sarif_level(sev)}}},
                            {"properties", {{"tags", nlohmann::json::array({"security"})}, {"security-severity", security_severity(sev)}}}});
  };
  for (const auto& f : audit.findings) add_rule(f.rule, f.title, f.fix, f.severity);
  for (const auto& r : rules) add_rule(r.id, r.title, "", r.severity);

  nlohmann::json results = nlohmann::json::array();
  for (const auto& f : audit.findings) {
    nlohmann::json location = nlohmann::json::object();
    if (!f.path.empty()) {
      nlohmann::json physical = {{"artifactLocation", {{"uri", uri_encode(f.path)}, {"uriBaseId", "SRCROOT"}}}};
      if (f.line > 0) physical["region"] = {{"startLine", f.line}, {"startColumn", std::max(f.column, 1)}};
      location["physicalLocation"] = physical;
    }
    if (!f.object.empty()) location["logicalLocations"] = nlohmann::json::array({{{"name", f.object}, {"kind", f.check}}});
    results.push_back({{"ruleId", f.rule},
                       {"ruleIndex", index[f.rule]},
                       {"level", sarif_level(f.severity)},
                       {"message", {{"text", f.message + " (" + f.evidence + "). Fix: " + f.fix}}},
                       {"locations", nlohmann::json::array({location})},
                       {"partialFingerprints", {{"dihyaFingerprint/v1", f.fingerprint}}},
                       {"properties", {{"severity", severity_name(f.severity)}, {"check", f.check}}}});
  }
  std::string base = root;
  if (base.empty() || base.back() != '/') base += '/';
  nlohmann::json run = {
      {"tool", {{"driver", {{"name", kSarifDriverName}, {"version", version}, {"semanticVersion", version},
                            {"rules", driver_rules}}}}},
      {"originalUriBaseIds", {{"SRCROOT", {{"uri", "file://" + uri_encode(base)}}}}},
      {"results", results},
      {"columnKind", "utf16CodeUnits"}};
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"}, {"version", "2.1.0"}, {"runs", nlohmann::json::array({run})}};
}

}  // namespace security_audit
