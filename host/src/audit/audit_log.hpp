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
// later is the one kept; a line no run carries, a rollback's or a prune's,
// is carried when it takes that seq: see OpenCarrier). Carried lines that do not chain onto this file's
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
//    so a log and head cut back together still fall short of the records; and
//    the state log carries every run.start and run.end line, which verify()
//    compares with this file's line of that seq: whoever rewrites a line and
//    recomputes the hashes after it rewrites every later line too;
//  - with `audit_syslog: true` every line is also sent, as written, to
//    syslog(3) (journald or rsyslog, facility authpriv): a copy that root on
//    this machine cannot quietly take back once it is shipped elsewhere.
// Files are opened relative to a descriptor of their directory, with
// O_NOFOLLOW: a symlink planted in place of the log or its head is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

struct AuditVerifyReport;

// An audit line as the state log carries it (runs/run_log.hpp).
struct CarriedCopy {
  std::uint64_t seq = 0;
  std::string text;        // the line, without its '\n': compared with the line of that seq
  std::uint64_t entry = 0; // the byte offset of the state log entry that holds it
};

// The copies of the audit log's lines in the state log, for `audit verify`'s
// cross-check (AuditLog::verify): read forward, seq strictly increasing. Of
// two copies with one seq the later is given (the earlier was carried by a
// host that died, or failed to write, before the line reached the audit
// file: the next line took its seq); when seqs go back (the audit log was
// moved away and a new one started) only the copies after the last such
// step are given: the earlier ones belong to the old log.
class CarriedCopies {
 public:
  virtual ~CarriedCopies() = default;
  // The next copy; nothing after the last. Throws a state error when the
  // state log cannot be read.
  virtual std::optional<CarriedCopy> next() = 0;
  // Whether the entry that holds `copy` still has its checksum (false: the
  // state log was damaged or edited there).
  virtual bool intact(const CarriedCopy& copy) = 0;
  // The state log's path, for messages.
  virtual std::string source() const = 0;
};

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
  // Opens every copy the state log holds, for verify() (nullptr: no state
  // log). Called under this file's lock, so that the copies it reads include
  // every line of the file up to then (a line is carried before it is written
  // here) and no compaction of the state log is under way.
  using OpenCarriedCopies = std::function<std::unique_ptr<CarriedCopies>()>;
  // A carrier for a line that no caller carries (rollback.*, history.prune)
  // when it takes the seq of a line the state log carries and this file
  // lacks (its host killed, or its write refused, between the two: the next
  // append takes its seq). Carried too, the line is the later of the state
  // log's two copies of that seq, the one verify() compares with it; left
  // uncarried, the earlier copy would read as this line edited.
  using OpenCarrier = std::function<std::unique_ptr<Carrier>()>;

  // The file need not exist; its directory must. A new file gets mode 0600.
  // `to_syslog`: also send each appended line to syslog(3) (ident
  // "dihya-host", facility LOG_AUTHPRIV, priority LOG_NOTICE).
  // `carried_lines`: where carried lines are read back (none: no completion).
  // `open_copies`: where every carried line is read back (none: verify()
  // checks the file alone). `open_carrier`: where a line that takes the seq
  // of a carried line is carried (see OpenCarrier; none: it is not).
  explicit AuditLog(std::filesystem::path file, bool to_syslog = false, CarriedLines carried_lines = {},
                    OpenCarriedCopies open_copies = {}, OpenCarrier open_carrier = {});

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

  // `audit verify` of a state dir's log: verify_audit_log(), and every line
  // the state log carries compared, byte for byte, with the line of its seq
  // here (AuditVerifyReport::carried). The copies are opened under this
  // file's lock, then read with it released. What the cross-check names, the
  // first in the file's order:
  //  - a line that differs from its copy: an edit whose chain and head were
  //    recomputed (a line dropped, inserted, duplicated or moved, with the
  //    chain recomputed after it, changes every carried line after it);
  //  - a run.start or run.end line the state log does not carry, after its
  //    first copy and after the last history.prune line (a prune drops the
  //    copies of the runs it removes): the state log was cut, or an entry
  //    taken out of it;
  //  - copies past the file's end: its last lines cut and its head rewritten.
  //    One copy, of the seq after the last line and chaining onto it, is
  //    tolerated: a host killed (or whose write failed) between the state
  //    log and this file leaves it, and the next append takes its seq. After
  //    a power loss (a head of another boot, or none) every copy is: the
  //    next append copies them in (complete()).
  // What it cannot show: lines after the last one the state log carries
  // (rollbacks, prunes) edited, dropped or added with the chain and head
  // recomputed; the last carried line cut with its head rewritten when no
  // run record names its seq (what a killed host leaves); and both files
  // rewritten consistently.
  // Throws like verify_audit_log(), or a state error naming the state log
  // when it cannot be read.
  AuditVerifyReport verify() const;

  // The event of the last line naming run `run_id` (data.run_id) whose event
  // starts with `prefix` ("rollback."), read backwards from the end: all of
  // the file at worst, for the rare repair of a rollback whose host stopped
  // before its end was recorded. Empty when there is none, or no file.
  // Throws a state error naming the file when it cannot be read.
  std::string last_event_of_run(const std::string& run_id, const std::string& prefix) const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  bool to_syslog_;
  CarriedLines carried_lines_;
  OpenCarriedCopies open_copies_;
  OpenCarrier open_carrier_;
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
  // The cross-check against the state log's copies (AuditLog::verify only).
  // Its problem is left to the caller to apply once its own checks pass: a
  // break in the chain or a cut that the head or the run records name
  // explains more than a line that differs from its copy.
  struct Carried {
    std::uint64_t lines = 0;     // lines of the file compared with their copy
    std::uint64_t past_end = 0;  // copies of lines past the file's end, tolerated (see AuditLog::verify)
    std::optional<std::uint64_t> first_bad_line;
    std::string problem;         // one sentence naming the seq and both files; empty when none
  } carried;
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
