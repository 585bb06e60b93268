// SPDX-License-Identifier: AGPL-3.0-or-later
// The state log and its index. The log is the truth; the index is a cache any
// reader may rebuild, so only the log is ever fsynced.
#include "runs/run_log.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <random>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dihya/json_text.hpp>
#include <fmt/format.h>

#include "errors.hpp"
#include "runs/run_id.hpp"
#include "util/json_text_of.hpp"
#include "util/line_tail.hpp"
#include "util/unique_fd.hpp"
#include "util/utc_time.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kPrefix = 18;                    // "<len:8> <crc:8> "
constexpr std::size_t kMaxLine = 64u * 1024 * 1024;    // a hostile length never becomes an allocation
constexpr char kIndexMagic[8] = {'D', 'I', 'H', 'Y', 'A', 'I', 'X', '1'};

struct IndexHeader {
  char magic[8];
  std::uint32_t entry_size;
  std::uint32_t reserved;
  std::uint64_t log_id;
  std::uint64_t covered;  // bytes of the log the entries reflect
  std::uint64_t count;
  std::uint64_t damaged;
  std::uint64_t pad[2];
};
static_assert(sizeof(IndexHeader) == 64, "the index header size is part of the file format");

// CRC-32C (Castagnoli), the checksum of LevelDB's and ext4's logs.
std::uint32_t crc32c(std::string_view data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool parse_hex(std::string_view s, std::uint64_t* out) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 16) return false;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  *out = v;
  return true;
}

// JSON read back from disk (a line of the log, a run directory's record):
// nothing when it is not an object, or nests deeper than any record the host
// writes (a copy of a deeper value recurses once per level: 100,000 levels
// overflow the stack).
std::optional<nlohmann::json> parse_stored_json(std::string_view text) {
  constexpr int kMaxStoredDepth = 256;
  try {
    nlohmann::json j = parse_json_limited(text, kMaxStoredDepth);
    if (j.is_object()) return j;
  } catch (const dihya::Error&) {
  }
  return std::nullopt;
}

// The JSON of one complete line (without its '\n'), or nothing when its
// length, checksum or JSON is wrong.
std::optional<nlohmann::json> parse_line(std::string_view line) {
  std::uint64_t len = 0;
  std::uint64_t crc = 0;
  if (line.size() < kPrefix || line[8] != ' ' || line[17] != ' ') return std::nullopt;
  if (!parse_hex(line.substr(0, 8), &len) || !parse_hex(line.substr(9, 8), &crc)) return std::nullopt;
  const std::string_view body = line.substr(kPrefix);
  if (len != body.size() || crc != crc32c(body)) return std::nullopt;
  return parse_stored_json(body);
}

// Calls `on_entry(offset, json)` for each complete line of [from, to). Returns
// the offset after the last complete line; counts bad complete lines.
template <typename F>
std::uint64_t scan_log(int fd, std::uint64_t from, std::uint64_t to, std::uint64_t* damaged, F&& on_entry) {
  std::string buf;
  std::uint64_t buf_start = from;
  std::uint64_t pos = from;
  // Sized to the range and left uninitialised: most scans catch up a few
  // lines other runs appended, and a zeroed 1 MiB buffer cost each of them
  // 256 fresh pages.
  constexpr std::uint64_t kChunk = 1 << 20;
  const std::size_t chunk_size = static_cast<std::size_t>(std::min(kChunk, to > from ? to - from : 1));
  std::unique_ptr<char[]> chunk(new char[chunk_size]);
  std::uint64_t read_to = from;
  while (read_to < to) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, to - read_to));
    const ssize_t n = ::pread(fd, chunk.get(), want, static_cast<off_t>(read_to));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw state_error(fmt::format("cannot read the state log: {}", std::strerror(errno)));
    }
    if (n == 0) break;
    buf.append(chunk.get(), static_cast<std::size_t>(n));
    read_to += static_cast<std::uint64_t>(n);
    std::size_t start = 0;
    for (;;) {
      const std::size_t nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      const std::string_view line(buf.data() + start, nl - start);
      auto j = parse_line(line);
      if (j) on_entry(buf_start + start, *j);
      else ++*damaged;
      start = nl + 1;
      pos = buf_start + start;
    }
    buf.erase(0, start);
    buf_start += start;
    if (buf.size() > kMaxLine) {
      // A line longer than any entry: damage; resume after it.
      const std::size_t skip = buf.size();
      ++*damaged;
      buf.clear();
      buf_start += skip;
      pos = buf_start;
    }
  }
  return pos;
}

std::uint64_t random_u64() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

nlohmann::json header_entry(std::uint64_t id) {
  return {{"op", "header"}, {"format", "dihya-run-log"}, {"version", 1}, {"log_id", fmt::format("{:016x}", id)}};
}

bool key_less(const RunIndexEntry& a, const RunIndexEntry& b) {
  return a.id_ms != b.id_ms ? a.id_ms < b.id_ms : a.id_suffix < b.id_suffix;
}

