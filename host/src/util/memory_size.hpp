// SPDX-License-Identifier: AGPL-3.0-or-later
// Sizes of memory as operators write them (config memory_max, --memory-max)
// and as messages show them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dihya::host {

constexpr std::uint64_t kMinMemoryMax = 32ULL << 20;  // below it a plugin cannot even load
// What parse_memory_size() takes, for the messages that refuse a size.
constexpr const char* kMemorySizeExpected = "expected a size of at least 32M like 512M, 4G, or off";

// The memory a plugin child may hold: "512M", "2G", "1T", "65536K", a number
// of bytes, or "off" (0: no limit). K, M, G, T are powers of 1024, as for
// systemd's MemoryMax. Nothing when malformed, below kMinMemoryMax or above
// 2^60 bytes.
std::optional<std::uint64_t> parse_memory_size(const std::string& text);
// "512 MiB", "12 GiB", "1.5 GiB" for messages; "no limit" for 0.
std::string memory_size_text(std::uint64_t bytes);

// The memory limit of a plugin child when no setting names one: half the
// RAM, so that one runaway plugin cannot push the database or the host into
// the OOM killer (at least kMinMemoryMax; 0 when the RAM is unknown).
std::uint64_t default_memory_max();

}  // namespace dihya::host
