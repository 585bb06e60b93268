// SPDX-License-Identifier: AGPL-3.0-or-later
// Appending to and verifying the audit chain. Verification streams the file
// once with one line of look-ahead, so it runs in constant memory over years
// of history; appending reads only the last line, backwards from the end.
#include "audit/audit_log.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <map>
#include <set>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <fmt/format.h>

#include "errors.hpp"
#include "runs/process_identity.hpp"
#include "util/line_tail.hpp"
#include "util/sha256.hpp"
#include "util/utc_time.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

using Json = nlohmann::json;

const std::string kGenesisHash(64, '0');
constexpr std::size_t kTailChunk = 64 * 1024;
// A line nested deeper than this was not written by us; refusing it early keeps
// a hostile file from exhausting the stack.
constexpr int kMaxDepth = 128;

[[noreturn]] void throw_errno(const std::filesystem::path& file, const std::string& doing) {
  throw state_error(
      fmt::format("audit log {}: cannot {}: {}", file.string(), doing, std::strerror(errno)));
}

// Built by hand rather than through nlohmann::json so the keys keep the
// documented order; dump() escapes control characters, so no '\n' can appear.
std::string format_line(std::uint64_t seq, const std::string& ts, const std::string& prev,
                        const std::string& event, const Json& data) {
  constexpr auto kReplace = Json::error_handler_t::replace;
  return fmt::format(R"({{"seq":{},"ts":"{}","prev":"{}","event":{},"data":{}}})", seq, ts,
                     prev, Json(event).dump(-1, ' ', false, kReplace),
                     data.is_null() ? "{}" : data.dump(-1, ' ', false, kReplace));
}

// What the chain needs of one line.
struct Entry {
  std::uint64_t line = 0;  // 1-based; 0 is the start of the log
  std::uint64_t seq = 0;
  std::string prev;
  std::string hash;        // SHA-256 of the line's bytes
  std::string event;       // "run.start", ...; empty for the start of the log
};

bool is_hex64(const Json& value) {
  if (!value.is_string()) return false;
  const auto& s = value.get_ref<const std::string&>();
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Parses one line; on failure returns nothing and says why in `why`.
std::optional<Entry> parse_entry(const std::string& raw, std::uint64_t line, std::string& why) {
  Json doc;
  try {
    doc = Json::parse(raw, [](int depth, Json::parse_event_t, Json&) {
      if (depth > kMaxDepth) throw state_error("nested too deeply");
      return true;
    });
  } catch (const std::exception& e) {
    why = fmt::format("not JSON ({})", e.what());
    return std::nullopt;
  }
  if (!doc.is_object() || !doc.contains("seq") || !doc["seq"].is_number_unsigned() ||
      !doc.contains("ts") || !doc["ts"].is_string() || !doc.contains("prev") ||
      !is_hex64(doc["prev"]) || !doc.contains("event") || !doc["event"].is_string() ||
      !doc.contains("data")) {
    why = "not an audit entry (needs seq, ts, prev as 64 hex digits, event, data)";
    return std::nullopt;
  }
  return Entry{line, doc["seq"].get<std::uint64_t>(), doc["prev"].get<std::string>(), sha256_hex(raw),
               doc["event"].get<std::string>()};
}

bool follows(const Entry& before, const Entry& after) {
  return after.seq == before.seq + 1 && after.prev == before.hash;
}

std::string place(std::uint64_t line) {
  return line == 0 ? std::string("the start of the log") : fmt::format("line {}", line);
}

void lock_exclusive(int fd, const std::filesystem::path& file) {
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) throw_errno(file, "lock");
  }
}

void pread_exactly(int fd, char* out, std::size_t size, off_t offset,
                   const std::filesystem::path& file) {
  if (read_exact(fd, out, size, static_cast<std::uint64_t>(offset))) return;
  if (errno != 0) throw_errno(file, "read");
  throw state_error(fmt::format("audit log {}: shrank while locked", file.string()));
}

// The last line's bytes (without '\n'), read backwards in chunks so appending
// costs the same on a 1 GB log as on an empty one. The caller checked that the
// file ends with '\n'.
std::string read_last_line(int fd, off_t size, const std::filesystem::path& file) {
  std::vector<std::string> chunks;  // last chunk first
  off_t end = size - 1;             // drop the final '\n'
  // A line is most often well under 4 KiB: the first read is that small (a
  // zero-filled 64 KiB buffer cost every append 16 fresh pages), later ones
  // double up to kTailChunk.
  std::size_t chunk_size = 4096;
  while (end > 0) {
    off_t begin = std::max<off_t>(0, end - static_cast<off_t>(chunk_size));
    chunk_size = std::min(2 * chunk_size, kTailChunk);
    std::string chunk(static_cast<std::size_t>(end - begin), '\0');
    pread_exactly(fd, chunk.data(), chunk.size(), begin, file);
    auto newline = chunk.rfind('\n');
    if (newline != std::string::npos) {
      chunks.push_back(chunk.substr(newline + 1));
      break;
    }
    chunks.push_back(std::move(chunk));
    end = begin;
  }
  std::string line;
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) line += *it;
  return line;
}