// The index entry a put describes; false when the record has no valid id.
bool entry_of(const nlohmann::json& run, std::uint64_t offset, RunIndexEntry* e) {
  if (!run.is_object()) return false;
  const auto id = text_of(run, "id");
  if (!run_id_key(id, &e->id_ms, &e->id_suffix)) return false;
  e->flags = 0;
  const auto started = text_of(run, "started_at");
  if (!parse_iso_ms(started, &e->started_ms)) {
    e->started_ms = 0;
    e->flags |= kIndexStartUnknown;
  }
  const auto outcome = text_of(run, "outcome");
  if (outcome == "running") e->flags |= kIndexRunning;
  if (outcome == "interrupted") e->flags |= kIndexInterrupted;
  e->plugin_hash = run_log_hash(text_of(run, "plugin"));
  e->schedule_hash = run_log_hash(text_of(run, "schedule_id"));
  e->offset = offset;
  const auto seq = run.find("audit_seq");
  e->audit_seq = seq != run.end() && seq->is_number_unsigned() ? seq->get<std::uint64_t>() : 0;
  return true;
}

// A state dir the disk or someone else spoiled is the operator's to fix: exit 1, the path named.
HostError log_error(const std::filesystem::path& p, const std::string& doing) {
  return HostError(kExitRunFailed, fmt::format("run store: cannot {} {}: {}", doing, p.string(), std::strerror(errno)));
}

// The log id from the header line at offset 0, and where the entries begin.
bool read_header(int fd, std::uint64_t size, std::uint64_t* log_id, std::uint64_t* entries_from) {
  std::string head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 4096)), '\0');
  if (head.empty() || !read_exact(fd, head.data(), head.size(), 0)) return false;
  const auto nl = head.find('\n');
  if (nl == std::string::npos) return false;
  auto j = parse_line(std::string_view(head).substr(0, nl));
  if (!j || text_of(*j, "op") != "header" || text_of(*j, "format") != "dihya-run-log") return false;
  *entries_from = nl + 1;
  return parse_hex(text_of(*j, "log_id"), log_id);
}

// Truncates a torn last line (a crash mid-append) so the next entry starts clean.
void repair_tail(int fd, std::uint64_t size) {
  if (size == 0) return;
  char last = 0;
  if (!read_exact(fd, &last, 1, size - 1) || last == '\n') return;
  std::uint64_t end = size;
  std::vector<char> buf(64 * 1024);
  while (end > 0) {
    const std::uint64_t from = end > buf.size() ? end - buf.size() : 0;
    if (!read_exact(fd, buf.data(), static_cast<std::size_t>(end - from), from)) return;
    for (std::uint64_t i = end; i > from; --i) {
      if (buf[static_cast<std::size_t>(i - 1 - from)] == '\n') {
        if (::ftruncate(fd, static_cast<off_t>(i)) != 0) return;
        return;
      }
    }
    end = from;
  }
}

// The entry at `offset` of the log open as `fd`.
nlohmann::json read_entry(int fd, std::uint64_t offset, const std::filesystem::path& path) {
  char prefix[kPrefix];
  std::uint64_t len = 0;
  auto damaged = [&] {
    return state_error(fmt::format("run store: {} is damaged at byte {}", path.string(), offset));
  };
  if (!read_exact(fd, prefix, kPrefix, offset) || !parse_hex(std::string_view(prefix, 8), &len) || len > kMaxLine) {
    throw damaged();
  }
  std::string line(kPrefix + static_cast<std::size_t>(len) + 1, '\0');
  if (!read_exact(fd, line.data(), line.size(), offset) || line.back() != '\n') throw damaged();
  line.pop_back();
  auto j = parse_line(line);
  if (!j) throw damaged();
  return *j;
}

// Opens a file of the store with O_NOFOLLOW (a planted symlink fails) and
// O_NONBLOCK, so that a FIFO planted in its place neither blocks the open nor
// a read (on a regular file O_NONBLOCK changes nothing); anything but a
// regular file is refused by name. -1 with errno set when the open fails
// (ENOENT: not there).
int open_store_file(const std::filesystem::path& path, int flags, mode_t mode = 0) {
  UniqueFd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode));
  if (!fd) return -1;
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return -1;
  if (!S_ISREG(st.st_mode)) {
    throw HostError(kExitRunFailed, fmt::format("run store: {} is not a regular file (a FIFO, device or directory "
                                                "in its place); move it away",
                                                path.string()));
  }
  return fd.release();
}

// A new temporary file of the store: whatever lies at its name (a crash's
// leftover, or something planted) is removed first. -1 with errno set.
int create_store_temp(const std::filesystem::path& tmp) {
  ::unlink(tmp.c_str());
  return open_store_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
}

int fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno;
  return ::fsync(fd.get()) == 0 ? 0 : errno;
}

// Writes `lines` to `tmp`, fsyncs, renames over `target` and fsyncs the directory.
void replace_file(const std::filesystem::path& tmp, const std::filesystem::path& target, const std::string& bytes) {
  UniqueFd fd(create_store_temp(tmp));
  if (!fd) throw log_error(tmp, "create");
  if (write_all(fd.get(), bytes) || ::fsync(fd.get()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    throw log_error(tmp, "write");
  }
  fd.reset();
  if (::rename(tmp.c_str(), target.c_str()) != 0) throw log_error(target, "replace");
  if (int e = fsync_dir(target.parent_path())) {
    errno = e;
    throw log_error(target.parent_path(), "sync");
  }
}

}  // namespace

