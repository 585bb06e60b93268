// SPDX-License-Identifier: AGPL-3.0-or-later
// The thread pool of SecretScanner::scan_files: workers take the next file
// from a shared counter, each with its own vectorscan scratch (a scratch must
// never be shared between threads) and its own findings, merged at the end.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <system_error>
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
  std::atomic<bool> stop{false};
  std::mutex merge;
  std::vector<Finding> all;
  std::string failure;
  const auto fail = [&](std::string what) {
    std::lock_guard<std::mutex> lock(merge);
    if (failure.empty()) failure = std::move(what);
    stop = true;
  };

  const auto scan_share = [&]() {
    hs_scratch_t* raw = nullptr;
    if (hs_clone_scratch(scratch_, &raw) != HS_SUCCESS) {
      fail("cannot allocate vectorscan scratch space");
      return;
    }
    const std::unique_ptr<hs_scratch_t, decltype(&hs_free_scratch)> scratch(raw, &hs_free_scratch);
    std::vector<char> buffer;
    std::vector<Finding> mine;
    SecretScanStats local;
    for (;;) {
      if (stop || cancelled()) break;
      const std::size_t i = next.fetch_add(1);
      if (i >= files.size()) break;
      try {
        scan_one_file(*this, files[i], max_file_size, scratch.get(), buffer, mine, local);
      } catch (const std::exception& e) {
        fail(std::string(e.what()) + " (" + printable(files[i].relative) + ")");
        break;
      }
      const std::size_t d = done.fetch_add(1) + 1;
      if (d % 512 == 0) progress(d, files.size());
    }
    std::lock_guard<std::mutex> lock(merge);
    for (auto& f : mine) all.push_back(std::move(f));
    stats.files += local.files;
    stats.bytes += local.bytes;
    stats.skipped_binary += local.skipped_binary;
    stats.skipped_large += local.skipped_large;
    stats.unreadable += local.unreadable;
  };
  // Nothing may escape a worker: an exception leaving a std::thread ends the
  // process (std::terminate), and one leaving the calling thread while the
  // others run destroys joinable threads, which does the same. The first
  // failure stops every worker and becomes the run's error, naming the file.
  const auto worker = [&]() {
    try {
      scan_share();
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("unexpected error in a scanning thread");
    }
  };

  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: scan with those there are
    }
  }
  worker();
  for (auto& t : pool) t.join();
  if (!failure.empty()) throw dihya::Error(failure.rfind("security_audit: ", 0) == 0 ? failure : "security_audit: " + failure);
  progress(done.load(), files.size());
  return all;
}

}  // namespace security_audit