// The seq and hash the next line chains to. Refuses a damaged tail: extending
// it would bury the damage under a line that looks valid.
Entry read_chain_head(int fd, off_t size, const std::filesystem::path& file) {
  if (size == 0) return Entry{0, 0, "", kGenesisHash, ""};
  char last = 0;
  pread_exactly(fd, &last, 1, size - 1, file);
  if (last != '\n') {
    throw state_error(fmt::format(
        "audit log {}: the last line is incomplete (a write was cut short); run "
        "`dihya-host audit verify` and repair the log before new runs can be audited",
        file.string()));
  }
  std::string raw = read_last_line(fd, size, file);
  std::string why;
  auto head = parse_entry(raw, 0, why);
  if (!head) {
    throw state_error(fmt::format(
        "audit log {}: the last line is damaged ({}); run `dihya-host audit verify`",
        file.string(), why));
  }
  return *head;
}

// No line the host writes comes near this: a run's summary is cut to a
// frame's 16 MiB, at most 6 bytes a byte once escaped. A longer line is
// damage, reported as such; reading it whole could exhaust memory.
constexpr std::size_t kMaxLineBytes = 128u << 20;

// Reads '\n'-terminated lines, with one line of look-ahead. A line longer
// than kMaxLineBytes is read past, not kept: `too_long` says so.
class LineReader {
 public:
  struct Line {
    std::string bytes;
    bool terminated = true;  // false: the file ends without '\n'
    bool too_long = false;   // bytes holds none of it
  };

  explicit LineReader(std::istream& in) : in_(in) {}

  std::optional<Line> next() {
    if (peeked_) return std::exchange(peeked_, std::nullopt);
    return read();
  }

  const std::optional<Line>& peek() {
    if (!peeked_) peeked_ = read();
    return peeked_;
  }

 private:
  // istream::getline into a fixed buffer, piece by piece: it stores at most
  // size - 1 bytes a call (NUL bytes included: gcount() counts them) and
  // sets failbit when it stopped there, with more of the line to come.
  std::optional<Line> read() {
    Line line;
    bool any = false;
    for (;;) {
      in_.getline(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
      const auto got = static_cast<std::size_t>(in_.gcount());
      any = any || got > 0;
      const bool full = in_.fail() && !in_.eof() && got == buffer_.size() - 1;
      const bool newline = !in_.fail() && !in_.eof();
      const std::size_t stored = newline ? got - 1 : got;
      if (!line.too_long) {
        if (line.bytes.size() + stored > kMaxLineBytes) {
          line.too_long = true;
          line.bytes.clear();
          line.bytes.shrink_to_fit();
        } else {
          line.bytes.append(buffer_.data(), stored);
        }
      }
      if (full) {
        in_.clear(in_.rdstate() & ~std::ios::failbit);
        continue;
      }
      if (!any) return std::nullopt;
      line.terminated = newline;
      if (!newline) in_.clear(in_.rdstate() & ~std::ios::failbit);  // eof, not an error
      return line;
    }
  }

  std::istream& in_;
  std::array<char, 64 * 1024> buffer_{};
  std::optional<Line> peeked_;
};

// The cross-check of AuditLog::verify(): each line of the file, in order,
// against the state log's copies (read forward alongside, so that memory
// stays flat whatever the history's length).
class CopyCheck {
 public:
  // `covered`: the file's size when the copies were opened; a line past it
  // may have been written after, its copy not among them.
  CopyCheck(const std::filesystem::path& file, CarriedCopies& copies, std::uint64_t covered)
      : file_(file), copies_(copies), covered_(covered), copy_(copies.next()) {
    if (copy_) first_copied_ = copy_->seq;
  }

  // Line `entry` of the file (`raw`: its bytes), which ends at byte `end`;
  // the chain up to it holds.
  void line(const Entry& entry, const std::string& raw, std::uint64_t end) {
    // A copy of seq 0 (no line has it) was never one the host carried.
    while (copy_ && copy_->seq < entry.seq) copy_ = copies_.next();
    if (copy_ && copy_->seq == entry.seq) {
      ++out_.lines;
      if (copy_->text != raw) differs(entry);
      copy_ = copies_.next();
      return;
    }
    if (entry.event == "history.prune") pruned(raw);
    const bool carried_kind = entry.event == "run.start" || entry.event == "run.end";
    if (carried_kind && first_copied_ && entry.seq > *first_copied_ && end <= covered_) {
      uncarried_.push_back({entry.line, entry.seq, entry.event, text_at(data_of(raw), "run_id")});
    }
  }

  // After the last line (`last`: its seq and hash; seq 0 for an empty file).
  // `may_lack`: a power loss may have kept the file's last lines only in the
  // state log.
  AuditVerifyReport::Carried finish(const Entry& last, bool may_lack) {
    if (!uncarried_.empty() && (!out_.first_bad_line || uncarried_.front().line < *out_.first_bad_line)) {
      const Uncarried& first = uncarried_.front();
      fail(first.line,
           fmt::format("line {} (seq {}, {} of run {}) is not carried by the state log {}, which carries every "
                       "run's lines after seq {} but those of the runs a history.prune line removed (the state log "
                       "was cut, or its entry taken out)",
                       first.line, first.seq, first.event, first.run_id, copies_.source(), *first_copied_));
    }
    std::optional<CarriedCopy> first_past;
    std::uint64_t past = 0;
    std::uint64_t last_past = 0;
    for (; copy_; copy_ = copies_.next()) {
      if (past++ == 0) first_past = copy_;
      last_past = copy_->seq;
    }
    if (past == 0) return out_;
    // The line of a host that died, or failed to write, between the state
    // log and this file: the next append takes its seq.
    std::string why;
    const auto unwritten = past == 1 ? parse_entry(first_past->text, 0, why) : std::nullopt;
    const bool one_unwritten = unwritten && follows(last, *unwritten);
    if (may_lack || one_unwritten) {
      out_.past_end = past;
    } else if (!out_.first_bad_line) {
      fail(last.line + 1,
           fmt::format("lines missing at the end: the log ends at seq {} but the state log {} carries {} line(s) "
                       "after it, seq {} to {} (the tail was cut and its head record rewritten)",
                       last.seq, copies_.source(), past, first_past->seq, last_past));
    }
    return out_;
  }