std::uint64_t run_log_hash(std::string_view text) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a: a filter hint, always checked against the record
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool run_id_key(std::string_view id, std::uint64_t* ms, std::uint32_t* suffix) {
  if (!is_valid_run_id(id)) return false;
  // "YYYYMMDDTHHMMSS.mmmZ-xxxxxx" -> the ISO form parse_iso_ms reads.
  const std::string iso = fmt::format("{}-{}-{}T{}:{}:{}.{}Z", id.substr(0, 4), id.substr(4, 2), id.substr(6, 2),
                                      id.substr(9, 2), id.substr(11, 2), id.substr(13, 2), id.substr(16, 3));
  std::int64_t t = 0;
  std::uint64_t s = 0;
  if (!parse_iso_ms(iso, &t) || t < 0 || !parse_hex(id.substr(21), &s)) return false;
  *ms = static_cast<std::uint64_t>(t);
  *suffix = static_cast<std::uint32_t>(s);
  return true;
}

bool parse_iso_ms(std::string_view s, std::int64_t* ms) {
  // Exactly "YYYY-MM-DDTHH:MM:SS.mmmZ", as format_iso_utc writes.
  static constexpr std::string_view kShape = "DDDD-DD-DDTDD:DD:DD.DDDZ";
  if (s.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'D' ? (s[i] < '0' || s[i] > '9') : s[i] != kShape[i]) return false;
  }
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v * 10 + (s[at + i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return false;
  }
  *ms = static_cast<std::int64_t>(::timegm(&tm)) * 1000 + num(20, 3);
  return true;
}

