// SPDX-License-Identifier: AGPL-3.0-or-later
// Run directories on disk. Records are small and rarely written (at start and
// end of a run), so every write pays for full durability.
#include "runs/run_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "errors.hpp"
#include "runs/run_id.hpp"
#include "util/atomic_file.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// A failing disk is the operator's to fix, not an internal error: exit 1, the path named.
[[noreturn]] void throw_errno(const std::filesystem::path& path, const std::string& doing) {
  throw HostError(kExitRunFailed,
      fmt::format("run store: cannot {} {}: {}", doing, path.string(), std::strerror(errno)));
}

void sync_directory(const std::filesystem::path& dir) {
  if (auto ec = fsync_directory(dir)) {
    throw HostError(kExitRunFailed,
        fmt::format("run store: cannot sync {}: {}", dir.string(), ec.message()));
  }
}

// The state dir above was made private by the caller (prepare_state_dir).
void ensure_private_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
  throw_errno(dir, "create");
}

std::string read_record_bytes(const std::filesystem::path& file, bool& missing) {
  missing = false;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      missing = true;
      return {};
    }
    throw_errno(file, "open");
  }
  std::string bytes;
  if (auto ec = read_all(fd.get(), &bytes)) {
    errno = ec.value();
    throw_errno(file, "read");
  }
  return bytes;
}

// Space set aside in each run directory at its creation, so that the final
// record of a run still fits when the disk fills up during the run.
constexpr const char* kReserveFile = "record.reserve";

void reserve_space(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno(file, "create");
  const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(RunStore::kReserveBytes));
  if (rc == 0) return;
  if (rc != EOPNOTSUPP && rc != EINVAL) {
    errno = rc;
    throw_errno(file, "reserve space in");
  }
  // Filesystems without fallocate: write the bytes instead.
  const std::string zeros(RunStore::kReserveBytes, '\0');
  if (write_all(fd.get(), zeros)) throw_errno(file, "reserve space in");
}

// Reporting, not rewriting: a reader must not race the record's owner.
RunRecord with_liveness(RunRecord record) {
  if (is_interrupted(record)) record.outcome = kOutcomeInterrupted;
  return record;
}

}  // namespace

bool is_interrupted(const RunRecord& record) {
  return record.outcome == kOutcomeRunning && process_is_gone(host_process(record));
}

RunStore::RunStore(std::filesystem::path runs_dir) : runs_dir_(std::move(runs_dir)) {}

std::filesystem::path RunStore::dir(const std::string& id) const {
  if (!is_valid_run_id(id)) {
    throw usage_error(fmt::format(
        "invalid run id '{}': expected the shape 20261125T215053.123Z-3f9a1c (see `dihya-host "
        "history`)", id));
  }
  return runs_dir_ / id;
}

void RunStore::create(const RunRecord& record) {
  auto run_dir = dir(record.id);
  ensure_private_dir(runs_dir_);
  if (::mkdir(run_dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      throw std::runtime_error(
          fmt::format("run store: run {} already exists in {}", record.id, runs_dir_.string()));
    }
    throw_errno(run_dir, "create");
  }
  try {
    reserve_space(run_dir / kReserveFile);
    write_record(record);
    sync_directory(runs_dir_);
  } catch (...) {
    // A run that could not be recorded did not start: leave nothing behind.
    std::error_code ec;
    std::filesystem::remove_all(run_dir, ec);
    throw;
  }
}

void RunStore::remove(const std::string& id) {
  std::error_code ec;
  std::filesystem::remove_all(dir(id), ec);
}