 private:
  void differs(const Entry& entry) {
    if (out_.first_bad_line) return;
    const bool intact = copies_.intact(*copy_);
    fail(entry.line,
         fmt::format("line {} (seq {}) differs from the copy the state log carries (the entry at byte {} of {}{})",
                     entry.line, entry.seq, copy_->entry, copies_.source(),
                     intact ? ": one of the two was edited" : ", whose checksum fails: that entry was damaged or edited"));
  }

  // A run line the state log does not carry (yet: a later prune may name its run).
  struct Uncarried {
    std::uint64_t line;
    std::uint64_t seq;
    std::string event;
    std::string run_id;
  };

  static Json data_of(const std::string& raw) {
    const Json doc = Json::parse(raw, nullptr, false);
    return doc.is_object() && doc.contains("data") && doc["data"].is_object() ? doc["data"] : Json::object();
  }

  static std::string text_at(const Json& data, const char* key) {
    return data.contains(key) && data[key].is_string() ? data[key].get<std::string>() : std::string();
  }

  // A prune removed the state log's copies of the runs it names: their ids,
  // or only the first and last when it removed more than a thousand (run
  // ids sort by time: those between may have been removed).
  void pruned(const std::string& raw) {
    const Json data = data_of(raw);
    std::function<bool(const Uncarried&)> removed;
    if (data.contains("ids") && data["ids"].is_array()) {
      std::set<std::string> ids;
      for (const Json& id : data["ids"]) {
        if (id.is_string()) ids.insert(id.get<std::string>());
      }
      removed = [ids = std::move(ids)](const Uncarried& u) { return ids.count(u.run_id) != 0; };
    } else {
      removed = [first = text_at(data, "first"), last = text_at(data, "last")](const Uncarried& u) {
        return first <= u.run_id && u.run_id <= last;
      };
    }
    uncarried_.erase(std::remove_if(uncarried_.begin(), uncarried_.end(), removed), uncarried_.end());
  }

  void fail(std::uint64_t line, const std::string& problem) {
    out_.first_bad_line = line;
    out_.problem = fmt::format("{}: {}", file_.string(), problem);
  }

  const std::filesystem::path& file_;
  CarriedCopies& copies_;
  std::uint64_t covered_;
  std::optional<CarriedCopy> copy_;
  std::optional<std::uint64_t> first_copied_;
  std::vector<Uncarried> uncarried_;  // in the file's order
  AuditVerifyReport::Carried out_;
};

class ChainVerifier {
 public:
  ChainVerifier(const std::filesystem::path& file, std::istream& in, std::uint64_t anchor_seq,
                CopyCheck* copies = nullptr)
      : file_(file), lines_(in), anchor_seq_(anchor_seq), copies_(copies) {}

  // The hash of the line whose seq is the anchor's, once run() read it.
  const std::string& anchor_hash() const { return anchor_hash_; }
  // The last line read whole (line 0, seq 0 for an empty file).
  const Entry& last() const { return last_; }

  AuditVerifyReport run() {
    Entry before{0, 0, "", kGenesisHash, ""};
    std::optional<Entry> before_that;
    std::uint64_t end = 0;
    while (auto raw = lines_.next()) {
      std::uint64_t k = ++report_.lines;
      if (raw->too_long) {
        return fail(k, fmt::format("line {} is longer than {} MiB, which no line the host writes is (the file "
                                   "was damaged or written by another program)", k, kMaxLineBytes >> 20));
      }
      if (!raw->terminated) {
        return fail(k, fmt::format("line {} is truncated: the file ends without a newline "
                                   "(a write cut short by a crash or a full disk, or the file "
                                   "was cut)", k));
      }
      end += raw->bytes.size() + 1;
      std::string why;
      auto current = parse_entry(raw->bytes, k, why);
      if (!current) return unparseable(before, k, why);
      if (!follows(before, *current)) return broken_link(before_that, before, *current);
      if (copies_) copies_->line(*current, raw->bytes, end);
      before_that = std::move(before);
      before = std::move(*current);
      report_.head_sha256 = before.hash;
      report_.last_seq = before.seq;
      if (before.seq == anchor_seq_) anchor_hash_ = before.hash;
    }
    last_ = before;
    return report_;
  }

 private:
  // The next line, parsed, when it is complete and valid: the evidence that
  // tells an edit from an insertion or a swap.
  std::optional<Entry> look_ahead(std::uint64_t line) {
    const auto& raw = lines_.peek();
    if (!raw || !raw->terminated || raw->too_long) return std::nullopt;
    std::string ignored;
    return parse_entry(raw->bytes, line, ignored);
  }