std::int64_t since_threshold_ms(const std::string& prefix) {
  // format_iso_utc is monotonic in time, so the times whose text is >=
  // prefix are an upper range: find its start. (system_clock counts
  // nanoseconds in 64 bits: the search stays below the year 2200.)
  auto iso = [](std::int64_t ms) {
    return format_iso_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  };
  std::int64_t lo = 0;
  std::int64_t hi = 7258118400000;  // 2200-01-01T00:00:00.000Z
  if (iso(hi) < prefix) return hi + 1;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (iso(mid) >= prefix) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

std::string run_log_line(const nlohmann::json& entry) {
  return run_log_line_of_text(entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string run_log_line_of_text(std::string_view body) {
  return fmt::format("{:08x} {:08x} {}\n", body.size(), crc32c(body), body);
}

RunLog::RunLog(std::filesystem::path runs_dir) : runs_dir_(std::move(runs_dir)) {}

RunLog::~RunLog() { unmap(); }

void RunLog::unmap() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
  entries_ = nullptr;
  count_ = 0;
  idx_fd_.reset();
}

void RunLog::create_log() {
  if (::mkdir(runs_dir_.c_str(), 0700) != 0 && errno != EEXIST) throw log_error(runs_dir_, "create");
  UniqueFd dir(::open(runs_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw log_error(runs_dir_, "open");
  if (::flock(dir.get(), LOCK_EX) != 0) throw log_error(runs_dir_, "lock");
  struct stat st{};
  if (::lstat(log_path().c_str(), &st) == 0) return;  // another process made it meanwhile
  // The run directories that hold a record.json: runs from before the log,
  // and runs that kept a directory (a journal, a log, files).
  std::vector<nlohmann::json> runs;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(runs_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string id = it->path().filename().string();
    if (!is_valid_run_id(id)) continue;
    const auto file = it->path() / "record.json";
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) continue;
    std::string bytes;
    if (read_all(fd.get(), &bytes, 16u * 1024 * 1024)) continue;
    auto j = parse_stored_json(bytes);
    if (!j || text_of(*j, "id") != id) continue;  // damaged: not ours to guess
    runs.push_back(std::move(*j));
  }
  std::sort(runs.begin(), runs.end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return text_of(a, "id") < text_of(b, "id"); });
  std::string bytes = run_log_line(header_entry(random_u64()));
  for (auto& run : runs) bytes += run_log_line({{"op", "put"}, {"run", std::move(run)}});
  replace_file(runs_dir_ / "state.log.tmp", log_path(), bytes);
  ::unlink(index_path().c_str());
}

int RunLog::append(const nlohmann::json& entry, bool sync, bool reserve) {
  const std::string line = run_log_line(entry);
  for (int attempt = 0; attempt < 100; ++attempt) {
    // Read-write: repair_tail() reads the last line back.
    UniqueFd fd(open_store_file(log_path(), O_RDWR | O_APPEND));
    if (!fd) {
      if (errno != ENOENT) return errno;
      create_log();
      continue;
    }
    if (::flock(fd.get(), LOCK_EX) != 0) return errno;
    // compact() may have replaced the file while we waited for the lock.
    struct stat mine{};
    struct stat named{};
    if (::fstat(fd.get(), &mine) != 0) return errno;
    if (::stat(log_path().c_str(), &named) != 0 || named.st_ino != mine.st_ino || named.st_dev != mine.st_dev) {
      continue;
    }
    repair_tail(fd.get(), static_cast<std::uint64_t>(mine.st_size));
    if (::fstat(fd.get(), &mine) != 0) return errno;
    if (auto ec = write_all(fd.get(), line)) {
      // Leave no partial line behind for the next reader to skip.
      if (::ftruncate(fd.get(), mine.st_size) != 0) {}
      return ec.value();
    }
    if (reserve) {
      const off_t end = mine.st_size + static_cast<off_t>(line.size());
      // The space the run's end record will need, set aside before the start
      // counts: on a full disk the run does not start (the start record is
      // taken back) rather than run with no room to record how it ended. A
      // filesystem without fallocate still gets the entry.
      if (::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, end, static_cast<off_t>(kReserveBytes)) != 0 &&
          (errno == ENOSPC || errno == EDQUOT)) {
        const int err = errno;
        if (::ftruncate(fd.get(), mine.st_size) != 0) {}
        return err;
      }
    }
    if (sync && ::fdatasync(fd.get()) != 0) return errno;
    // What a later sync() flushes: the file this entry went to, even when
    // compact() has replaced the log's name since. Unlocked first: other
    // writers append meanwhile and share the flush.
    unsynced_fd_.reset();
    if (!sync && ::flock(fd.get(), LOCK_UN) == 0) unsynced_fd_ = std::move(fd);
    return 0;
  }
  return EAGAIN;
}

namespace {

// The seq of an audit line: its text starts {"seq":N, (audit/audit_log.hpp).
bool audit_line_seq(std::string_view line, std::uint64_t* seq) {
  constexpr std::string_view kStart = R"({"seq":)";
  if (line.substr(0, kStart.size()) != kStart) return false;
  const std::string_view rest = line.substr(kStart.size());
  const std::size_t digits = rest.find(',');
  if (digits == 0 || digits == std::string_view::npos || digits > 19) return false;
  std::uint64_t n = 0;
  for (char c : rest.substr(0, digits)) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *seq = n;
  return true;
}

}  // namespace

std::vector<std::string> RunLog::carried_audit_lines(std::uint64_t min_seq) const {
  UniqueFd fd(open_store_file(log_path(), O_RDONLY));
  if (!fd) {
    if (errno == ENOENT) return {};
    throw log_error(log_path(), "open");
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw log_error(log_path(), "read");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::vector<std::string> found;  // newest first
  const bool read = for_each_line_backward(fd.get(), size, size, kMaxLine, [&](std::string_view line, std::uint64_t) {
    const auto j = parse_line(line);
    if (!j) return true;
    const auto audit = j->find("audit");
    std::uint64_t seq = 0;
    // A text holding a newline would become two lines of the audit file: it
    // was never one the host carried (JSON text escapes its newlines).
    if (audit == j->end() || !audit->is_string() || !audit_line_seq(audit->get_ref<const std::string&>(), &seq) ||
        audit->get_ref<const std::string&>().find('\n') != std::string::npos) {
      return true;
    }
    if (seq < min_seq) return false;
    found.push_back(audit->get<std::string>());
    return true;
  });
  if (!read) throw log_error(log_path(), "read");
  return {found.rbegin(), found.rend()};
}

namespace {

// The complete lines of [from, to) of a file, forward, one at a time (a view
// valid until the next call); a run of more than kMaxLine bytes without a
// '\n' is damage, passed by like scan_log() does.
class ForwardLines {
 public:
  ForwardLines(int fd, std::uint64_t from, std::uint64_t to, std::filesystem::path path)
      : fd_(fd), to_(to), read_to_(from), buf_start_(from), path_(std::move(path)) {}

  bool next(std::string_view* line, std::uint64_t* offset) {
    constexpr std::uint64_t kChunk = 1 << 20;
    for (;;) {
      const std::size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        *line = std::string_view(buf_.data() + pos_, nl - pos_);
        *offset = buf_start_ + pos_;
        pos_ = nl + 1;
        return true;
      }
      buf_.erase(0, pos_);
      buf_start_ += pos_;
      pos_ = 0;
      if (buf_.size() > kMaxLine) {
        buf_start_ += buf_.size();
        buf_.clear();
      }
      if (read_to_ >= to_) return false;
      const std::size_t want = static_cast<std::size_t>(std::min(kChunk, to_ - read_to_));
      const std::size_t had = buf_.size();
      buf_.resize(had + want);
      const ssize_t n = ::pread(fd_, buf_.data() + had, want, static_cast<off_t>(read_to_));
      buf_.resize(had + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw log_error(path_, "read");
      if (n == 0) return false;
      read_to_ += static_cast<std::uint64_t>(n);
    }
  }

 private:
  int fd_;
  std::uint64_t to_;
  std::uint64_t read_to_;
  std::uint64_t buf_start_;
  std::filesystem::path path_;
  std::string buf_;
  std::size_t pos_ = 0;
};

// The JSON string literal that `text` starts with, unescaped into *out; false
// when it is not one, or holds a \u escape (which the host's writer uses only
// for control characters: the JSON parser reads those).
bool read_plain_json_string(std::string_view text, std::string* out) {
  if (text.empty() || text[0] != '"') return false;
  out->clear();
  std::size_t run = 1;
  for (std::size_t i = 1; i < text.size();) {
    const char c = text[i];
    if (c == '"') {
      out->append(text.data() + run, i - run);
      return true;
    }
    if (c != '\\') {
      ++i;
      continue;
    }
    out->append(text.data() + run, i - run);
    if (i + 1 >= text.size()) return false;
    switch (text[i + 1]) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      default: return false;
    }
    i += 2;
    run = i;
  }
  return false;
}

// An entry's keys are written sorted, so one that carries an audit line
// starts with it: read straight from the line, without parsing the record
// or summing the line (AuditLog::verify compares the text it gives, and asks
// for the checksum only when it differs). Any other entry that names "audit"
// is parsed whole.
constexpr std::string_view kCarriedStart = R"({"audit":)";

bool carried_text(std::string_view line, std::string* text) {
  if (line.size() < kPrefix) return false;
  const std::string_view body = line.substr(kPrefix);
  if (body.substr(0, kCarriedStart.size()) == kCarriedStart &&
      read_plain_json_string(body.substr(kCarriedStart.size()), text)) {
    return true;
  }
  if (body.find(R"("audit":)") == std::string_view::npos) return false;
  const auto j = parse_line(line);
  if (!j) return false;
  const auto audit = j->find("audit");
  if (audit == j->end() || !audit->is_string()) return false;
  *text = audit->get<std::string>();
  return true;
}

// The seq of the line an entry carries, for the first pass over the log:
// most often read from its first bytes, without unescaping the line.
bool carried_seq(std::string_view line, std::string* scratch, std::uint64_t* seq) {
  constexpr std::string_view kFast = R"({"audit":"{\"seq\":)";
  if (line.size() >= kPrefix && line.substr(kPrefix, kFast.size()) == kFast) {
    const std::string_view rest = line.substr(kPrefix + kFast.size());
    std::uint64_t n = 0;
    std::size_t i = 0;
    for (; i < rest.size() && i < 20 && rest[i] >= '0' && rest[i] <= '9'; ++i) {
      n = n * 10 + static_cast<std::uint64_t>(rest[i] - '0');
    }
    if (i > 0 && i < rest.size() && rest[i] == ',') {
      *seq = n;
      return true;
    }
  }
  return carried_text(line, scratch) && audit_line_seq(*scratch, seq);
}

// RunLog::open_carried_copies(): two passes over the log, the first to find
// where the copies of the current audit log start (after the last step back
// of seq: the audit log was moved away and a new one started), the second
// to give them, of equal seqs the later.
class StateLogCopies final : public CarriedCopies {
 public:
  StateLogCopies(UniqueFd fd, std::uint64_t size, std::filesystem::path path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}

  std::optional<CarriedCopy> next() override {
    if (!lines_) start();
    while (auto copy = read_one()) {
      if (pending_ && pending_->seq != copy->seq) return std::exchange(pending_, std::move(copy));
      pending_ = std::move(copy);
    }
    return std::exchange(pending_, std::nullopt);
  }

  bool intact(const CarriedCopy& copy) override {
    ForwardLines lines(fd_.get(), copy.entry, size_, path_);
    std::string_view line;
    std::uint64_t offset = 0;
    return lines.next(&line, &offset) && parse_line(line).has_value();
  }

  std::string source() const override { return path_.string(); }

 private:
  void start() {
    ForwardLines lines(fd_.get(), 0, size_, path_);
    std::string_view line;
    std::uint64_t offset = 0;
    std::uint64_t from = 0;
    std::uint64_t last = 0;
    while (lines.next(&line, &offset)) {
      std::uint64_t seq = 0;
      if (!carried_seq(line, &text_, &seq)) continue;
      if (seq < last) from = offset;
      last = seq;
    }
    lines_.emplace(fd_.get(), from, size_, path_);
  }

  std::optional<CarriedCopy> read_one() {
    std::string_view line;
    std::uint64_t offset = 0;
    while (lines_->next(&line, &offset)) {
      std::uint64_t seq = 0;
      if (!carried_text(line, &text_) || !audit_line_seq(text_, &seq)) continue;
      return CarriedCopy{seq, text_, offset};
    }
    return std::nullopt;
  }

  UniqueFd fd_;
  std::uint64_t size_;
  std::filesystem::path path_;
  std::optional<ForwardLines> lines_;
  std::optional<CarriedCopy> pending_;
  std::string text_;
};

}  // namespace

std::unique_ptr<CarriedCopies> RunLog::open_carried_copies() const {
  UniqueFd fd(open_store_file(log_path(), O_RDONLY));
  if (!fd) {
    if (errno == ENOENT) return nullptr;
    throw log_error(log_path(), "open");
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw log_error(log_path(), "read");
  return std::make_unique<StateLogCopies>(std::move(fd), static_cast<std::uint64_t>(st.st_size), log_path());
}

int RunLog::sync() {
  UniqueFd fd = std::move(unsynced_fd_);
  if (!fd) fd.reset(open_store_file(log_path(), O_RDONLY));
  if (!fd) return errno;
  return ::fdatasync(fd.get()) == 0 ? 0 : errno;
}

namespace {

// The index file's header when it belongs to this log and covers no more
// than it holds; nothing otherwise.
std::optional<IndexHeader> valid_header(int fd, std::uint64_t log_id, std::uint64_t entries_from,
                                        std::uint64_t log_size) {
  IndexHeader h{};
  struct stat st{};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !read_exact(fd, &h, sizeof h, 0)) return std::nullopt;
  if (std::memcmp(h.magic, kIndexMagic, 8) != 0 || h.entry_size != sizeof(RunIndexEntry) || h.log_id != log_id ||
      h.covered < entries_from || h.covered > log_size ||
      // Divided, not multiplied: a count near 2^64 / 56 would wrap the product.
      static_cast<std::uint64_t>(st.st_size) < sizeof h ||
      h.count > (static_cast<std::uint64_t>(st.st_size) - sizeof h) / sizeof(RunIndexEntry)) {
    return std::nullopt;
  }
  return h;
}

// Why an index could not be written that still lets a reader answer from
// one of its own: a full disk or quota, a read-only state dir (a mounted
// backup, a snapshot) or one the user may read but not write.
bool index_unwritable(int err) { return err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES; }

// Brings the index file up to the log's `size` (the caller holds the runs
// directory's lock). When the index cannot be written (index_unwritable;
// `idx_writable` false: the file is open read-only) the index is left in
// `*in_memory` (header and entries) for this process alone: readers still
// answer.
void catch_up(int log_fd, const UniqueFd& idx_fd_, bool idx_writable, const std::filesystem::path& runs_dir,
              std::optional<IndexHeader> current, std::uint64_t log_id, std::uint64_t entries_from,
              std::uint64_t size, std::vector<char>* in_memory) {
  const std::filesystem::path index_path = runs_dir / "state.idx";
  IndexHeader h{};
  std::memcpy(h.magic, kIndexMagic, 8);
  h.entry_size = sizeof(RunIndexEntry);
  h.log_id = log_id;
  h.covered = entries_from;
  if (current) h = *current;
  // Existing entries are sorted: update them in place (found through a
  // read-only map of the file, so catching up after a run reads a few pages,
  // not the index); new runs are appended, or merged when one sorts before
  // the last (rare: a run that waited for a lock before its first put).
  const std::size_t old_count = static_cast<std::size_t>(h.count);
  const std::size_t old_bytes = sizeof h + old_count * sizeof(RunIndexEntry);
  void* old_map = nullptr;
  if (current && old_count > 0) {
    old_map = ::mmap(nullptr, old_bytes, PROT_READ, MAP_SHARED, idx_fd_.get(), 0);
    if (old_map == MAP_FAILED) throw log_error(index_path, "map");
  }
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() {
      if (p != nullptr) ::munmap(p, n);
    }
  } unmap_old{old_map, old_bytes};
  const auto* old_begin =
      old_map != nullptr ? reinterpret_cast<const RunIndexEntry*>(static_cast<const char*>(old_map) + sizeof h)
                         : nullptr;
  const auto* old_end = old_begin != nullptr ? old_begin + old_count : nullptr;
  std::map<std::size_t, RunIndexEntry> changed;  // position in the old entries -> new value
  std::vector<RunIndexEntry> added;
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::size_t> added_at;
  auto apply = [&](const RunIndexEntry& e, bool drop) {
    if (old_begin != nullptr) {
      const RunIndexEntry* it = std::lower_bound(old_begin, old_end, e, key_less);
      if (it != old_end && !key_less(e, *it)) {
        const auto pos = static_cast<std::size_t>(it - old_begin);
        auto c = changed.find(pos);
        RunIndexEntry value = c != changed.end() ? c->second : *it;
        if (drop) value.flags |= kIndexDropped;
        else value = e;
        changed[pos] = value;
        return;
      }
    }
    const auto key = std::make_pair(e.id_ms, e.id_suffix);
    auto found = added_at.find(key);
    if (found != added_at.end()) {
      if (drop) added[found->second].flags |= kIndexDropped;
      else added[found->second] = e;
    } else if (!drop) {
      added_at.emplace(key, added.size());
      added.push_back(e);
    }
  };
  h.covered = scan_log(log_fd, h.covered, size, &h.damaged, [&](std::uint64_t off, const nlohmann::json& j) {
    const std::string op = text_of(j, "op");
    RunIndexEntry e{};
    if (op == "put") {
      const auto run = j.find("run");
      if (run != j.end() && entry_of(*run, off, &e)) apply(e, false);
    } else if (op == "drop") {
      if (run_id_key(text_of(j, "id"), &e.id_ms, &e.id_suffix)) apply(e, true);
    }
  });
  std::sort(added.begin(), added.end(), key_less);
  const bool in_place = current && idx_fd_ && idx_writable &&
                        (added.empty() || old_count == 0 || key_less(old_end[-1], added.front()));
  if (in_place) {
    bool written = true;
    for (const auto& [pos, e] : changed) {
      written = written && write_exact(idx_fd_.get(), &e, sizeof e, sizeof h + pos * sizeof(RunIndexEntry));
    }
    written = written && (added.empty() ||
                          write_exact(idx_fd_.get(), added.data(), added.size() * sizeof(RunIndexEntry), old_bytes));
    h.count = old_count + added.size();
    if (written && write_exact(idx_fd_.get(), &h, sizeof h, 0)) return;
    if (!index_unwritable(errno)) throw log_error(index_path, "write");
    h.count = old_count;  // what the file's header still says; the whole index goes to memory below
  }
  std::vector<RunIndexEntry> all;
  if (old_begin != nullptr) all.assign(old_begin, old_end);
  for (const auto& [pos, e] : changed) all[pos] = e;
  std::vector<RunIndexEntry> merged;
  merged.reserve(all.size() + added.size());
  std::merge(all.begin(), all.end(), added.begin(), added.end(), std::back_inserter(merged), key_less);
  h.count = merged.size();
  const auto tmp = runs_dir / "state.idx.tmp";
  UniqueFd out(create_store_temp(tmp));
  if (!out || !write_exact(out.get(), &h, sizeof h, 0) ||
      (!merged.empty() &&
       !write_exact(out.get(), merged.data(), merged.size() * sizeof(RunIndexEntry), sizeof h))) {
    const int err = errno;
    if (in_memory == nullptr || !index_unwritable(err)) throw log_error(tmp, "write");
    out.reset();
    ::unlink(tmp.c_str());
    in_memory->resize(sizeof h + merged.size() * sizeof(RunIndexEntry));
    std::memcpy(in_memory->data(), &h, sizeof h);
    if (!merged.empty()) std::memcpy(in_memory->data() + sizeof h, merged.data(), merged.size() * sizeof(RunIndexEntry));
    return;
  }
  out.reset();
  // A derived file: no fsync; a crash leaves an old or a new index, either valid.
  if (::rename(tmp.c_str(), index_path.c_str()) != 0) throw log_error(index_path, "replace");
}

}  // namespace

bool RunLog::open_index() {
  unmap();
  log_fd_.reset(open_store_file(log_path(), O_RDONLY));
  if (!log_fd_) {
    if (errno != ENOENT) throw log_error(log_path(), "open");
    struct stat st{};
    if (::stat(runs_dir_.c_str(), &st) != 0) return false;  // no runs yet
    create_log();
    log_fd_.reset(open_store_file(log_path(), O_RDONLY));
    if (!log_fd_) throw log_error(log_path(), "open");
  }
  struct stat st{};
  if (::fstat(log_fd_.get(), &st) != 0) throw log_error(log_path(), "read");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t log_id = 0;
  std::uint64_t entries_from = 0;
  if (!read_header(log_fd_.get(), size, &log_id, &entries_from)) {
    throw HostError(kExitRunFailed, fmt::format(
        "run store: {} is damaged (no valid header line); move it aside to rebuild it from the run directories",
        log_path().string()));
  }
  auto open_idx = [&](int flags) {
    UniqueFd fd(open_store_file(index_path(), flags));
    if (!fd && errno != ENOENT) throw log_error(index_path(), "open");
    return fd;
  };
  // No lock outlives this function: a long run (the scheduler) that read the
  // index once must never hold up the others. Entries change in place only
  // to newer values, the file only grows; a rebuild or a merge writes a new
  // file and renames it, so a mapping another process holds stays valid.
  idx_fd_ = open_idx(O_RDONLY);
  std::optional<IndexHeader> h = valid_header(idx_fd_.get(), log_id, entries_from, size);
  if (!h || h->covered < size) {
    UniqueFd dir(::open(runs_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) throw log_error(runs_dir_, "open");
    if (::flock(dir.get(), LOCK_EX) != 0) throw log_error(runs_dir_, "lock");
    bool idx_writable = true;
    UniqueFd fd(open_store_file(index_path(), O_RDWR));
    if (!fd && index_unwritable(errno)) {
      idx_writable = false;
      idx_fd_ = open_idx(O_RDONLY);
    } else if (!fd && errno != ENOENT) {
      throw log_error(index_path(), "open");
    } else {
      idx_fd_ = std::move(fd);
    }
    h = valid_header(idx_fd_.get(), log_id, entries_from, size);
    std::vector<char> in_memory;
    if (!h || h->covered < size) {
      catch_up(log_fd_.get(), idx_fd_, idx_writable, runs_dir_, h, log_id, entries_from, size, &in_memory);
    }
    if (!in_memory.empty()) {
      // A full disk or a read-only state dir: this process reads an index of its own.
      idx_fd_.reset();
      IndexHeader mem{};
      std::memcpy(&mem, in_memory.data(), sizeof mem);
      void* map = ::mmap(nullptr, in_memory.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (map == MAP_FAILED) throw log_error(index_path(), "map");
      std::memcpy(map, in_memory.data(), in_memory.size());
      map_ = map;
      map_bytes_ = in_memory.size();
      damaged_ = mem.damaged;
      count_ = static_cast<std::size_t>(mem.count);
      entries_ = reinterpret_cast<const RunIndexEntry*>(static_cast<const char*>(map_) + sizeof(IndexHeader));
      return true;
    }
    idx_fd_ = open_idx(O_RDONLY);
    h = valid_header(idx_fd_.get(), log_id, entries_from, size);
    if (!h) throw log_error(index_path(), "rebuild");
  }
  damaged_ = h->damaged;
  count_ = static_cast<std::size_t>(h->count);
  map_bytes_ = sizeof(IndexHeader) + count_ * sizeof(RunIndexEntry);
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, idx_fd_.get(), 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw log_error(index_path(), "map");
  }
  entries_ = reinterpret_cast<const RunIndexEntry*>(static_cast<const char*>(map_) + sizeof(IndexHeader));
  return true;
}

const RunIndexEntry* RunLog::find(std::string_view id) const {
  RunIndexEntry key{};
  if (!run_id_key(id, &key.id_ms, &key.id_suffix)) return nullptr;
  const RunIndexEntry* it = std::lower_bound(begin(), end(), key, key_less);
  if (it == end() || key_less(key, *it)) return nullptr;
  return it;
}

bool RunLog::holds(std::string_view id) const {
  RunIndexEntry key{};
  if (!run_id_key(id, &key.id_ms, &key.id_suffix)) return false;
  return std::any_of(begin(), end(), [&](const RunIndexEntry& e) { return !key_less(e, key) && !key_less(key, e); });
}

bool RunLog::rebuild_index() {
  unmap();
  // Unlinked, not truncated: a process that maps the old file keeps reading
  // what it mapped; the next open_index() writes a new file under the lock.
  if (::unlink(index_path().c_str()) != 0 && errno != ENOENT) throw log_error(index_path(), "remove");
  return open_index();
}

nlohmann::json RunLog::read_at(std::uint64_t offset) const { return read_entry(log_fd_.get(), offset, log_path()); }

std::size_t RunLog::compact(const std::function<bool(const nlohmann::json& run)>& keep) {
  unmap();
  UniqueFd dir(::open(runs_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw log_error(runs_dir_, "open");
  if (::flock(dir.get(), LOCK_EX) != 0) throw log_error(runs_dir_, "lock");
  UniqueFd fd(open_store_file(log_path(), O_RDONLY));
  if (!fd) {
    if (errno == ENOENT) return 0;
    throw log_error(log_path(), "open");
  }
  // Writers wait on this lock; they reopen the log once it is replaced.
  if (::flock(fd.get(), LOCK_EX) != 0) throw log_error(log_path(), "lock");
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw log_error(log_path(), "read");
  std::uint64_t log_id = 0;
  std::uint64_t from = 0;
  if (!read_header(fd.get(), static_cast<std::uint64_t>(st.st_size), &log_id, &from)) {
    throw state_error(fmt::format("run store: {} is damaged (no valid header line)", log_path().string()));
  }
  std::map<std::string, std::uint64_t> last_put;  // id -> offset; dropped runs removed
  std::map<std::string, std::vector<std::uint64_t>> carrying;  // id -> its puts that carry an audit line
  // seq -> the run and put that carried it last. A put whose seq a later put
  // carries again carried the line of a host that stopped (or failed to
  // write) before the audit file: the later put's line took its seq. Its
  // line is left out: kept without the later one (a pruned run's), it would
  // read as the audit line of that seq.
  std::map<std::uint64_t, std::pair<std::string, std::uint64_t>> carrier_of_seq;
  std::set<std::uint64_t> unwritten;
  std::set<std::uint64_t> offsets;
  std::uint64_t damaged = 0;
  scan_log(fd.get(), from, static_cast<std::uint64_t>(st.st_size), &damaged,
           [&](std::uint64_t off, const nlohmann::json& j) {
             const std::string op = text_of(j, "op");
             if (op == "put") {
               const auto run = j.find("run");
               if (run == j.end() || !run->is_object()) return;
               const std::string id = text_of(*run, "id");
               auto it = last_put.find(id);
               if (it != last_put.end()) offsets.erase(it->second);
               last_put[id] = off;
               offsets.insert(off);
               const auto audit = j.find("audit");
               std::uint64_t seq = 0;
               if (audit == j.end() || !audit->is_string() ||
                   !audit_line_seq(audit->get_ref<const std::string&>(), &seq)) {
                 return;
               }
               carrying[id].push_back(off);
               auto [at, fresh] = carrier_of_seq.try_emplace(seq, id, off);
               if (fresh) return;
               auto& earlier = carrying[at->second.first];
               earlier.erase(std::remove(earlier.begin(), earlier.end(), at->second.second), earlier.end());
               unwritten.insert(at->second.second);
               at->second = {id, off};
             } else if (op == "drop") {
               const std::string id = text_of(j, "id");
               auto it = last_put.find(id);
               if (it != last_put.end()) {
                 offsets.erase(it->second);
                 last_put.erase(it);
               }
               // A run that never started: the line it carried was never the audit file's.
               carrying.erase(id);
             } else if (op == "audit") {
               // A line that is no run's (a rollback's, a prune's), carried
               // because it took the seq of a put's line: that line is left
               // out as above, and this entry goes (no run keeps it), so the
               // state log no longer carries that seq at all.
               const auto audit = j.find("audit");
               std::uint64_t seq = 0;
               if (audit == j.end() || !audit->is_string() ||
                   !audit_line_seq(audit->get_ref<const std::string&>(), &seq)) {
                 return;
               }
               const auto at = carrier_of_seq.find(seq);
               if (at == carrier_of_seq.end()) return;
               auto& earlier = carrying[at->second.first];
               earlier.erase(std::remove(earlier.begin(), earlier.end(), at->second.second), earlier.end());
               unwritten.insert(at->second.second);
               carrier_of_seq.erase(at);
             }
           });
  // The last put of each run, and its earlier ones that carry a line.
  std::set<std::uint64_t> last_puts = offsets;
  for (const auto& [id, puts] : carrying) {
    if (last_put.count(id)) offsets.insert(puts.begin(), puts.end());
  }
  last_put.clear();
  carrying.clear();
  carrier_of_seq.clear();
  const auto tmp = runs_dir_ / "state.log.tmp";
  UniqueFd out(create_store_temp(tmp));
  if (!out) throw log_error(tmp, "create");
  std::string bytes = run_log_line(header_entry(random_u64()));
  std::size_t removed = 0;
  auto flush = [&](bool force) {
    if (!force && bytes.size() < (1u << 20)) return;
    if (write_all(out.get(), bytes)) {
      const int e = errno;
      ::unlink(tmp.c_str());
      errno = e;
      throw log_error(tmp, "write");
    }
    bytes.clear();
  };
  for (std::uint64_t off : offsets) {
    nlohmann::json j = read_entry(fd.get(), off, log_path());
    if (unwritten.count(off)) j.erase("audit");
    if (keep(j.at("run"))) bytes += run_log_line(j);
    else if (last_puts.count(off)) ++removed;
    flush(false);
  }
  flush(true);
  if (::fsync(out.get()) != 0) throw log_error(tmp, "sync");
  out.reset();
  if (::rename(tmp.c_str(), log_path().c_str()) != 0) throw log_error(log_path(), "replace");
  if (int e = fsync_dir(runs_dir_)) {
    errno = e;
    throw log_error(runs_dir_, "sync");
  }
  ::unlink(index_path().c_str());
  return removed;
}

}  // namespace dihya::host
