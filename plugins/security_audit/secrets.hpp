// SPDX-License-Identifier: AGPL-3.0-or-later
// The secrets check: every token rule compiled into ONE vectorscan database,
// each file scanned once, then each match confirmed by extracting the exact
// value and filtering it (entropy, placeholders, stop words). Values leave this
// file only as a mask and a fingerprint.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "finding.hpp"
#include "ignore_rules.hpp"
#include "tree_walk.hpp"

struct hs_database;
struct hs_scratch;

namespace security_audit {

struct SecretRuleInfo {
  std::string id;
  std::string title;
  std::string fix;
  Severity severity;
};

// The rules, for SARIF's tool.driver.rules and the manual.
std::vector<SecretRuleInfo> secret_rules();

// A file chosen for scanning.
struct ScanFile {
  std::filesystem::path absolute;
  std::string relative;
};


// Lists regular files under `root`, not following symlinks, never entering
// `.git`, an ignored directory or one deeper than kMaxScanDepth; what it
// cannot list goes to `gaps`.
inline constexpr int kMaxScanDepth = 256;
std::vector<ScanFile> list_files(const std::filesystem::path& root, const IgnoreRules& rules, Unexamined& gaps);

struct SecretScanStats {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t skipped_binary = 0;
  std::uint64_t skipped_large = 0;
  std::uint64_t unreadable = 0;
};

class SecretScanner {
 public:
  // Compiles the rule database; throws dihya::Error when vectorscan refuses it.
  SecretScanner();
  ~SecretScanner();
  SecretScanner(const SecretScanner&) = delete;
  SecretScanner& operator=(const SecretScanner&) = delete;

  // Scans one buffer. `scratch` belongs to the calling thread.
  std::vector<Finding> scan(const char* data, std::size_t size, const std::string& relative,
                            hs_scratch* scratch) const;

  // Scans `files` with `threads` workers. `cancelled` is polled between files;
  // `progress(done,total)` is called now and then from any worker.
  template <typename Cancelled, typename Progress>
  std::vector<Finding> scan_files(const std::vector<ScanFile>& files, unsigned threads, std::uint64_t max_file_size,
                                  SecretScanStats& stats, Cancelled cancelled, Progress progress) const;

  hs_scratch* prototype_scratch() const { return scratch_; }

 private:
  hs_database* db_ = nullptr;
  hs_scratch* scratch_ = nullptr;
};

// Reads and scans one file into `out`; updates stats. Exposed for scan_files.
void scan_one_file(const SecretScanner& scanner, const ScanFile& file, std::uint64_t max_file_size,
                   hs_scratch* scratch, std::vector<char>& buffer, std::vector<Finding>& out, SecretScanStats& stats);

}  // namespace security_audit

#include "secrets_parallel.hpp"
