// SPDX-License-Identifier: AGPL-3.0-or-later
// Writing and reading a run's undo journal. Lines are built by hand so "i"
// comes first, which keeps the file readable with `head`; each append is one
// write() of a whole line followed by fdatasync() (the file's size is the only
// metadata a reader needs, and fdatasync covers it).
#include "journal/run_journal.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <stdexcept>
#include <string>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <dihya/json_text.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "dihya/error.hpp"

namespace dihya::host {
namespace {

using Json = nlohmann::json;

struct Scan {
  JournalContents contents;
  off_t complete_size = 0;  // bytes up to and including the last '\n'
};

[[noreturn]] void throw_damaged(const std::filesystem::path& file, std::uint64_t line,
                                const std::string& why) {
  throw state_error(fmt::format(
      "journal {}: line {} is damaged ({}); its undo entries cannot be trusted, inspect the file "
      "before rolling back by hand",
      file.string(), line, why));
}

void apply_line(const std::filesystem::path& file, std::uint64_t line, const std::string& text,
                JournalContents& out) {
  Json doc;
  try {
    // Bounded like the state log's records: the entries came through frames
    // of at most 128 levels, and a deeper value would recurse once per level
    // when rollback() copies it.
    doc = dihya::parse_json_limited(text, 256);
  } catch (const dihya::Error& e) {
    throw_damaged(file, line, e.what());
  }
  if (!doc.is_object()) throw_damaged(file, line, "not a JSON object");
  if (doc.contains("rollback")) {
    const Json& marker = doc["rollback"];
    if (marker == "started") {
      out.rollback_started = true;
    } else if (marker == "done") {
      out.rollback_done = true;
    } else {
      throw_damaged(file, line, "unknown rollback marker");
    }
    return;
  }
  if (!doc.contains("i") || !doc["i"].is_number_unsigned() || !doc.contains("action") ||
      !doc["action"].is_string() || !doc.contains("data")) {
    throw_damaged(file, line, "neither an undo entry nor a rollback marker");
  }
  if (doc["i"].get<std::uint64_t>() != out.entries.size()) {
    throw_damaged(file, line,
                  fmt::format("entry index {} where {} was expected",
                              doc["i"].get<std::uint64_t>(), out.entries.size()));
  }
  out.entries.push_back(
      dihya::UndoEntry{doc["action"].get<std::string>(), std::move(doc["data"])});
}

Scan scan(const std::filesystem::path& file, const std::string& bytes) {
  Scan result;
  std::size_t begin = 0;
  std::uint64_t line = 0;
  while (begin < bytes.size()) {
    std::size_t end = bytes.find('\n', begin);
    if (end == std::string::npos) {
      // Never acknowledged: the record() writing it had not returned.
      result.contents.torn_tail = true;
      break;
    }
    apply_line(file, ++line, bytes.substr(begin, end - begin), result.contents);
    begin = end + 1;
    result.complete_size = static_cast<off_t>(begin);
  }
  return result;
}

// The whole journal, refused when it is no regular file or larger than the
// host lets a run's journal grow: a device or a sparse file of gigabytes in
// its place would otherwise be read until the host runs out of memory.
std::string read_all(int fd, const std::filesystem::path& file) {
  std::string bytes;
  const std::error_code ec = dihya::read_regular_file(fd, &bytes, kMaxJournalFileBytes);
  if (ec.value() == EINVAL) {
    throw state_error(fmt::format("journal {}: not a regular file; the host never wrote it", file.string()));
  }
  if (ec.value() == EFBIG) {
    throw state_error(fmt::format("journal {}: larger than a run's journal may grow ({} MiB); the host never "
                                  "wrote it, inspect the file before rolling back by hand",
                                  file.string(), kMaxJournalBytes >> 20));
  }
  if (ec) throw state_error(fmt::format("journal {}: cannot read: {}", file.string(), ec.message()));
  return bytes;
}

std::string entry_line(std::uint64_t index, const dihya::UndoEntry& entry) {
  // Strict UTF-8: replacing bytes would silently change what rollback restores
  // (a file name, a row value), so refuse instead.
  return fmt::format(R"({{"i":{},"action":{},"data":{}}})", index, Json(entry.action).dump(),
                     entry.data.dump());
}

}  // namespace

RunJournal::RunJournal(std::filesystem::path file, UniqueFd fd, off_t size,
                       std::uint64_t next_index)
    : file_(std::move(file)), fd_(std::move(fd)), size_(size), next_index_(next_index) {}

RunJournal RunJournal::create(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    throw state_error(
        fmt::format("journal {}: cannot create: {}", file.string(), std::strerror(errno)));
  }
  if (auto ec = fsync_directory(file.parent_path())) {
    throw state_error(fmt::format("journal {}: cannot sync its directory: {}",
                                         file.string(), ec.message()));
  }
  return RunJournal(file, std::move(fd), 0, 0);
}

RunJournal RunJournal::reopen(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    throw state_error(
        fmt::format("journal {}: cannot open: {}", file.string(), std::strerror(errno)));
  }
  Scan found = scan(file, read_all(fd.get(), file));
  if (found.contents.torn_tail) {
    if (::ftruncate(fd.get(), found.complete_size) != 0 || ::fdatasync(fd.get()) != 0) {
      throw state_error(fmt::format("journal {}: cannot cut its incomplete last line: {}",
                                           file.string(), std::strerror(errno)));
    }
  }
  return RunJournal(file, std::move(fd), found.complete_size, found.contents.entries.size());
}

std::string RunJournal::encode(std::uint64_t index, const dihya::UndoEntry& entry, const std::filesystem::path& file) {
  if (entry.action.empty()) {
    throw dihya::Error(fmt::format("journal {}: an undo entry needs an action name", file.string()));
  }
  try {
    return entry_line(index, entry);
  } catch (const Json::exception& e) {
    throw dihya::Error(fmt::format(
        "journal {}: cannot record undo entry '{}': {} (encode binary data, e.g. as base64)",
        file.string(), entry.action, e.what()));
  }
}

void RunJournal::record(const dihya::UndoEntry& entry) { append_entry(encode(next_index_, entry, file_)); }

void RunJournal::append_entry(std::string line) {
  append_line(std::move(line));
  ++next_index_;
}

void RunJournal::mark_rollback_started() { append_line(R"({"rollback":"started"})"); }

void RunJournal::mark_rollback_done() { append_line(R"({"rollback":"done"})"); }

void RunJournal::append_line(std::string line) {
  if (broken_) {
    throw dihya::Error(fmt::format(
        "journal {}: refusing to write after an earlier write failure", file_.string()));
  }
  line.push_back('\n');
  broken_ = true;  // until proven durable
  if (auto ec = write_all(fd_.get(), line)) {
    // Cutting the partial line keeps the file readable; the journal stays
    // refused all the same, since we no longer know what the disk holds.
    bool cut = ::ftruncate(fd_.get(), size_) == 0;
    throw dihya::Error(fmt::format("journal {}: cannot write: {}{}", file_.string(),
                                   ec.message(), cut ? "" : " (a partial line remains)"));
  }
  if (::fdatasync(fd_.get()) != 0) {
    throw dihya::Error(
        fmt::format("journal {}: cannot sync: {}", file_.string(), std::strerror(errno)));
  }
  size_ += static_cast<off_t>(line.size());
  broken_ = false;
}

JournalContents read_journal(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return JournalContents{};
    throw state_error(
        fmt::format("journal {}: cannot open: {}", file.string(), std::strerror(errno)));
  }
  return scan(file, read_all(fd.get(), file)).contents;
}

}  // namespace dihya::host
