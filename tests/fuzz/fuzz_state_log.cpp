// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the state log and its index (runs/run_log.hpp) and for
// the audit log's tail, completion and verification (audit/audit_log.hpp):
// the files a crash, a full disk or a flipped bit leave behind, read by every
// `run`, `history` and `audit verify`. Whatever they hold, the host must
// answer or throw its own HostError (errors.hpp), never crash, and complete()
// must only ever add to the audit log what the state log carries.
//
// Input: parts separated by "@@@@", each a file's bytes (a missing part, no
// file; an empty part, an empty file):
//   options @@@@ runs/state.log @@@@ audit.jsonl @@@@ audit.jsonl.head @@@@ runs/state.idx
// options: 'c' rewrites the "<len> <crc32c> " prefix of each state.log line
// that has its shape, and 'p' the "prev" of each audit line (in audit.jsonl
// the hash of the line before; in the lines state.log carries, that of the
// line one seq before), so that mutations get past the checksums; the first
// number is the seq given to carried_audit_lines (2 when none). In the head,
// "@BOOT@" becomes this boot's tag and "@CHECK@" the check of its seq and
// sha256, so a seed can stand for a head written in this boot on any machine.
//
// Checked (__builtin_trap() when broken), besides no crash or sanitizer report:
//  - every call throws nothing but HostError;
//  - verify_audit_log() ok (anchored) before complete() is ok (anchored) after;
//  - complete() keeps the audit file's bytes up to the end of its last whole
//    entry; it changes nothing when it copied no line, else it appends exactly
//    the lines it copied;
//  - carried_audit_lines(n) returns only lines of a seq >= n;
//  - AuditLog::verify() (the cross-check against every copy the state log
//    carries) agrees with verify_audit_log() on the chain, and cross-checks
//    no more lines than the file holds;
//  - an index built from the log (no state.idx given) is sorted by run id and
//    points each entry at a put of that run, which read_at() reads back;
//    damaged() counts no more lines than the log has.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "errors.hpp"
#include "runs/run_log.hpp"
#include "util/sha256.hpp"

#include "fuzz_support.hpp"

namespace state_log_fuzz {

namespace fs = std::filesystem;
using dihya::host::HostError;

constexpr std::string_view kSeparator = "@@@@";
constexpr std::size_t kStatePrefix = 18;  // "<len:8> <crc:8> "
constexpr int kMaxDepth = 128;            // the audit log's own limit (audit_log.cpp)
const std::string kGenesis(64, '0');

[[noreturn]] void fail(const char* what) { dihya::fuzz::fail("fuzz_state_log", what); }

// Runs `fn`; a HostError is an allowed answer (false), anything else a bug.
template <typename F>
bool host_call(const char* name, F&& fn) {
  return dihya::fuzz::call<HostError>("fuzz_state_log", name, true, std::forward<F>(fn));
}

std::vector<std::string> split(std::string_view input) {
  std::vector<std::string> parts;
  for (;;) {
    const std::size_t at = input.find(kSeparator);
    parts.emplace_back(input.substr(0, at));
    if (at == std::string_view::npos) return parts;
    input.remove_prefix(at + kSeparator.size());
  }
}

// One line of the state log without its '\n', as the host formats it.
std::string state_line(std::string_view body) {
  std::string line = dihya::host::run_log_line_of_text(body);
  line.pop_back();
  return line;
}

// The pieces of `bytes` between '\n's; the last one is what follows the last '\n'.
std::vector<std::string> lines_of(const std::string& bytes) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = bytes.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(bytes.substr(start, nl - start));
  }
  lines.push_back(bytes.substr(start));
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string bytes;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) bytes += '\n';
    bytes += lines[i];
  }
  return bytes;
}

