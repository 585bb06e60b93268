// SPDX-License-Identifier: AGPL-3.0-or-later
// A state index (runs/state.idx) garbled by a bad disk or edited by someone
// who can write the state dir: `history` and `show` must neither list a run
// twice, leave one out, nor answer "no such run" for a run the log holds.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "temp_dir.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_store.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::RunRecord;
using dihya::host::RunStore;
using dihya::host::SkippedRun;
using dihya::testing::TempDir;

constexpr std::size_t kIndexHeaderBytes = 64;
constexpr std::size_t kIndexEntryBytes = 56;
constexpr std::size_t kEntryOffsetAt = 40;  // RunIndexEntry::offset

const std::vector<std::string> kIds = {"20261120T100000.000Z-000001", "20261121T100000.000Z-000002",
                                       "20261122T100000.000Z-000003"};

// A store holding three finished runs, its index written.
fs::path store_of_three(const TempDir& state) {
  const fs::path runs = state.path() / "runs";
  RunStore store(runs);
  for (const auto& id : kIds) {
    RunRecord record;
    record.id = id;
    record.plugin = "noop";
    record.started_at = "2026-11-2" + id.substr(7, 1) + "T10:00:00.000Z";
    dihya::host::set_host_process(record, dihya::host::current_process_identity());
    store.create(record);
    record.outcome = "succeeded";
    store.update(record);
  }
  REQUIRE(store.list().size() == 3);
  return runs;
}

std::vector<char> read_index(const fs::path& runs) {
  std::ifstream in(runs / "state.idx", std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_index(const fs::path& runs, const std::vector<char>& bytes) {
  std::ofstream out(runs / "state.idx", std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

char* index_entry(std::vector<char>& bytes, std::size_t i) {
  REQUIRE(bytes.size() >= kIndexHeaderBytes + (i + 1) * kIndexEntryBytes);
  return bytes.data() + kIndexHeaderBytes + i * kIndexEntryBytes;
}

std::vector<std::string> ids_of(const std::vector<RunRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.id);
  return ids;
}

ino_t inode_of(const fs::path& file) {
  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_ino;
}

bool says_index_rebuilt(const std::vector<SkippedRun>& skipped) {
  for (const auto& s : skipped) {
    if (s.id == "state.idx" && s.reason.find("rebuilt") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("an index whose entries are out of order is rebuilt, and says so", "[runs][store][hostile]") {
  TempDir state;
  const fs::path runs = store_of_three(state);
  auto bytes = read_index(runs);
  std::swap_ranges(index_entry(bytes, 1), index_entry(bytes, 1) + kIndexEntryBytes, index_entry(bytes, 2));
  write_index(runs, bytes);

  RunStore store(runs);
  SECTION("show finds every run the log holds") {
    for (const auto& id : kIds) {
      const auto record = store.load(id);
      REQUIRE(record);
      CHECK(record->id == id);
    }
  }
  SECTION("history lists each run once, in order, with a warning") {
    std::vector<SkippedRun> skipped;
    CHECK(ids_of(store.list(std::nullopt, std::nullopt, &skipped)) == kIds);
    CHECK(says_index_rebuilt(skipped));
    // Rebuilt on disk: the next reader has nothing to say.
    skipped.clear();
    CHECK(ids_of(RunStore(runs).list(std::nullopt, std::nullopt, &skipped)) == kIds);
    CHECK(skipped.empty());
  }
}

TEST_CASE("an index entry that points at another run's record is rebuilt", "[runs][store][hostile]") {
  TempDir state;
  const fs::path runs = store_of_three(state);
  auto bytes = read_index(runs);
  SECTION("the offset of another run's put") {
    std::memcpy(index_entry(bytes, 2) + kEntryOffsetAt, index_entry(bytes, 1) + kEntryOffsetAt, sizeof(std::uint64_t));
  }
  SECTION("an offset inside a line") {
    const std::uint64_t inside = 7;
    std::memcpy(index_entry(bytes, 2) + kEntryOffsetAt, &inside, sizeof inside);
  }
  SECTION("the offset of the log's header") {
    const std::uint64_t header = 0;
    std::memcpy(index_entry(bytes, 2) + kEntryOffsetAt, &header, sizeof header);
  }
  write_index(runs, bytes);

  std::vector<SkippedRun> skipped;
  CHECK(ids_of(RunStore(runs).list(std::nullopt, std::nullopt, &skipped)) == kIds);
  CHECK(says_index_rebuilt(skipped));
  write_index(runs, bytes);
  const auto record = RunStore(runs).load(kIds[2]);
  REQUIRE(record);
  CHECK(record->id == kIds[2]);
}

TEST_CASE("an intact index is not rebuilt by readers", "[runs][store][hostile]") {
  TempDir state;
  const fs::path runs = store_of_three(state);
  // A rebuild writes a new file and renames it over the old one.
  const ino_t before = inode_of(runs / "state.idx");
  std::vector<SkippedRun> skipped;
  CHECK(ids_of(RunStore(runs).list(std::nullopt, std::nullopt, &skipped)) == kIds);
  CHECK(skipped.empty());
  CHECK_FALSE(RunStore(runs).load("20261123T100000.000Z-000004"));
  CHECK(inode_of(runs / "state.idx") == before);
}
