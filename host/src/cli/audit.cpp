// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host audit verify`: walks the hash chain of the audit log and names
// the first line that was edited, dropped, inserted or moved.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "errors.hpp"
#include "runs/run_store.hpp"
#include "util/printable.hpp"

namespace dihya::host {
namespace {

// A log cut back together with its head still falls short of the run records
// that name their run.start seq.
void check_run_records(const Settings& settings, AuditVerifyReport& report) {
  const RunStore store(settings.state_dir / "runs");
  std::string run_id;
  const std::uint64_t seq = store.max_audit_seq(&run_id);  // from the index: no record is read
  if (seq > report.last_seq) {
    report.ok = false;
    report.first_bad_line = report.lines + 1;
    report.problem = fmt::format("{}: lines missing at the end: the log ends at seq {} but run {} names its "
                                 "run.start as seq {} (the tail was cut, or the log deleted and started again)",
                                 (settings.state_dir / "audit.jsonl").string(), report.last_seq, run_id, seq);
  }
}

}  // namespace

int cmd_audit(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host audit verify [--file PATH] [--json]";
  spec.description =
      "Verifies the audit log (default: <state dir>/audit.jsonl): its hash chain, its head record\n"
      "(<file>.head: the seq and SHA-256 of the last line, replaced with each append), and, for\n"
      "the state dir's log, the audit seq each run record names and every line the state log\n"
      "carries (each run's run.start and run.end), compared with the line of its seq. Exit 0 when\n"
      "intact, 1 when a line was edited, dropped, inserted or reordered (even with the chain and\n"
      "head recomputed, for the lines the state log carries), the tail was cut or the file deleted.\n"
      "After a power loss (a head record of another boot), the lines the state log carries past\n"
      "the file's last whole line are copied in first, as the next append would (stderr says how\n"
      "many): runs make their audit lines durable through the state log's flush.\n"
      "Someone who can write the state dir (root) can rewrite all three consistently: only a copy\n"
      "shipped elsewhere (audit_syslog: true) shows that.";
  spec.options.add_options()("file", po::value<std::string>(), "audit file to verify")("json", "print JSON");
  spec.hidden.add_options()("action", po::value<std::string>()->required(), "action (verify)");
  spec.positional.add("action", 1);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  if ((*vm)["action"].as<std::string>() != "verify") {
    throw usage_error(fmt::format("audit {}: unknown action (expected: verify)", (*vm)["action"].as<std::string>()));
  }
  if (!vm->count("file")) check_state_dir(settings);
  const std::filesystem::path file =
      vm->count("file") ? std::filesystem::path((*vm)["file"].as<std::string>()) : settings.state_dir / "audit.jsonl";
  if (vm->count("file")) {
    // A file named on the command line must be there: a typo is not an empty,
    // intact log (one deleted beside its head record is reported as such).
    struct stat st{};
    if (::lstat(file.c_str(), &st) != 0) {
      const int err = errno;
      struct stat head{};
      if (err != ENOENT || ::lstat(audit_head_file(file).c_str(), &head) != 0) {
        throw usage_error(fmt::format("--file {}: {}", file.string(), std::strerror(err)));
      }
    } else if (!S_ISREG(st.st_mode)) {
      throw usage_error(fmt::format("--file {}: not a regular file (a directory, FIFO, device or symlink)",
                                    file.string()));
    }
  }
  std::uint64_t copied = 0;
  if (!vm->count("file")) {
    // Lines a power loss kept only in the state log are the log's too: copied
    // first (as the next append would), said on stderr and in the JSON.
    // Without write access the file is verified as it is.
    try {
      copied = state_audit_log(settings.state_dir, false).complete();
    } catch (const HostError&) {
    }
    if (copied != 0) {
      std::cerr << fmt::format("dihya-host: audit: {} line(s) copied from the state log, where they were "
                               "durable (the audit file had not been flushed since)\n", copied);
    }
  }
  // The state dir's log is also cross-checked, line by line, against the
  // copies the state log carries (AuditLog::verify); a copy named on the
  // command line has only its own chain and head.
  AuditVerifyReport report =
      vm->count("file") ? verify_audit_log(file) : state_audit_log(settings.state_dir, false).verify();
  if (report.ok && !vm->count("file")) check_run_records(settings, report);
  if (report.ok && !report.carried.problem.empty()) {
    report.ok = false;
    report.first_bad_line = report.carried.first_bad_line;
    report.problem = report.carried.problem;
  }
  if (report.carried.past_end != 0) {
    std::cerr << fmt::format("dihya-host: audit: the state log carries {} line(s) past the log's end: lost here in a "
                             "power loss (the next append copies them in), or the line of a host that stopped, or "
                             "could not write, between the two files (the next append takes its seq); or the log's "
                             "last line was cut with its head record\n",
                             report.carried.past_end);
  }
  if (vm->count("json")) {
    nlohmann::json out{{"file", file.string()},          {"ok", report.ok},
                       {"lines", report.lines},            {"head_sha256", report.head_sha256},
                       {"last_seq", report.last_seq},      {"anchored", report.anchored},
                       {"copied_from_state_log", copied},  {"cross_checked", report.carried.lines},
                       {"carried_past_end", report.carried.past_end}};
    if (!report.ok) {
      out["first_bad_line"] = *report.first_bad_line;
      out["problem"] = report.problem;
    }
    print_json(out);
  } else if (report.ok) {
    // The file's name may be anyone's (--file of a copy found somewhere), and
    // a problem may quote the log: one line, no control sequence.
    std::cout << printable(fmt::format("{}: intact, {} line(s){}", file.string(), report.lines,
                                       report.anchored || report.lines == 0 ? ""
                                                                            : " (no head record yet: its tail is not anchored)"),
                           std::string::npos)
              << "\n";
  } else {
    std::cout << printable(fmt::format("{}: TAMPERED at line {}: {}", file.string(), *report.first_bad_line, report.problem),
                           std::string::npos)
              << "\n";
  }
  return report.ok ? 0 : kExitRunFailed;
}

}  // namespace dihya::host