  AuditVerifyReport unparseable(const Entry& before, std::uint64_t k, const std::string& why) {
    auto after = look_ahead(k + 1);
    if (after && follows(before, *after)) {
      return fail(k, fmt::format("line {} was inserted: it is {} and line {} chains to {}", k,
                                 why, k + 1, place(k - 1)));
    }
    return fail(k, fmt::format("line {} was edited or damaged: it is {}", k, why));
  }

  // `current` (line k) does not chain to `before` (line k-1). The order of the
  // tests matters: each relies on the previous ones having failed.
  AuditVerifyReport broken_link(const std::optional<Entry>& before_that, const Entry& before,
                                const Entry& current) {
    const std::uint64_t k = current.line;
    auto after = look_ahead(k + 1);
    if (after && follows(before, *after) && follows(*after, current)) {
      return fail(k, fmt::format("lines {} and {} are swapped: line {} chains to {} and line {} "
                                 "to line {}", k, k + 1, k + 1, place(k - 1), k, k + 1));
    }
    if (after && follows(before, *after)) {
      return fail(k, fmt::format("line {} was inserted: line {} chains to {}, skipping it", k,
                                 k + 1, place(k - 1)));
    }
    if (before_that && follows(*before_that, current)) {
      // The inserted line copied a valid prev and seq, so it was accepted.
      return fail(k - 1, fmt::format("line {} was inserted: line {} chains to {}, skipping it",
                                     k - 1, k, place(k - 2)));
    }
    if (current.seq == before.seq + 1) return wrong_prev(before, current, after);
    if (current.prev == before.hash) {
      return fail(k, fmt::format("line {} was edited: it chains to {} but its seq is {} instead "
                                 "of {}", k, place(k - 1), current.seq, before.seq + 1));
    }
    if (current.seq <= before.seq) {
      return fail(k, fmt::format("line {} is out of order: its seq {} does not follow seq {} of "
                                 "{} (a line inserted, duplicated or moved here)", k, current.seq,
                                 before.seq, place(k - 1)));
    }
    return fail(k, fmt::format("{} line(s) missing before line {}: seq jumps from {} to {} "
                               "(lines dropped, or line {} was moved here)",
                               current.seq - before.seq - 1, k, before.seq, current.seq, k));
  }

  // Right seq, wrong prev: either line k-1's bytes changed (line k still chains
  // to k+1, or is last) or line k's own prev was changed (k+1 no longer chains
  // to it either).
  AuditVerifyReport wrong_prev(const Entry& before, const Entry& current,
                               const std::optional<Entry>& after) {
    const std::uint64_t k = current.line;
    const bool is_last = !lines_.peek().has_value();
    const bool vouched = after && follows(current, *after);
    if (before.line == 0) {
      return fail(k, fmt::format("line {} was edited: as the first line its prev must be 64 "
                                 "zeros", k));
    }
    if (vouched || is_last) {
      return fail(k - 1, fmt::format("line {} was edited: its SHA-256 no longer matches the prev "
                                     "recorded in line {}{}", k - 1, k,
                                     is_last ? fmt::format(" (or line {} was added by hand)", k)
                                             : std::string()));
    }
    return fail(k, fmt::format("line {} was edited: it no longer chains to line {} and line {} "
                               "no longer chains to it", k, k - 1, k + 1));
  }

  AuditVerifyReport fail(std::uint64_t line, std::string problem) {
    report_.ok = false;
    report_.first_bad_line = line;
    report_.problem = fmt::format("{}: {}", file_.string(), problem);
    return report_;
  }

  const std::filesystem::path& file_;
  LineReader lines_;
  AuditVerifyReport report_;
  std::uint64_t anchor_seq_;
  std::string anchor_hash_;
  CopyCheck* copies_;
  Entry last_;
};

// The state dir may be writable by someone else (a mistake the host refuses
// elsewhere): the log and its head are opened relative to a descriptor of
// their directory and never through a symlink.
UniqueFd open_directory_of(const std::filesystem::path& file) {
  const auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno(file, "open its directory");
  return fd;
}

[[noreturn]] void throw_open_error(const std::filesystem::path& file) {
  if (errno == ELOOP) {
    throw state_error(fmt::format("audit log {}: is a symlink; refusing to follow it (remove it: the "
                                         "audit files are never links)", file.string()));
  }
  throw_errno(file, "open");
}

struct stat require_regular(int fd, const std::filesystem::path& file) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw_errno(file, "stat");
  if (!S_ISREG(st.st_mode)) {
    throw state_error(fmt::format("audit log {}: is not a regular file", file.string()));
  }
  return st;
}

// The host's own log, before it writes to it: a regular file of this user
// that nobody else may write. As root the state dir is 0711, so another user
// who owns the file, or may write it, could add lines (and their chain) that
// verify. (`audit verify --file` reads anyone's copy.)
void require_own(int fd, const std::filesystem::path& file) {
  const struct stat st = require_regular(fd, file);
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw state_error(fmt::format("audit log {}: owned by uid {} with mode {:04o}, not this user's alone: another "
                                  "user may have written it; keep it as evidence, then move it away",
                                  file.string(), st.st_uid, st.st_mode & 07777));
  }
}

struct HeadRecord {
  std::uint64_t seq = 0;
  std::string sha256;
  std::string boot;  // the boot it was written in (audit_boot_tag()); empty when it does not say
};

}  // namespace

std::string audit_boot_tag() {
  std::string tag;
  for (char c : current_boot_id()) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) tag.push_back(c);
    if (tag.size() == 16) break;
  }
  return tag.size() == 16 ? tag : std::string();
}

