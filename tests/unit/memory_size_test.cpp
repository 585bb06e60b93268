// SPDX-License-Identifier: AGPL-3.0-or-later
#include <catch2/catch.hpp>

#include "util/memory_size.hpp"

using dihya::host::memory_size_text;
using dihya::host::parse_memory_size;

TEST_CASE("memory sizes as operators write them", "[memory]") {
  CHECK(parse_memory_size("off") == std::uint64_t{0});
  CHECK(parse_memory_size("512M") == std::uint64_t{512} << 20);
  CHECK(parse_memory_size("512m") == std::uint64_t{512} << 20);
  CHECK(parse_memory_size("4G") == std::uint64_t{4} << 30);
  CHECK(parse_memory_size("1T") == std::uint64_t{1} << 40);
  CHECK(parse_memory_size("65536K") == std::uint64_t{64} << 20);
  CHECK(parse_memory_size("33554432") == std::uint64_t{32} << 20);
  CHECK(parse_memory_size("1048576T") == std::uint64_t{1} << 60);
  // Malformed, below 32 MiB, or beyond 2^60 bytes (no overflow on the way).
  for (const char* bad : {"", "M", "12X", "1.5G", "-1G", " 1G", "1G ", "1", "31M", "1048577T", "99999999999999999999",
                          "18446744073709551615", "OFF", "0"}) {
    INFO(bad);
    CHECK_FALSE(parse_memory_size(bad).has_value());
  }
}

TEST_CASE("memory sizes in messages", "[memory]") {
  CHECK(memory_size_text(0) == "no limit");
  CHECK(memory_size_text(std::uint64_t{256} << 20) == "256 MiB");
  CHECK(memory_size_text(std::uint64_t{3} << 29) == "1.5 GiB");
  CHECK(memory_size_text(std::uint64_t{12} << 30) == "12 GiB");
  CHECK(memory_size_text(1000) == "1000 B");
}
