// SPDX-License-Identifier: AGPL-3.0-or-later
// A Context for a plugin's own unit tests: the test constructs the plugin class
// itself and calls validate/run/rollback in-process, with a context it controls
// and reads back. What the host would record is kept in memory: log lines,
// journal entries, progress. The database is the test's: a connection it hands
// over (use_database) or a URL (set_database_url), typically a scratch
// database; ctx.db() then returns it. Nothing is faked about PostgreSQL itself.
//
//   dihya::testing::FakeContext ctx;
//   pqxx::connection db(url);
//   ctx.use_database(db).set_dry_run(true);
//   auto result = MyPlugin().run(dihya::Params({{"batch", 10}}), ctx);
//   CHECK(ctx.journal_entries().empty());
//
// The test executable compiles the plugin's sources with the target's
// DIHYA_METADATA_SOURCE (see DihyaPlugin.cmake) and links Dihya::sdk.
// Not thread-safe, except what Context itself promises (cancelled, progress,
// log writes).
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dihya/context.hpp"
#include "dihya/database.hpp"
#include "dihya/error.hpp"
#include "dihya/journal.hpp"
#include "dihya/logger.hpp"

namespace dihya::testing {

struct LogLine {
  LogLevel level;
  std::string text;
};

struct ProgressReport {
  std::uint64_t done;
  std::uint64_t total;
  std::string what;
};

class FakeContext final : public Context {
 public:
  // Makes a private scratch folder holding work/ and output/; it is removed
  // with the context. Throws std::system_error when it cannot be made.
  FakeContext() : root_(make_scratch_dir()), work_dir_(root_ / "work"), output_dir_(root_ / "output") {
    std::filesystem::create_directory(work_dir_);
    std::filesystem::create_directory(output_dir_);
  }
  ~FakeContext() override {
    close_database();
    std::error_code ignored;  // a test's leftovers in /tmp must not fail the test
    std::filesystem::remove_all(root_, ignored);
  }
  FakeContext(const FakeContext&) = delete;
  FakeContext& operator=(const FakeContext&) = delete;

  // Arrange.
  FakeContext& set_dry_run(bool on) { dry_run_ = on; return *this; }
  FakeContext& set_secret(std::string name, std::string value) {
    secrets_[std::move(name)] = std::move(value);
    return *this;
  }
  FakeContext& set_now(std::chrono::system_clock::time_point now) { now_ = now; return *this; }
  FakeContext& set_run_id(std::string id) { run_id_ = std::move(id); return *this; }
  // ctx.db() opens `url` on first use, as the host's context does.
  FakeContext& set_database_url(std::string url) { database_url_ = std::move(url); return *this; }
  // ctx.db() returns `connection`, which the test owns and keeps alive.
  FakeContext& use_database(pqxx::connection& connection) { database_ = &connection; return *this; }
  // Asks the plugin to stop, as the host does on a timeout or Ctrl-C.
  void cancel() { cancelled_ = true; }
  // Called after each progress report (e.g. to cancel after the first batch).
  std::function<void(const ProgressReport&)> on_progress;
  // Called with each undo entry before it is appended, as the host would make
  // it durable: a throw here fails the record() call, as a full disk would.
  std::function<void(const UndoEntry&)> on_record;

  // Assert.
  const std::vector<LogLine>& log_lines() const { return logger_.lines; }
  const std::vector<UndoEntry>& journal_entries() const { return journal_.entries; }
  // The entries newest first, as the host hands them to Plugin::rollback.
  std::vector<UndoEntry> entries_newest_first() const {
    return {journal_.entries.rbegin(), journal_.entries.rend()};
  }
  const std::vector<ProgressReport>& progress_reports() const { return progress_; }

  // Context.
  Logger& log() override { return logger_; }
  bool dry_run() const override { return dry_run_; }
  bool cancelled() const override { return cancelled_; }
  void progress(std::uint64_t done, std::uint64_t total, std::string_view what) override {
    ProgressReport report{done, total, std::string(what)};
    {
      std::lock_guard<std::mutex> lock(progress_mutex_);
      progress_.push_back(report);
    }
    if (on_progress) on_progress(report);
  }
  Journal& journal() override { return journal_; }
  const std::filesystem::path& work_dir() const override { return work_dir_; }
  const std::filesystem::path& output_dir() const override { return output_dir_; }
  std::optional<std::string> secret(std::string_view name) const override {
    auto it = secrets_.find(std::string(name));
    if (it == secrets_.end()) return std::nullopt;
    return it->second;
  }
  std::chrono::system_clock::time_point now() const override { return now_; }
  const std::string& run_id() const override { return run_id_; }
  const std::string& database_url() const override { return database_url_; }

 protected:
  pqxx::connection* own_database() override { return database_; }

 private:
  struct MemoryLogger final : Logger {
    void write(LogLevel level, std::string_view message) override {
      std::lock_guard<std::mutex> lock(mutex);
      lines.push_back({level, std::string(message)});
    }
    std::mutex mutex;
    std::vector<LogLine> lines;
  };
  struct MemoryJournal final : Journal {
    explicit MemoryJournal(FakeContext& owner) : context(owner) {}
    void record(const UndoEntry& entry) override {
      if (context.on_record) context.on_record(entry);
      entries.push_back(entry);
    }
    FakeContext& context;
    std::vector<UndoEntry> entries;
  };

  static std::filesystem::path make_scratch_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dihya-fake-context-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "cannot create a scratch directory in " + pattern);
    }
    return pattern;
  }

  std::filesystem::path root_;
  std::filesystem::path work_dir_;
  std::filesystem::path output_dir_;
  MemoryLogger logger_;
  MemoryJournal journal_{*this};
  std::mutex progress_mutex_;
  std::vector<ProgressReport> progress_;
  bool dry_run_ = false;
  std::atomic<bool> cancelled_{false};
  std::map<std::string, std::string> secrets_;
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1795643400));  // 2026-11-25T21:50:00Z
  std::string run_id_ = "20261125T215000Z-test";
  std::string database_url_;
  pqxx::connection* database_ = nullptr;
};

}  // namespace dihya::testing
