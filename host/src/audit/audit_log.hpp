// SPDX-License-Identifier: AGPL-3.0-or-later
// The tamper-evident audit log: one JSON-lines file where every line records
// one event (run.start, run.end, rollback.start, rollback.end...) and carries
// the SHA-256 of the line before it, so `dihya-host audit verify` finds any
// edited, dropped, inserted or reordered line and names the line.
//
// One line, compact, keys in this order, '\n' terminated:
//   {"seq":N,"ts":"2026-11-25T21:50:53.123Z","prev":"<hex>","event":"run.start","data":{...}}
// seq counts from 1; ts is UTC with milliseconds; prev is the SHA-256 of the
// previous line's bytes without its '\n' (64 zeros on line 1).
//
// Guarantees: an append is all or nothing and durable when append() returns
// (one O_APPEND write() under an exclusive flock(), then an fsync before the
// lock is released; a failed write is truncated away). Appends from any
// number of threads and processes are serialised by the lock, so seq and prev
// always chain. Callers redact secrets from `data` before appending: the log
// keeps whatever it is given.
//
// A carried append (the run.start and run.end of a run) costs no flush of
// its own: the line goes first into the entry of the state log that records
// the run (a Carrier: runs/run_store.hpp), then into this file, and the one
// fdatasync of the state log that the run makes anyway makes it durable; the
// lock is released before that flush, so concurrent runs' flushes overlap.
// Until this file is flushed (by the next plain append, or the kernel's
// writeback), its last lines may be durable only in the state log: a power
// loss can leave them missing here, or a torn or zero-filled tail after them.
// So after a power loss (the head record names another boot, or none), the
// next append, complete() (`audit verify`, before the state log's
// compaction) first copies in the lines the state log carries after this
// file's last whole line (the `carried_lines` reader), as far as they chain
// onto it, in place of a torn tail, and flushes them. In the same boot
// nothing is copied: the page cache holds every line written, and a host
// killed between the two writes leaves a line of a run that never started,
// whose seq the next append takes (of two carried lines with one seq, the
// later is the one kept). Carried lines that do not chain onto this file's
// last line (a log moved away, an edited line) are never copied.
//
// What a hash chain alone cannot show: the last lines removed, the whole file
// deleted, or the whole tail rewritten by someone who recomputes every hash.
// Three anchors close the gap, each against a different attacker:
//  - the head record `<file>.head` ({"seq":N,"sha256":"<last line>",
//    "check":"<16 hex>","boot":"<16 hex>"}, padded to 160 bytes), rewritten
//    in place under the same lock after each append (only forward: never over
//    a later appender's head), after the line is durable (here or in the
//    state log) and without a sync of its own (a crash leaves it behind the
//    log, half rewritten or empty; verify accepts all three; or, after a
//    power loss, ahead of this file but never of the state log's copies,
//    which complete the file first): a log cut short or deleted no longer
//    matches it (someone who can write the state dir can rewrite both; see
//    the next two). "boot" says in which boot it was written: one of another
//    boot, or none, lets the file be completed from the state log;
//  - run records name the seq of their run.start entry (RunRecord::audit_seq),
//    so a log and head cut back together still fall short of the records;
//  - with `audit_syslog: true` every line is also sent, as written, to
//    syslog(3) (journald or rsyslog, facility authpriv): a copy that root on
//    this machine cannot quietly take back once it is shipped elsewhere.
// Files are opened relative to a descriptor of their directory, with
// O_NOFOLLOW: a symlink planted in place of the log or its head is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

class AuditLog {
 public:
  // Where a line is written before this file, and made durable by a flush of
  // its own (the state log: runs/run_store.hpp).
  class Carrier {
   public:
    virtual ~Carrier() = default;
    // Called under the lock with the new line (without '\n') and its seq,
    // before the line is written here. Throws to refuse it: nothing is
    // written then.
    virtual void carry(const std::string& line, std::uint64_t seq) = 0;
    // Called once the lock is released: the carried line durable on return.
    virtual void sync() = 0;
  };
  // The lines carried after the last one of this file: those with a seq >=
  // the argument, oldest first (runs/run_log.hpp).
  using CarriedLines = std::function<std::vector<std::string>(std::uint64_t min_seq)>;

