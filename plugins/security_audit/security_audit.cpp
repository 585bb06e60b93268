// SPDX-License-Identifier: AGPL-3.0-or-later
// security_audit: runs the chosen checks, drops what the baseline and the
// allow list suppress, then renders the rest (text, JSON, SARIF). It changes
// nothing but its own report and baseline files, written atomically.
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <pqxx/pqxx>

#include "checks.hpp"
#include "finding.hpp"
#include "ignore_rules.hpp"
#include "report.hpp"
#include "secrets.hpp"
#include "write_target.hpp"

namespace security_audit {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxBaselineBytes = 64u << 20;

struct Options {
  std::set<std::string> checks;
  bool checks_given = false;
  fs::path root;
  std::string mode;
  std::string format;
  std::optional<fs::path> output;
  int fail_on = 99;
  std::vector<std::string> exclude;
  bool gitignore = true;
  std::uint64_t max_file_size = 0;
  std::optional<fs::path> baseline;
  nlohmann::json allow;
  unsigned threads = 1;
  std::optional<fs::path> advisories;
  std::vector<fs::path> plugin_dirs;
};

std::optional<fs::path> optional_path(const dihya::Params& params, const char* key) {
  if (!params.has(key)) return std::nullopt;
  return fs::path(params.get<std::string>(key));
}

Options read_options(const dihya::Params& params, const dihya::Context& ctx) {
  Options o;
  if (params.has("checks")) {
    o.checks_given = true;
    for (const auto& c : params.get<std::vector<std::string>>("checks")) o.checks.insert(c);
  }
  o.root = fs::path(params.get_or<std::string>("path", "."));
  o.mode = params.get_or<std::string>("mode", "scan");
  o.format = params.get_or<std::string>("format", "text");
  o.output = optional_path(params, "output");
  parse_severity(params.get_or<std::string>("fail_on", "none"), o.fail_on);
  o.exclude = params.get_or<std::vector<std::string>>("exclude", {});
  o.gitignore = params.get_or<bool>("gitignore", true);
  o.max_file_size = static_cast<std::uint64_t>(params.get_or<long long>("max_file_size", 10485760));
  o.baseline = optional_path(params, "baseline");
  o.allow = params.get_or<nlohmann::json>("allow", nlohmann::json::array());
  const auto threads = params.get_or<long long>("threads", 0);
  o.threads = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
  o.advisories = optional_path(params, "advisories");
  for (const auto& d : params.get_or<std::vector<std::string>>("plugin_dirs", {})) o.plugin_dirs.emplace_back(d);
  if (!o.checks_given) {
    o.checks = {"secrets", "permissions"};
    if (!ctx.database_url().empty()) o.checks.insert("postgres");
    if (o.advisories) o.checks.insert("dependencies");
  }
  return o;
}

bool needs_tree(const Options& o) {
  return o.checks.count("secrets") + o.checks.count("permissions") + o.checks.count("dependencies") > 0;
}

fs::path report_file(const Options& o, const dihya::Context& ctx) {
  if (o.output) return *o.output;
  return ctx.output_dir() / (o.format == "sarif" ? "security_audit.sarif" : "security_audit.json");
}

fs::path baseline_file(const Options& o, const dihya::Context& ctx) {
  return o.baseline ? *o.baseline : ctx.output_dir() / "security_audit.baseline.json";
}

// The fingerprints of a baseline written by mode=baseline (or a bare list).
std::set<std::string> read_baseline(const fs::path& file) {
  const auto doc = read_json_file(file, kMaxBaselineBytes, 8);
  const nlohmann::json* list = &doc;
  if (doc.is_object() && doc.contains("findings")) list = &doc["findings"];
  if (!list->is_array()) throw dihya::Error("security_audit: " + file.string() + " is not a baseline (no findings list)");
  std::set<std::string> out;
  for (const auto& item : *list) {
    if (item.is_string()) out.insert(item.get<std::string>());
    if (item.is_object() && item.contains("fingerprint") && item["fingerprint"].is_string()) {
      out.insert(item["fingerprint"].get<std::string>());
    }
  }
  return out;
}

bool allowed(const nlohmann::json& allow, const Finding& f) {
  for (const auto& a : allow) {
    if (a.contains("rule") && a["rule"].get<std::string>() != f.rule) continue;
    if (a.contains("fingerprint") && a["fingerprint"].get<std::string>() != f.fingerprint) continue;
    if (a.contains("path")) {
      IgnoreRules glob;
      glob.add(a["path"].get<std::string>());
      if (f.path.empty() || !glob.ignored(f.path, false)) continue;
    }
    return true;
  }
  return false;
}

// The tree the checks read, which the audit must not write into; empty when none reads one.
fs::path audited_tree(const Options& o) { return needs_tree(o) ? o.root : fs::path(); }

void check_write_target(const Options& o, const fs::path& file, WrittenFile kind, const char* field,
                        std::vector<dihya::ValidationError>& errors) {
  const fs::path parent = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    errors.push_back({field, "directory " + parent.string() + " does not exist"});
  } else if (fs::is_directory(file, ec)) {
    errors.push_back({field, file.string() + " is a directory"});
  } else if (const std::string refused = refusal_to_write(file, kind, audited_tree(o)); !refused.empty()) {
    errors.push_back({field, refused});
  }
}