// JSON parsed no deeper than the audit log parses it: a deeper value would
// crash this target's own copies (NOTES.md), not the code under test.
std::optional<nlohmann::json> parse_shallow(std::string_view text) {
  try {
    return nlohmann::json::parse(text, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > kMaxDepth) throw std::runtime_error("too deep");
      return true;
    });
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Whether `line` is an audit entry as the audit log reads one.
bool is_audit_entry(std::string_view line) {
  const auto doc = parse_shallow(line);
  if (!doc || !doc->is_object()) return false;
  const auto has = [&](const char* key) { return doc->contains(key); };
  if (!has("seq") || !(*doc)["seq"].is_number_unsigned() || !has("ts") || !(*doc)["ts"].is_string() ||
      !has("prev") || !(*doc)["prev"].is_string() || !has("event") || !(*doc)["event"].is_string() || !has("data")) {
    return false;
  }
  const auto& prev = (*doc)["prev"].get_ref<const std::string&>();
  return prev.size() == 64 &&
         std::all_of(prev.begin(), prev.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The seq of an audit line that starts {"seq":N, (as the state log reads it).
std::optional<std::uint64_t> leading_seq(std::string_view line) {
  constexpr std::string_view kStart = R"({"seq":)";
  if (line.substr(0, kStart.size()) != kStart) return std::nullopt;
  const std::string_view rest = line.substr(kStart.size());
  const std::size_t digits = rest.find(',');
  if (digits == 0 || digits == std::string_view::npos || digits > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : rest.substr(0, digits)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

void set_prev(std::string& line, const std::string& hash) {
  constexpr std::string_view kPrev = R"("prev":")";
  const std::size_t at = line.find(kPrev);
  if (at != std::string::npos && at + kPrev.size() + 64 <= line.size()) line.replace(at + kPrev.size(), 64, hash);
}

// Option 'p': chains audit.jsonl line by line, then the lines state.log
// carries onto the line one seq before (re-emitting those entries).
void chain_audit_lines(std::string& audit, std::string& state_log) {
  std::map<std::uint64_t, std::string> hash_of_seq;
  std::vector<std::string> lines = lines_of(audit);
  std::string prev = kGenesis;
  for (auto& line : lines) {
    set_prev(line, prev);
    prev = dihya::host::sha256_hex(line);
    if (const auto seq = leading_seq(line)) hash_of_seq[*seq] = prev;
  }
  audit = join_lines(lines);
  std::vector<std::string> entries = lines_of(state_log);
  for (auto& entry : entries) {
    if (entry.size() < kStatePrefix) continue;
    auto body = parse_shallow(std::string_view(entry).substr(kStatePrefix));
    if (!body || !body->is_object() || !body->contains("audit") || !(*body)["audit"].is_string()) continue;
    std::string carried = (*body)["audit"].get<std::string>();
    const auto seq = leading_seq(carried);
    if (!seq) continue;
    if (*seq == 1) {
      set_prev(carried, kGenesis);
    } else if (auto before = hash_of_seq.find(*seq - 1); before != hash_of_seq.end()) {
      set_prev(carried, before->second);
    }
    hash_of_seq[*seq] = dihya::host::sha256_hex(carried);
    (*body)["audit"] = carried;
    entry = state_line(body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  state_log = join_lines(entries);
}

// Option 'c': the right length and CRC-32C on each line shaped like an entry.
void fix_checksums(std::string& state_log) {
  std::vector<std::string> entries = lines_of(state_log);
  for (auto& entry : entries) {
    if (entry.size() < kStatePrefix || entry[8] != ' ' || entry[17] != ' ') continue;
    entry = state_line(std::string_view(entry).substr(kStatePrefix));
  }
  state_log = join_lines(entries);
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
}

void fill_head(std::string& head) {
  static const std::string tag = dihya::host::audit_boot_tag();
  replace_all(head, "@BOOT@", tag);
  constexpr std::string_view kCheck = "@CHECK@";
  if (head.find(kCheck) == std::string::npos) return;
  std::string probe = head;
  replace_all(probe, kCheck, "0");
  std::string check = "0000000000000000";
  const auto doc = parse_shallow(probe);
  if (doc && doc->is_object() && doc->contains("seq") && (*doc)["seq"].is_number_unsigned() &&
      doc->contains("sha256") && (*doc)["sha256"].is_string()) {
    check = dihya::host::sha256_hex(
                fmt::format("{}:{}", (*doc)["seq"].get<std::uint64_t>(), (*doc)["sha256"].get<std::string>()))
                .substr(0, 16);
  }
  replace_all(head, kCheck, check);
}

std::optional<std::string> read_file(const fs::path& file) { return dihya::fuzz::read_bytes(file); }

void write_file(const fs::path& file, const std::string& bytes) {
  dihya::fuzz::write_bytes("fuzz_state_log", file, bytes);
}

// A directory of this process, in memory when /dev/shm is there, removed at exit.
class WorkDir {
 public:
  WorkDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                          : tmp != nullptr && *tmp != '\0'                                     ? fs::path(tmp)
                                                                                               : fs::path("/tmp");
    path_ = base / fmt::format("dihya-fuzz-state-log-{}", ::getpid());
  }
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  // The state dir, emptied: its runs/ exists, nothing else.
  const fs::path& fresh() {
    fs::remove_all(path_);
    fs::create_directories(path_ / "runs");
    return path_;
  }

 private:
  fs::path path_;
};

// The end of the last '\n'-terminated line that is an audit entry; 0 when none.
std::size_t end_of_last_entry(const std::string& audit) {
  std::size_t end = 0;
  std::size_t start = 0;
  for (std::size_t nl; (nl = audit.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (is_audit_entry(std::string_view(audit).substr(start, nl - start))) end = nl + 1;
  }
  return end;
}

void check_audit_log(const fs::path& state_dir) {
  const fs::path file = state_dir / "audit.jsonl";
  std::optional<dihya::host::AuditVerifyReport> before;
  host_call("verify_audit_log (before)", [&] { before = dihya::host::verify_audit_log(file); });
  const std::optional<std::string> old_bytes = read_file(file);

  dihya::host::AuditLog log(file, false, [runs_dir = state_dir / "runs"](std::uint64_t min_seq) {
    return dihya::host::RunLog(runs_dir).carried_audit_lines(min_seq);
  });
  std::optional<std::uint64_t> copied;
  host_call("AuditLog::complete", [&] { copied = log.complete(); });

  const std::optional<std::string> new_bytes = read_file(file);
  if (old_bytes.has_value() != new_bytes.has_value()) fail("complete() created or removed the audit file");
  if (old_bytes) {
    const std::size_t keep = end_of_last_entry(*old_bytes);
    if (new_bytes->size() < keep || new_bytes->compare(0, keep, *old_bytes, 0, keep) != 0) {
      fail("complete() changed the audit file before the end of its last whole entry");
    }
    if (copied && *copied == 0 && *new_bytes != *old_bytes) fail("complete() copied no line but changed the file");
    if (copied && *copied > 0) {
      const std::string_view added = std::string_view(*new_bytes).substr(keep);
      if (added.empty() || added.back() != '\n' ||
          static_cast<std::uint64_t>(std::count(added.begin(), added.end(), '\n')) != *copied) {
        fail("complete() appended other than the lines it reports copied");
      }
    }
  }

  std::optional<dihya::host::AuditVerifyReport> after;
  host_call("verify_audit_log (after)", [&] { after = dihya::host::verify_audit_log(file); });
  if (before && before->ok) {
    if (!after || !after->ok) {
      std::fprintf(stderr, "fuzz_state_log: after complete(): %s\n", after ? after->problem.c_str() : "(threw)");
      fail("complete() broke an audit log that verified");
    }
    if (before->anchored && !after->anchored) fail("complete() unanchored an audit log that verified anchored");
    if (after->lines < before->lines || after->last_seq < before->last_seq) fail("complete() lost lines");
  }

  const dihya::host::AuditLog cross_checked(file, false, {}, [runs_dir = state_dir / "runs"] {
    return dihya::host::RunLog(runs_dir).open_carried_copies();
  });
  std::optional<dihya::host::AuditVerifyReport> crossed;
  host_call("AuditLog::verify", [&] { crossed = cross_checked.verify(); });
  if (after && crossed) {
    if (crossed->ok != after->ok || crossed->lines != after->lines) {
      fail("verify() and verify_audit_log() disagree on the chain");
    }
    if (crossed->carried.lines > crossed->lines) fail("verify() cross-checked more lines than the file holds");
  }
}

void check_carried(const dihya::host::RunLog& log, std::uint64_t min_seq) {
  std::vector<std::string> lines;
  host_call("RunLog::carried_audit_lines", [&] { lines = log.carried_audit_lines(min_seq); });
  for (const auto& line : lines) {
    const auto seq = leading_seq(line);
    if (!seq || *seq < min_seq) fail("carried_audit_lines() returned a line below the seq asked for");
  }
}

bool key_less(const dihya::host::RunIndexEntry& a, const dihya::host::RunIndexEntry& b) {
  return a.id_ms != b.id_ms ? a.id_ms < b.id_ms : a.id_suffix < b.id_suffix;
}

// `built`: no state.idx was given, so the index is the log's own.
void check_run_log(const fs::path& runs_dir, const std::string& state_log, bool built, std::uint64_t some_seq) {
  dihya::host::RunLog log(runs_dir);
  bool opened = false;
  host_call("RunLog::open_index", [&] { opened = log.open_index(); });
  if (opened) {
    if (built && log.damaged() > static_cast<std::uint64_t>(std::count(state_log.begin(), state_log.end(), '\n'))) {
      fail("damaged() counts more lines than the log has");
    }
    for (const auto* e = log.begin(); e != log.end(); ++e) {
      if (built && e + 1 != log.end() && !key_less(*e, e[1])) fail("the index built from the log is not sorted");
      nlohmann::json entry;
      const bool read = host_call("RunLog::read_at", [&] { entry = log.read_at(e->offset); });
      if (!built) continue;
      if (!read) fail("read_at() refused an offset of the index built from the log");
      const nlohmann::json* id = nullptr;
      if (const auto run = entry.find("run"); run != entry.end() && run->is_object()) {
        if (const auto found = run->find("id"); found != run->end() && found->is_string()) id = &*found;
      }
      std::uint64_t ms = 0;
      std::uint32_t suffix = 0;
      if (entry.value("op", nlohmann::json()) != "put" || id == nullptr ||
          !dihya::host::run_id_key(id->get_ref<const std::string&>(), &ms, &suffix) || ms != e->id_ms ||
          suffix != e->id_suffix) {
        fail("an entry of the index built from the log points at another entry");
      }
    }
  }
  check_carried(log, 0);
  check_carried(log, some_seq);
}

std::uint64_t first_number(std::string_view options, std::uint64_t fallback) {
  const std::size_t at = options.find_first_of("0123456789");
  if (at == std::string_view::npos) return fallback;
  std::uint64_t n = 0;
  for (std::size_t i = at; i < options.size() && i < at + 19 && options[i] >= '0' && options[i] <= '9'; ++i) {
    n = n * 10 + static_cast<std::uint64_t>(options[i] - '0');
  }
  return n;
}

void run_one(std::string_view input) {
  static WorkDir work;
  std::vector<std::string> parts = split(input);
  parts.resize(std::min<std::size_t>(parts.size(), 5));
  const std::string options = parts[0];
  auto part = [&](std::size_t i) -> std::string* { return i < parts.size() ? &parts[i] : nullptr; };
  std::string state_log = part(1) ? *part(1) : std::string();
  std::string audit = part(2) ? *part(2) : std::string();
  if (options.find('p') != std::string::npos) chain_audit_lines(audit, state_log);
  if (options.find('c') != std::string::npos) fix_checksums(state_log);

  const fs::path& state_dir = work.fresh();
  const fs::path runs_dir = state_dir / "runs";
  if (part(1)) write_file(runs_dir / "state.log", state_log);
  if (part(2)) write_file(state_dir / "audit.jsonl", audit);
  if (part(3)) {
    fill_head(*part(3));
    write_file(state_dir / "audit.jsonl.head", *part(3));
  }
  if (part(4)) write_file(runs_dir / "state.idx", *part(4));

  check_audit_log(state_dir);
  check_run_log(runs_dir, state_log, part(4) == nullptr, first_number(options, 2));
}

}  // namespace state_log_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  state_log_fuzz::run_one(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