  // The file need not exist; its directory must. A new file gets mode 0600.
  // `to_syslog`: also send each appended line to syslog(3) (ident
  // "dihya-host", facility LOG_AUTHPRIV, priority LOG_NOTICE).
  // `carried_lines`: where carried lines are read back (none: no completion).
  explicit AuditLog(std::filesystem::path file, bool to_syslog = false, CarriedLines carried_lines = {});

  // Appends one event and returns its seq once the line and then the head
  // record are on disk (with a carrier: once carrier->sync() returned).
  // Throws a state error (errors.hpp) naming the file when it
  // cannot write or sync, or when the last line is incomplete or unreadable
  // and the state log cannot replace it (a damaged log is never silently
  // extended: run `dihya-host audit verify`), or when the file or its head is
  // a symlink or not a regular file. Invalid UTF-8 in `data` is replaced by
  // U+FFFD. Thread-safe and process-safe.
  std::uint64_t append(const std::string& event, const nlohmann::json& data, Carrier* carrier = nullptr);

  // Under the lock: completes the file from the carried lines and flushes it,
  // then calls `fn` (still under the lock: no line can be carried meanwhile).
  // Returns how many lines were copied. For `audit verify` and before the
  // state log drops the entries that carry lines (`history prune`).
  std::uint64_t complete(const std::function<void()>& fn = {});

  // For `audit verify`: whether the file's last line, when it is a run.start
  // or run.end (the lines a run's records carry), differs from every copy the
  // state log carries with its seq: one sentence naming it, or "" (it
  // matches, it is of an event never carried, or no copy is left). With the
  // head record gone or damaged, nothing else anchors the last line.
  std::string last_line_against_carried() const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  bool to_syslog_;
  CarriedLines carried_lines_;
};

// The first 16 hex digits of this boot's id, which a head record names in
// "boot": a head written in this boot means no power loss since. Empty when
// the boot id cannot be read.
std::string audit_boot_tag();

// Where the head record of `file` is kept: `<file>.head`.
std::filesystem::path audit_head_file(const std::filesystem::path& file);

struct AuditVerifyReport {
  bool ok = true;
  std::uint64_t lines = 0;                     // lines checked (all of them when ok)
  std::optional<std::uint64_t> first_bad_line; // 1-based, set when !ok
  std::string problem;                         // one sentence naming the line and the cause
  std::string head_sha256;                     // hash of the last line read, to anchor elsewhere
  std::uint64_t last_seq = 0;                  // seq of the last line read
  bool anchored = false;                       // a head record was found and matches
};

// Checks the whole chain, then the head record, and reports the FIRST
// problem. A missing file with no head record is ok with 0 lines (nothing was
// ever audited); a missing file whose head names lines is reported (line 1),
// and so is a log that ends before the seq its head names (the first missing
// line). A log ahead of its head is ok as long as the line of the head's seq
// matches its hash: a crash lost the head's last replacements (the head
// guards against lines taken away; whoever can add lines can move the head). A log without a head (written by an older
// version) is ok, not anchored; the next append writes the head. Throws a state error (errors.hpp) naming the file only when it exists
// but cannot be read. How each kind of tampering shows up (k is the line named):
//  - edited line k: line k+1's prev no longer matches the hash of line k, while
//    line k+1 still chains to line k+2; or line k no longer parses;
//  - edited prev/seq of line k: line k no longer chains to k-1 and k+1 no longer
//    chains to k (prev edited), or k's prev is right but its seq is not;
//  - dropped line(s) before line k: line k's seq jumps (k = 1 when the first
//    line was dropped);
//  - inserted line k: line k+1 chains to line k-1 (or line k-1 chains to k-2
//    when the inserted line copied a correct prev and seq);
//  - swapped lines k and k+1: line k+1 chains to line k-1 and line k to line k+1;
//    lines moved further apart show as a seq that jumps or goes back at line k;
//  - truncated last line k: no '\n' at the end (a write cut short or a file cut);
//  - last lines dropped, or the file deleted: the head record names a later
//    seq (or its hash does not match the line of that seq).
AuditVerifyReport verify_audit_log(const std::filesystem::path& file);

}  // namespace dihya::host