// validate() checked the file; it is checked again just before it is
// replaced, in case another process put something else there meanwhile.
void write_checked(const Options& o, const std::optional<fs::path>& given, const fs::path& file, WrittenFile kind,
                   const std::string& content) {
  if (given) {
    if (const std::string refused = refusal_to_write(file, kind, audited_tree(o)); !refused.empty()) {
      throw dihya::Error("security_audit: " + refused);
    }
  }
  write_atomically(file, content);
}

std::vector<RuleInfo> all_static_rules(const Options& o) {
  std::vector<RuleInfo> rules;
  if (o.checks.count("secrets")) {
    for (const auto& r : secret_rules()) rules.push_back({r.id, r.title, r.severity});
  }
  if (o.checks.count("permissions")) {
    for (auto& r : permission_rules()) rules.push_back(std::move(r));
  }
  if (o.checks.count("postgres")) {
    for (auto& r : postgres_rules()) rules.push_back(std::move(r));
  }
  return rules;
}

class SecurityAudit final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    std::vector<dihya::ValidationError> errors;
    const Options o = read_options(params, ctx);
    std::error_code ec;
    if (needs_tree(o) && !fs::is_directory(o.root, ec)) {
      errors.push_back({"path", o.root.string() + " is not a directory"});
    }
    if (o.checks.count("postgres") && ctx.database_url().empty()) {
      errors.push_back({"checks", "postgres needs a database: give --database-url or set DIHYA_DATABASE_URL"});
    }
    if (o.checks.count("dependencies") && !o.advisories) {
      errors.push_back({"advisories", "the dependencies check needs an OSV advisory file or directory"});
    }
    if (o.advisories && !fs::exists(*o.advisories, ec)) {
      errors.push_back({"advisories", o.advisories->string() + " does not exist"});
    }
    if (o.mode == "scan" && o.baseline) {
      try {
        read_baseline(*o.baseline);
      } catch (const dihya::Error& e) {
        errors.push_back({"baseline", e.what()});
      }
    }
    // Only what this mode writes: mode=baseline writes no report, mode=scan only reads the baseline.
    if (o.mode == "baseline" && o.baseline) check_write_target(o, *o.baseline, WrittenFile::baseline, "baseline", errors);
    if (o.mode == "scan" && o.output) check_write_target(o, *o.output, WrittenFile::report, "output", errors);
    for (const auto& d : o.plugin_dirs) {
      if (!fs::is_directory(d, ec)) errors.push_back({"plugin_dirs", d.string() + " is not a directory"});
    }
    return errors;
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const Options o = read_options(params, ctx);
    const auto started = std::chrono::steady_clock::now();
    AuditSummary audit;
    audit.checks_run.assign(o.checks.begin(), o.checks.end());

    IgnoreRules excludes;  // the operator's own excludes: all checks
    for (const auto& e : o.exclude) excludes.add(e);
    IgnoreRules scan_rules;  // plus the tree's ignore files: secrets and dependencies
    if (o.gitignore) {
      scan_rules.add_file(o.root / ".gitignore");
      scan_rules.add_file(o.root / ".dihyaignore");
    }
    for (const auto& e : o.exclude) scan_rules.add(e);

    std::vector<Finding> found;
    if (o.checks.count("secrets")) run_secrets(o, scan_rules, ctx, found, audit);
    stop_if_cancelled(ctx);
    if (o.checks.count("permissions")) {
      Unexamined gaps;
      auto f = check_permissions(o.root, excludes, o.plugin_dirs, audit.notes, gaps);
      note_gaps("permissions", gaps, audit);
      ctx.log().info("permissions: {} finding(s)", f.size());
      std::move(f.begin(), f.end(), std::back_inserter(found));
    }
    stop_if_cancelled(ctx);
    if (o.checks.count("postgres")) run_postgres(ctx, found, audit);
    stop_if_cancelled(ctx);
    if (o.checks.count("dependencies")) {
      Unexamined gaps;
      auto f = check_dependencies(o.root, scan_rules, *o.advisories, audit.notes, gaps);
      note_gaps("dependencies", gaps, audit);
      ctx.log().info("dependencies: {} finding(s)", f.size());
      std::move(f.begin(), f.end(), std::back_inserter(found));
    }

    for (auto& f : found) make_printable(f);
    for (auto& n : audit.notes) n = printable(n);
    suppress(o, found, audit);
    std::stable_sort(audit.findings.begin(), audit.findings.end(), [](const Finding& a, const Finding& b) {
      return a.severity != b.severity ? a.severity > b.severity : location(a) < location(b);
    });
    audit.scanned["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    if (o.mode == "baseline") return write_baseline(o, ctx, audit);
    return finish(o, ctx, audit);
  }

  static void stop_if_cancelled(dihya::Context& ctx) {
    if (ctx.cancelled()) throw dihya::Error("security_audit: cancelled");
  }

  static void note_gaps(const std::string& check, const Unexamined& gaps, AuditSummary& audit) {
    if (gaps.total == 0) return;
    audit.notes.push_back(gaps.note(check));
    audit.not_examined += gaps.total;
  }

  static void run_secrets(const Options& o, const IgnoreRules& rules, dihya::Context& ctx, std::vector<Finding>& found,
                          AuditSummary& audit) {
    const SecretScanner scanner;
    Unexamined gaps;
    const auto files = list_files(o.root, rules, gaps);
    note_gaps("secrets", gaps, audit);
    SecretScanStats stats;
    auto f = scanner.scan_files(
        files, o.threads, o.max_file_size, stats, [&ctx] { return ctx.cancelled(); },
        [&ctx](std::size_t done, std::size_t total) { ctx.progress(done, total, "files"); });
    stop_if_cancelled(ctx);
    audit.scanned["files"] = stats.files;
    audit.scanned["bytes"] = stats.bytes;
    audit.scanned["skipped_binary"] = stats.skipped_binary;
    audit.scanned["skipped_large"] = stats.skipped_large;
    audit.scanned["unreadable"] = stats.unreadable;
    if (stats.skipped_large > 0) {
      audit.notes.push_back("secrets: " + std::to_string(stats.skipped_large) + " file(s) over max_file_size (" +
                            std::to_string(o.max_file_size) + " bytes) not scanned");
    }
    if (stats.unreadable > 0) {
      audit.notes.push_back("secrets: " + std::to_string(stats.unreadable) + " file(s) could not be read");
      audit.not_examined += stats.unreadable;
    }
    ctx.log().info("secrets: {} file(s), {} byte(s) scanned with {} thread(s), {} finding(s)", stats.files, stats.bytes,
                   o.threads, f.size());
    std::move(f.begin(), f.end(), std::back_inserter(found));
  }

  static void run_postgres(dihya::Context& ctx, std::vector<Finding>& found, AuditSummary& audit) {
    try {
      auto f = check_postgres(ctx.db(), audit.notes);
      ctx.log().info("postgres: {} finding(s)", f.size());
      std::move(f.begin(), f.end(), std::back_inserter(found));
    } catch (const dihya::Error& e) {
      audit.notes.push_back(std::string("postgres: skipped: ") + e.what());
    } catch (const pqxx::failure& e) {
      audit.notes.push_back(std::string("postgres: skipped: ") + e.what());
    }
  }

  static void suppress(const Options& o, std::vector<Finding>& found, AuditSummary& audit) {
    std::set<std::string> known;
    if (o.mode == "scan" && o.baseline) known = read_baseline(*o.baseline);
    for (auto& f : found) {
      if (allowed(o.allow, f)) {
        ++audit.suppressed_allow;
      } else if (known.count(f.fingerprint)) {
        ++audit.suppressed_baseline;
      } else {
        audit.findings.push_back(std::move(f));
      }
    }
  }

  static dihya::Result write_baseline(const Options& o, dihya::Context& ctx, const AuditSummary& audit) {
    const fs::path file = baseline_file(o, ctx);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& f : audit.findings) {
      list.push_back({{"fingerprint", f.fingerprint}, {"id", f.rule}, {"location", location(f)}, {"evidence", f.evidence}});
    }
    nlohmann::json doc = {{"tool", kToolName}, {"version", 1}, {"generated_at", ctx.run_id()},
                          {"findings", list}};
    nlohmann::json data = json_report(audit);
    data["baseline_file"] = file.string();
    const std::string n = std::to_string(audit.findings.size());
    if (ctx.dry_run()) {
      dihya::Result r = dihya::Result::success("would write a baseline of " + n + " finding(s) to " + file.string(), data);
      r.report = text_report(audit);
      return r;
    }
    write_checked(o, o.baseline, file, WrittenFile::baseline, doc.dump(2) + "\n");
    dihya::Result r = dihya::Result::success("wrote a baseline of " + n + " finding(s) to " + file.string(), data);
    r.report = text_report(audit);
    return r;
  }

  dihya::Result finish(const Options& o, dihya::Context& ctx, const AuditSummary& audit) {
    nlohmann::json data = json_report(audit);
    std::string content;
    if (o.format == "sarif") {
      std::error_code ec;
      const auto root = fs::absolute(o.root, ec).lexically_normal().string();
      content = sarif_report(audit, root, all_static_rules(o), metadata().value("version", "0")).dump(2) + "\n";
    } else if (o.format == "json") {
      nlohmann::json doc = data;
      doc["tool"] = kToolName;
      content = doc.dump(2) + "\n";
    } else if (o.output) {
      content = std::string(kTextReportTitle) + ", run " + ctx.run_id() + "\n" + text_report(audit);
    }
    std::string where;
    if (!content.empty()) {
      const fs::path file = report_file(o, ctx);
      if (ctx.dry_run()) {
        where = "; would write " + file.string();
      } else {
        write_checked(o, o.output, file, WrittenFile::report, content);
        where = "; report in " + file.string();
      }
      data["report_file"] = file.string();
    }

    const auto worst = std::max_element(audit.findings.begin(), audit.findings.end(), [](const Finding& a, const Finding& b) {
      return a.severity < b.severity;
    });
    const bool failed = worst != audit.findings.end() && static_cast<int>(worst->severity) >= o.fail_on;
    // A gate (fail_on) cannot pass a tree it could not read all of: an
    // incomplete audit fails it as a finding would.
    const bool gate = o.fail_on <= static_cast<int>(Severity::critical);
    const bool failed_incomplete = !failed && gate && audit.not_examined > 0;
    std::string summary = std::to_string(audit.findings.size()) + " finding(s)";
    if (!audit.findings.empty()) summary += " (" + severity_counts(audit.findings) + ")";
    if (!audit.notes.empty()) summary += ", " + std::to_string(audit.notes.size()) + " note(s)";
    if (audit.not_examined > 0) summary += ", INCOMPLETE: " + std::to_string(audit.not_examined) + " path(s) not examined";
    summary += where;
    data["failed_on"] = failed              ? nlohmann::json(params_fail_on_name(o.fail_on))
                        : failed_incomplete ? nlohmann::json("incomplete")
                                            : nlohmann::json(nullptr);
    dihya::Result r =
        failed              ? dihya::Result::failure(summary + "; at or above fail_on=" + params_fail_on_name(o.fail_on), data)
        : failed_incomplete ? dihya::Result::failure(summary + "; incomplete, so fail_on=" + params_fail_on_name(o.fail_on) +
                                                         " cannot pass", data)
                            : dihya::Result::success(summary, data);
    r.report = text_report(audit);
    return r;
  }

  static std::string params_fail_on_name(int level) {
    return level >= 0 && level <= 4 ? severity_name(static_cast<Severity>(level)) : "none";
  }
};

}  // namespace
}  // namespace security_audit

DIHYA_PLUGIN(security_audit::SecurityAudit)
