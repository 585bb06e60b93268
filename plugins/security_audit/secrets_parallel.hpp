// SPDX-License-Identifier: AGPL-3.0-or-later
// The thread pool of SecretScanner::scan_files: workers take the next file
// from a shared counter, each with its own vectorscan scratch (a scratch must
// never be shared between threads) and its own findings, merged at the end.
#pragma once

#include <mutex>
#include <thread>

#include <dihya/error.hpp>
#include <hs/hs.h>

namespace security_audit {

template <typename Cancelled, typename Progress>
std::vector<Finding> SecretScanner::scan_files(const std::vector<ScanFile>& files, unsigned threads,
                                               std::uint64_t max_file_size, SecretScanStats& stats,
                                               Cancelled cancelled, Progress progress) const {
  if (threads == 0) threads = 1;
  if (threads > files.size() && !files.empty()) threads = static_cast<unsigned>(files.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex merge;
  std::vector<Finding> all;
  std::string failure;

  auto worker = [&]() {
    hs_scratch_t* scratch = nullptr;
    if (hs_clone_scratch(scratch_, &scratch) != HS_SUCCESS) {
      std::lock_guard<std::mutex> lock(merge);
      failure = "cannot allocate vectorscan scratch space";
      return;
    }
    std::vector<char> buffer;
    std::vector<Finding> mine;
    SecretScanStats local;
    for (;;) {
      if (cancelled()) break;
      const std::size_t i = next.fetch_add(1);
      if (i >= files.size()) break;
      scan_one_file(*this, files[i], max_file_size, scratch, buffer, mine, local);
      const std::size_t d = done.fetch_add(1) + 1;
      if (d % 512 == 0) progress(d, files.size());
    }
    hs_free_scratch(scratch);
    std::lock_guard<std::mutex> lock(merge);
    for (auto& f : mine) all.push_back(std::move(f));
    stats.files += local.files;
    stats.bytes += local.bytes;
    stats.skipped_binary += local.skipped_binary;
    stats.skipped_large += local.skipped_large;
    stats.unreadable += local.unreadable;
  };

  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (!failure.empty()) throw dihya::Error("security_audit: " + failure);
  progress(done.load(), files.size());
  return all;
}

}  // namespace security_audit