void RunStore::update(const RunRecord& record) {
  auto run_dir = dir(record.id);
  struct stat st{};
  if (::stat(run_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw std::runtime_error(fmt::format("run store: cannot update run {}: no directory {}",
                                         record.id, run_dir.string()));
  }
  const std::string bytes = record_bytes(record);
  std::string error;
  if (write_file_atomically(record_file(record.id), bytes, 0600, &error)) {
    if (record.outcome != kOutcomeRunning) ::unlink((run_dir / kReserveFile).c_str());
    return;
  }
  if ((errno != ENOSPC && errno != EDQUOT) || !write_into_reserve(run_dir, record)) {
    throw HostError(kExitRunFailed, fmt::format("run store: run {}: {}", record.id, error));
  }
}

std::string RunStore::record_bytes(const RunRecord& record) {
  // Replace, not throw, on invalid UTF-8: a plugin's odd summary must not cost
  // the run its record.
  return nlohmann::json(record).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void RunStore::write_record(const RunRecord& record) const {
  std::string error;
  if (!write_file_atomically(record_file(record.id), record_bytes(record), 0600, &error)) {
    throw HostError(kExitRunFailed, fmt::format("run store: run {}: {}", record.id, error));
  }
}

bool RunStore::write_into_reserve(const std::filesystem::path& run_dir, RunRecord record) const {
  const auto reserve = run_dir / kReserveFile;
  UniqueFd fd(::open(reserve.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return false;
  std::string bytes = record_bytes(record);
  if (bytes.size() > kReserveBytes) {
    // The outcome matters more than the plugin's data: keep what fits.
    record.result = {{"truncated", "the disk was full: the result data was not recorded"}};
    if (record.summary.size() > 1024) record.summary.resize(1024);
    bytes = record_bytes(record);
    if (bytes.size() > kReserveBytes) return false;
  }
  // Overwriting blocks reserved at create() needs no new space.
  if (::pwrite(fd.get(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()) ||
      ::ftruncate(fd.get(), static_cast<off_t>(bytes.size())) != 0 || ::fsync(fd.get()) != 0) {
    return false;
  }
  fd.reset();
  if (::rename(reserve.c_str(), record_file(record.id).c_str()) != 0) return false;
  return !fsync_directory(run_dir);
}

std::optional<RunRecord> RunStore::read_record(const std::string& id) const {
  auto file = record_file(id);
  bool missing = false;
  std::string bytes = read_record_bytes(file, missing);
  if (missing) return std::nullopt;
  RunRecord record;
  try {
    record = nlohmann::json::parse(bytes).get<RunRecord>();
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("run store: {} is damaged: {}", file.string(), e.what()));
  }
  if (record.id != id) {
    throw std::runtime_error(fmt::format("run store: {} names run {}, not the run of its directory",
                                         file.string(), record.id));
  }
  return record;
}

std::optional<RunRecord> RunStore::load(const std::string& id) const {
  auto record = read_record(id);
  if (!record) return std::nullopt;
  return with_liveness(std::move(*record));
}

std::vector<std::string> RunStore::run_ids() const {
  std::vector<std::string> ids;
  std::error_code ec;
  std::filesystem::directory_iterator it(runs_dir_, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return ids;
    throw std::runtime_error(
        fmt::format("run store: cannot list {}: {}", runs_dir_.string(), ec.message()));
  }
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    // Anything else in the directory is not ours to judge.
    if (is_valid_run_id(name) && entry.is_directory(ec)) ids.push_back(std::move(name));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<RunRecord> RunStore::list(std::optional<std::string> plugin,
                                      std::optional<std::string> since_iso,
                                      std::vector<SkippedRun>* skipped) const {
  std::vector<RunRecord> records;
  for (const auto& id : run_ids()) {
    std::optional<RunRecord> record;
    try {
      record = read_record(id);
    } catch (const std::exception& e) {
      if (skipped) skipped->push_back({id, e.what()});
      continue;
    }
    if (!record) {
      if (skipped) {
        skipped->push_back({id, "no record.json (the host stopped while creating the run)"});
      }
      continue;
    }
    if (plugin && record->plugin != *plugin) continue;
    if (since_iso && record->started_at < *since_iso) continue;
    records.push_back(with_liveness(std::move(*record)));
  }
  return records;
}

std::vector<std::string> RunStore::mark_interrupted_runs() {
  std::vector<std::string> marked;
  for (const auto& id : run_ids()) {
    std::optional<RunRecord> record;
    try {
      record = read_record(id);
    } catch (const std::exception&) {
      continue;  // list() reports it; nothing to mark
    }
    if (!record || !is_interrupted(*record)) continue;
    record->outcome = kOutcomeInterrupted;
    record->ended_at.clear();
    if (record->summary.empty()) {
      record->summary = "the host stopped (crash, kill or power loss) before the run ended";
    }
    write_record(*record);
    marked.push_back(id);
  }
  return marked;
}

}  // namespace dihya::host