namespace {

// The head record is one line padded with spaces to a fixed size, so that it
// can be rewritten in place. "check" (the first 16 hex digits of the SHA-256
// of "<seq>:<sha256>") tells a whole record from one a crash or a concurrent
// reader caught half rewritten.
constexpr std::size_t kHeadBytes = 160;

std::string head_check(std::uint64_t seq, const std::string& sha256) {
  return sha256_hex(fmt::format("{}:{}", seq, sha256)).substr(0, 16);
}

std::string format_head(const Entry& last) {
  std::string text = fmt::format(R"({{"seq":{},"sha256":"{}","check":"{}","boot":"{}"}})", last.seq, last.hash,
                                 head_check(last.seq, last.hash), audit_boot_tag());
  text.resize(kHeadBytes - 1, ' ');  // at most 157 bytes before the padding (seq has at most 20 digits)
  text.push_back('\n');
  return text;
}

// Rewrites the head record in place when the file is the one this host wrote
// (a regular file of ours, of the fixed size, with no other link: nothing
// planted under the head's name is written through), else replaces it
// (replace_file_at: a fresh O_EXCL temporary file renamed over). Creating a
// file and dropping the replaced one cost two inodes per append, most of an
// append's CPU on ext4; an overwrite of the same bytes costs none.
// Neither the file nor the directory is synced: the head only has to be no
// further than the durable lines, and the line was made durable first (in
// this file or in the state log, whose copies complete it). A crash can lose
// the last rewrites (an older head, which verify accepts: a log ahead of its
// head), leave a record half rewritten (its check fails: read as no head) or,
// on a file system that persists a rename before the data it names, leave an
// empty head, which reads as no head. None hides a cut: whoever can cut the
// log can move or delete its head anyway (see the header). Not syncing the
// head saves one journal commit per append, two per run.
void write_head(int dir_fd, const std::filesystem::path& file, const Entry& last) {
  const auto head = audit_head_file(file);
  const std::string text = format_head(last);
  UniqueFd fd(::openat(dir_fd, head.filename().c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st{};
  if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == ::geteuid() &&
      st.st_size == static_cast<off_t>(kHeadBytes) &&
      ::pwrite(fd.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size())) {
    return;
  }
  fd.reset();
  if (const std::error_code ec =
          replace_file_at(dir_fd, head.filename().string(), text, 0600, Durability::kAtomicOnly)) {
    errno = ec.value();
    throw_errno(head, "replace");
  }
}

// Reads the head record; nullopt when there is none. Throws when it exists
// but is a link, unreadable or malformed.
std::optional<HeadRecord> read_head(int dir_fd, const std::filesystem::path& file) {
  const auto head = audit_head_file(file);
  UniqueFd fd(::openat(dir_fd, head.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ENOENT) return std::nullopt;
  if (!fd) throw_open_error(head);
  require_regular(fd.get(), head);
  char buffer[512];
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno(head, "read");
  // Empty: its last replacement was renamed into place but its bytes were
  // lost in a crash (see write_head), the same as no head.
  if (n == 0) return std::nullopt;
  const Json doc = Json::parse(std::string(buffer, static_cast<std::size_t>(n)), nullptr, false);
  if (!doc.is_object() || !doc.contains("seq") || !doc["seq"].is_number_unsigned() || !doc.contains("sha256") ||
      !is_hex64(doc["sha256"]) || (doc.contains("check") && !doc["check"].is_string())) {
    throw state_error(fmt::format("audit head {}: damaged (expected {{\"seq\":N,\"sha256\":\"<64 hex>\"}})",
                                         head.string()));
  }
  HeadRecord record{doc["seq"].get<std::uint64_t>(), doc["sha256"].get<std::string>(),
                    doc.contains("boot") && doc["boot"].is_string() ? doc["boot"].get<std::string>() : ""};
  // A record caught half rewritten (see write_head), the same as no head.
  // Heads written before the check have none.
  if (doc.contains("check") && doc["check"].get<std::string>() != head_check(record.seq, record.sha256)) {
    return std::nullopt;
  }
  return record;
}

// The last whole line of the file that is an entry, and the offset after its
// '\n' in *end: the last line, or, when the file ends in a torn or damaged
// line (a power loss before the file was flushed: a line cut short or a tail
// of zeros), the last good line within kTailScan bytes of the end. Nothing
// when there is none there.
constexpr std::uint64_t kTailScan = 1 << 20;
std::optional<Entry> last_whole_entry(int fd, off_t size, off_t* end, const std::filesystem::path& file) {
  char last = 0;
  pread_exactly(fd, &last, 1, size - 1, file);
  std::string why;
  if (last == '\n') {
    if (auto entry = parse_entry(read_last_line(fd, size, file), 0, why)) {
      *end = size;
      return entry;
    }
  }
  std::optional<Entry> found;
  const bool read = for_each_line_backward(
      fd, static_cast<std::uint64_t>(size), kTailScan, kTailScan, [&](std::string_view line, std::uint64_t after) {
        found = parse_entry(std::string(line), 0, why);
        if (found) *end = static_cast<off_t>(after);
        return !found;
      });
  if (!read && errno != 0) throw_errno(file, "read");
  if (!read) throw state_error(fmt::format("audit log {}: shrank while locked", file.string()));
  return found;
}

// Whether this file may lack lines that the state log carries: only after a
// power loss (or an operating system crash), since a line is written here
// right after it is carried, and a host killed in between leaves a line that
// never counted (its run did not start; the next append takes its seq). So:
// unless the head record was written in this boot. A head of another boot, or
// none (a crash can leave it half rewritten), lets the file be completed; one
// that says nothing of its boot (written by an older version, or by hand)
// does not, unless this boot's id cannot be read (no /proc): then nothing
// tells a power loss from a cut, and the lines are restored rather than a
// torn tail left to stop every run.
bool may_lack_carried_lines(const std::optional<HeadRecord>& head) {
  const std::string tag = audit_boot_tag();
  return !head || tag.empty() || (!head->boot.empty() && head->boot != tag);
}

// Under the lock, after a power loss: appends the lines the state log carries
// after the file's last whole line, as far as they chain onto it, in place of
// a torn tail, and flushes them. Returns how many. Of two carried lines with
// the same seq, the later wins (the earlier was carried by a host killed
// before writing it here). A new or empty file is not completed (its first
// line is always flushed here), nor one whose last line the carried lines do
// not follow (the log was moved away and a new one started: the state log
// still carries the old one's lines).
std::uint64_t complete_locked(int fd, struct stat& st, const std::filesystem::path& file,
                              const AuditLog::CarriedLines& carried_lines) {
  if (!carried_lines || st.st_size == 0) return 0;
  off_t end = 0;
  const std::optional<Entry> last = last_whole_entry(fd, st.st_size, &end, file);
  if (!last) return 0;
  std::map<std::uint64_t, std::pair<std::string, Entry>> by_seq;
  for (std::string& raw : carried_lines(last->seq + 1)) {
    std::string why;
    if (auto entry = parse_entry(raw, 0, why)) by_seq[entry->seq] = {std::move(raw), *entry};
  }
  std::string bytes;
  std::uint64_t copied = 0;
  Entry at = *last;
  for (auto it = by_seq.find(at.seq + 1); it != by_seq.end() && follows(at, it->second.second);
       it = by_seq.find(at.seq + 1)) {
    bytes += it->second.first;
    bytes += '\n';
    at = it->second.second;
    ++copied;
  }
  if (copied == 0) return 0;
  if (end < st.st_size && ::ftruncate(fd, end) != 0) throw_errno(file, "cut its torn tail");
  if (const std::error_code ec = write_all(fd, bytes)) {
    const bool cut = ::ftruncate(fd, end) == 0;
    errno = ec.value();
    throw_errno(file, cut ? "copy the lines the state log carries"
                          : "copy the lines the state log carries (a partial line is left)");
  }
  if (::fsync(fd) != 0) throw_errno(file, "sync");
  if (::fstat(fd, &st) != 0) throw_errno(file, "stat");
  return copied;
}

// The problem of AuditLog::last_line_against_carried() for the open file.
std::string carried_mismatch(int fd, off_t size, const std::filesystem::path& file,
                             const AuditLog::CarriedLines& carried_lines) {
  if (!carried_lines || size == 0) return "";
  char last = 0;
  pread_exactly(fd, &last, 1, size - 1, file);
  if (last != '\n') return "";  // a torn tail: the chain check names it
  const std::string raw = read_last_line(fd, size, file);
  std::string why;
  const auto entry = parse_entry(raw, 0, why);
  if (!entry || (entry->event != "run.start" && entry->event != "run.end")) return "";
  bool carried = false;
  for (const std::string& line : carried_lines(entry->seq)) {
    const auto copy = parse_entry(line, 0, why);
    if (!copy || copy->seq != entry->seq) continue;
    if (line == raw) return "";
    carried = true;
  }
  if (!carried) return "";
  return fmt::format("{}: its last line (seq {}) differs from the copy the state log carries (the line was "
                     "edited)",
                     file.string(), entry->seq);
}

// Whether the state log carries a line that follows `head`, the file's last
// line: one whose host was killed, or whose write failed, before it reached
// this file (in this boot: see may_lack_carried_lines). The next append takes
// its seq.
bool carries_next(const Entry& head, const AuditLog::CarriedLines& carried_lines) {
  if (!carried_lines) return false;
  for (const std::string& raw : carried_lines(head.seq + 1)) {
    std::string why;
    if (const auto copy = parse_entry(raw, 0, why); copy && follows(head, *copy)) return true;
  }
  return false;
}

}  // namespace

AuditLog::AuditLog(std::filesystem::path file, bool to_syslog, CarriedLines carried_lines,
                   OpenCarriedCopies open_copies, OpenCarrier open_carrier)
    : file_(std::move(file)), to_syslog_(to_syslog), carried_lines_(std::move(carried_lines)),
      open_copies_(std::move(open_copies)), open_carrier_(std::move(open_carrier)) {}

std::uint64_t AuditLog::complete(const std::function<void()>& fn) {
  const UniqueFd dir = open_directory_of(file_);
  UniqueFd fd(::openat(dir.get(), file_.filename().c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno != ENOENT) throw_open_error(file_);
  std::uint64_t copied = 0;
  if (fd) {
    require_own(fd.get(), file_);
    lock_exclusive(fd.get(), file_);
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) throw_errno(file_, "stat");
    const std::optional<HeadRecord> anchor = read_head(dir.get(), file_);
    const bool may_lack = may_lack_carried_lines(anchor);
    if (may_lack) copied = complete_locked(fd.get(), st, file_, carried_lines_);
    if (::fsync(fd.get()) != 0) throw_errno(file_, "sync");
    // The head moves to this boot (from here on nothing is missing but by a
    // cut), never backwards: a head ahead of the log is evidence. A log that
    // has none (deleted, or failing its check) gets none here unless lines
    // were copied in: `audit verify` calls this, and must go on saying "not
    // anchored" rather than anchor whatever the log now holds.
    if (may_lack && st.st_size > 0 && (anchor || copied > 0)) {
      const Entry last = read_chain_head(fd.get(), st.st_size, file_);
      // With no head, an edited last line is not anchored anew: it is evidence.
      const bool anchorable =
          anchor ? anchor->seq < last.seq || (anchor->seq == last.seq && anchor->sha256 == last.hash)
                 : carried_mismatch(fd.get(), st.st_size, file_, carried_lines_).empty();
      if (anchorable) write_head(dir.get(), file_, last);
    }
  }
  if (fn) fn();
  return copied;
}

std::string AuditLog::last_event_of_run(const std::string& run_id, const std::string& prefix) const {
  const UniqueFd dir = open_directory_of(file_);
  UniqueFd fd(::openat(dir.get(), file_.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ENOENT) return "";
  if (!fd) throw_open_error(file_);
  const struct stat st = require_regular(fd.get(), file_);
  // Only the lines that name the run are parsed.
  const std::string key = "\"run_id\":" + Json(run_id).dump();
  std::string found;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const bool read = for_each_line_backward(fd.get(), size, size, kMaxLineBytes, [&](std::string_view line, std::uint64_t) {
    if (line.find(key) == std::string_view::npos) return true;
    const std::string raw(line);
    std::string why;
    const auto entry = parse_entry(raw, 0, why);
    if (!entry || entry->event.compare(0, prefix.size(), prefix) != 0) return true;
    const Json doc = Json::parse(raw, nullptr, false);
    const auto data = doc.find("data");
    if (data == doc.end() || !data->is_object() || !data->contains("run_id") || (*data)["run_id"] != run_id) {
      return true;
    }
    found = entry->event;
    return false;
  });
  if (!read) throw_errno(file_, "read");
  return found;
}

std::filesystem::path audit_head_file(const std::filesystem::path& file) {
  return std::filesystem::path(file.string() + ".head");
}

std::uint64_t AuditLog::append(const std::string& event, const nlohmann::json& data, Carrier* carrier) {
  const UniqueFd dir = open_directory_of(file_);
  const std::string name = file_.filename().string();
  // The file most often exists: opened first, created (O_EXCL) only when
  // missing, and opened again when another process created it meanwhile.
  bool created = false;
  UniqueFd fd(::openat(dir.get(), name.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    fd.reset(::openat(dir.get(), name.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    created = static_cast<bool>(fd);
    if (!fd && errno == EEXIST) {
      fd.reset(::openat(dir.get(), name.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    }
  }
  if (!fd) throw_open_error(file_);
  require_own(fd.get(), file_);

  // The lock spans read-the-head to write, so no other appender can chain to
  // the same head. It is released when fd closes, even if we throw.
  lock_exclusive(fd.get(), file_);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw_errno(file_, "stat");
  const std::optional<HeadRecord> anchor = read_head(dir.get(), file_);
  if (may_lack_carried_lines(anchor)) complete_locked(fd.get(), st, file_, carried_lines_);
  Entry head = read_chain_head(fd.get(), st.st_size, file_);
  // A log cut short (or deleted and started again) must not be extended: the
  // next line would rewrite the head record, the only trace of the cut.
  if (anchor && (anchor->seq > head.seq || (anchor->seq == head.seq && anchor->sha256 != head.hash))) {
    throw state_error(fmt::format(
        "audit log {}: ends at seq {} but its head record {} says seq {}: lines were removed; run `dihya-host "
        "audit verify`, keep both files as evidence, then move them away to start a new log",
        file_.string(), head.seq, audit_head_file(file_).string(), anchor->seq));
  }
  // With no head record (gone, or damaged), the state log's copy of the last
  // line is its only anchor: an edited one must not be buried under a new line.
  if (!anchor) {
    if (const std::string problem = carried_mismatch(fd.get(), st.st_size, file_, carried_lines_); !problem.empty()) {
      throw state_error(problem + "; a log whose last line was edited is never extended: run `dihya-host audit "
                                  "verify`, keep the file as evidence, then move it away to start a new log");
    }
  }
  // A line no caller carries that takes the seq of a carried line this file
  // lacks is carried too (OpenCarrier): the state log's copy of its seq is
  // then its own, not the lost line's.
  std::unique_ptr<Carrier> own_carrier;
  if (!carrier && open_carrier_ && carries_next(head, carried_lines_)) {
    own_carrier = open_carrier_();
    carrier = own_carrier.get();
  }
  std::string line = format_line(head.seq + 1, format_iso_utc(std::chrono::system_clock::now()),
                                 head.hash, event, data);
  // Carried first, so that the state log's flush covers every line written
  // here; a host killed before the write below leaves a line of a run that
  // never started in the state log only, and the next append takes its seq.
  if (carrier) carrier->carry(line, head.seq + 1);
  line.push_back('\n');

  ssize_t written;
  do {
    written = ::write(fd.get(), line.data(), line.size());
  } while (written < 0 && errno == EINTR);
  if (written != static_cast<ssize_t>(line.size())) {
    int saved = written < 0 ? errno : ENOSPC;
    // Still under the lock: cutting the partial line leaves the chain intact.
    bool cut = ::ftruncate(fd.get(), st.st_size) == 0;
    throw state_error(fmt::format(
        "audit log {}: cannot append: {}{}", file_.string(), std::strerror(saved),
        cut ? "" : " (a partial line is left at the end: `dihya-host audit verify` shows it)"));
  }
  line.pop_back();
  const Entry appended{0, head.seq + 1, head.hash, sha256_hex(line), event};
  if (carrier && !created) {
    // Flushed by the carrier outside the lock: the next appender chains to
    // this line as soon as it is written, and concurrent runs' flushes
    // overlap instead of queueing behind the lock (a job burst of the
    // scheduler). Each appender still returns only once its own line is
    // durable: the state log's fdatasync flushes every line carried before.
    if (::flock(fd.get(), LOCK_UN) != 0) throw_errno(file_, "unlock");
    carrier->sync();
    // The head only moves forward: under the lock again, it is rewritten
    // unless a later appender has already written a later one. While the log
    // still ends with this line nobody has (a later head follows a later
    // line), so the head is only read when the log grew meanwhile.
    lock_exclusive(fd.get(), file_);
    struct stat now{};
    if (::fstat(fd.get(), &now) != 0) throw_errno(file_, "stat");
    const bool grew = now.st_size != st.st_size + written;
    if (const auto current = grew ? read_head(dir.get(), file_) : std::nullopt;
        !current || current->seq < appended.seq) {
      write_head(dir.get(), file_, appended);
    }
  } else {
    // Flushed under the lock: a line carried after this one is durable only
    // in the state log, and must not chain onto a line that is nowhere on
    // disk yet. A new file's first line is flushed here too, with the file's
    // name, so that a file is never completed from nothing.
    if (::fsync(fd.get()) != 0) throw_errno(file_, "sync");
    if (created && ::fsync(dir.get()) != 0) throw_errno(file_, "sync its directory");
    if (carrier) carrier->sync();
    write_head(dir.get(), file_, appended);
  }
  if (to_syslog_) {
    ::openlog("dihya-host", LOG_PID, LOG_AUTHPRIV);
    ::syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line.c_str());
  }
  return appended.seq;
}

namespace {

// verify_audit_log(), and with `open_copies` the cross-check of AuditLog::verify().
AuditVerifyReport verify_file(const std::filesystem::path& file, const AuditLog::OpenCarriedCopies* open_copies) {
  const UniqueFd dir = open_directory_of(file);
  const std::optional<HeadRecord> head = read_head(dir.get(), file);
  const std::string head_name = audit_head_file(file).string();
  UniqueFd fd(::openat(dir.get(), file.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    AuditVerifyReport report;
    if (head && head->seq > 0) {
      report.ok = false;
      report.first_bad_line = 1;
      report.problem = fmt::format("{}: the log is missing: its head record {} says {} line(s) were written "
                                   "(the file was deleted or moved)", file.string(), head_name, head->seq);
    }
    return report;
  }
  if (!fd) throw_open_error(file);
  require_regular(fd.get(), file);
  // The copies are opened under the lock appenders take (shared: only for
  // that moment), so they hold every line the file has up to `covered`.
  std::unique_ptr<CarriedCopies> copies;
  std::uint64_t covered = 0;
  if (open_copies != nullptr && *open_copies) {
    while (::flock(fd.get(), LOCK_SH) != 0) {
      if (errno != EINTR) throw_errno(file, "lock");
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) throw_errno(file, "stat");
    covered = static_cast<std::uint64_t>(st.st_size);
    copies = (*open_copies)();
    if (::flock(fd.get(), LOCK_UN) != 0) throw_errno(file, "unlock");
  }
  std::optional<CopyCheck> copy_check;
  if (copies) copy_check.emplace(file, *copies, covered);
  // Read through the descriptor just checked, not the name again.
  std::ifstream in("/proc/self/fd/" + std::to_string(fd.get()), std::ios::binary);
  if (!in) throw_errno(file, "open");
  ChainVerifier verifier(file, in, head ? head->seq : 0, copy_check ? &*copy_check : nullptr);
  AuditVerifyReport report = verifier.run();
  if (in.bad()) throw_errno(file, "read");
  if (report.ok && copy_check) report.carried = copy_check->finish(verifier.last(), may_lack_carried_lines(head));
  if (!report.ok || !head) return report;

  auto fail = [&](std::uint64_t line, std::string problem) {
    report.ok = false;
    report.first_bad_line = line;
    report.problem = fmt::format("{}: {}", file.string(), problem);
    return report;
  };
  if (head->seq > report.last_seq) {
    return fail(report.lines + 1,
                fmt::format("{} line(s) missing at the end: the log ends at seq {} but its head record {} says "
                            "seq {} (the tail was cut)", head->seq - report.last_seq, report.last_seq, head_name,
                            head->seq));
  }
  if (verifier.anchor_hash() != head->sha256) {
    return fail(report.lines, fmt::format("the line of seq {} does not match the SHA-256 in the head record {} "
                                          "(the log was rewritten or its last line replaced)", head->seq, head_name));
  }
  report.anchored = true;
  return report;
}

}  // namespace

AuditVerifyReport verify_audit_log(const std::filesystem::path& file) { return verify_file(file, nullptr); }

AuditVerifyReport AuditLog::verify() const { return verify_file(file_, &open_copies_); }

}  // namespace dihya::host
