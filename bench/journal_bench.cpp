// SPDX-License-Identifier: AGPL-3.0-or-later
// Journal append throughput: RunJournal::record (JSON line + write + fdatasync)
// against the bare anchor, a loop of write + fdatasync of the same bytes.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "journal/run_journal.hpp"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const auto dir = std::filesystem::temp_directory_path() / ("dihya-journal-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const dihya::UndoEntry entry{"reinsert_rows", {{"table", "users"}, {"rows", {{{"id", 42}, {"email", "a@example.org"}}}}}};
  const std::string line = nlohmann::json{{"i", 0}, {"action", entry.action}, {"data", entry.data}}.dump() + "\n";

  // Rounds alternate between the two so that a slow patch of the disk (fsync
  // latency varies a lot on shared virtual disks) hits both alike.
  using Clock = std::chrono::steady_clock;
  constexpr int kRounds = 10;
  double ours = 0;
  double bare = 0;
  auto journal = dihya::host::RunJournal::create(dir / "journal.jsonl");
  int fd = ::open((dir / "bare.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  for (int round = 0; round < kRounds; ++round) {
    auto start = Clock::now();
    for (int i = 0; i < n / kRounds; ++i) journal.record(entry);
    ours += std::chrono::duration<double>(Clock::now() - start).count();
    start = Clock::now();
    for (int i = 0; i < n / kRounds; ++i) {
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fdatasync(fd) != 0) return 1;
    }
    bare += std::chrono::duration<double>(Clock::now() - start).count();
  }
  ::close(fd);
  std::filesystem::remove_all(dir);
  std::printf("{\"entries\": %d, \"journal_per_s\": %.0f, \"bare_per_s\": %.0f}\n", n, n / ours, n / bare);
  return 0;
}
