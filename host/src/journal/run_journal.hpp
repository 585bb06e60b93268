// SPDX-License-Identifier: AGPL-3.0-or-later
// The write-ahead undo log of one run, on disk. The host records each undo
// entry the plugin sends and acknowledges it only once it is durable, so the
// plugin performs a destructive step only after the way to undo it survives a
// crash or power loss. After a failed, cancelled or interrupted run the host
// reads the entries back and hands them to Plugin::rollback.
//
// Format: JSON lines, each '\n' terminated and fdatasynced before the call
// that wrote it returns:
//   {"i":0,"action":"delete_rows","data":{...}}   undo entries, i = 0, 1, 2...
//   {"rollback":"started"}  {"rollback":"done"}    rollback progress markers
// A last line without '\n' is a write cut short by a crash: the record() that
// wrote it never returned, so the plugin was never told to go ahead and the
// step it guarded never happened. Readers ignore it (JournalContents::torn_tail).
//
// The markers only say how far the host got: the plugin receives all entries,
// newest first, and its rollback must be idempotent, so a rollback that
// "started" but never got "done" is simply run again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

#include "dihya/journal.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {

// How large the host lets a run's journal grow (the entry that would pass it
// is refused: RunSink::on_journal); a rollback reads it whole into memory.
inline constexpr std::uint64_t kMaxJournalBytes = 256u << 20;
// What a reader accepts: the entries plus room for the rollback markers every
// attempt to roll back appends (about 50 bytes each).
inline constexpr std::uint64_t kMaxJournalFileBytes = kMaxJournalBytes + (1u << 20);

// Movable, not copyable, not thread-safe (one run has one writer: the host's
// supervisor). After any write or sync failure the journal refuses further
// writes: a failed fdatasync leaves unknown data on disk, so the only safe
// answer to the plugin is "stop".
class RunJournal : public dihya::Journal {
 public:
  // Creates the file (it must not exist), mode 0600, and syncs its directory
  // so the journal itself survives a crash. Throws a state error (errors.hpp) naming
  // the file, e.g. when it already exists or the directory is missing.
  static RunJournal create(const std::filesystem::path& file);

  // Opens an existing journal to append rollback markers, e.g. to roll back a
  // run interrupted by a crash. A torn last line is cut off first (it was never
  // acknowledged), so the markers start on a line of their own. Throws
  // a state error (errors.hpp) naming the file when it is missing or damaged.
  static RunJournal reopen(const std::filesystem::path& file);

  RunJournal(RunJournal&&) noexcept = default;
  RunJournal& operator=(RunJournal&&) noexcept = default;
  RunJournal(const RunJournal&) = delete;
  RunJournal& operator=(const RunJournal&) = delete;

  // Appends the entry and returns after write() + fdatasync(). Throws
  // dihya::Error naming the file when it cannot (or when `data` is not valid
  // UTF-8: binary undo data must be encoded, e.g. base64, by the plugin).
  void record(const dihya::UndoEntry& entry) override;

  // record() in two steps, for a caller that weighs the line before it is
  // written: the line of undo entry number INDEX (throws dihya::Error as
  // record() does, naming FILE), then its append (the next entry's line).
  static std::string encode(std::uint64_t index, const dihya::UndoEntry& entry, const std::filesystem::path& file);
  void append_entry(std::string line);

  // Durable progress markers around a rollback. Throw dihya::Error like record().
  void mark_rollback_started();
  void mark_rollback_done();

  const std::filesystem::path& file() const { return file_; }
  // Undo entries in the file, including those recorded before reopen().
  std::uint64_t entry_count() const { return next_index_; }

 private:
  RunJournal(std::filesystem::path file, UniqueFd fd, off_t size, std::uint64_t next_index);
  void append_line(std::string line);

  std::filesystem::path file_;
  UniqueFd fd_;
  off_t size_ = 0;                // bytes known durable; a failed write is cut back to it
  std::uint64_t next_index_ = 0;  // the "i" of the next entry
  bool broken_ = false;
};

struct JournalContents {
  std::vector<dihya::UndoEntry> entries;  // oldest first
  bool rollback_started = false;
  bool rollback_done = false;
  bool torn_tail = false;                 // a never-acknowledged partial line was ignored
};

// Reads a journal back; a missing file is an empty journal. Throws
// a state error (errors.hpp) naming the file and line when a complete line is not a
// journal record or an index is out of sequence: undo data that cannot be
// trusted must stop the rollback rather than half-apply it.
JournalContents read_journal(const std::filesystem::path& file);

}  // namespace dihya::host
