// SPDX-License-Identifier: AGPL-3.0-or-later
// for_each_line_backward: whole lines newest first across chunk boundaries,
// a torn last line passed by, the window's edge, the stop, the offsets.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "util/line_tail.hpp"
#include "util/unique_fd.hpp"

namespace {

using dihya::host::for_each_line_backward;
using dihya::UniqueFd;

struct LineWalk {
  std::vector<std::string> lines;
  std::vector<std::uint64_t> after;
};

LineWalk walk_lines(const std::string& text, std::uint64_t window, std::size_t stop_after = 0) {
  dihya::testing::TempDir dir;
  const auto file = dir.path() / "log";
  std::ofstream(file, std::ios::binary) << text;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  LineWalk w;
  REQUIRE(for_each_line_backward(fd.get(), text.size(), window, 1 << 20, [&](std::string_view line, std::uint64_t at) {
    w.lines.emplace_back(line);
    w.after.push_back(at);
    return stop_after == 0 || w.lines.size() < stop_after;
  }));
  return w;
}

}  // namespace

TEST_CASE("lines are walked newest first across chunk boundaries", "[util][line_tail]") {
  const std::string a(5000, 'a');
  const std::string b(9000, 'b');
  const std::string text = a + "\n\n" + b + "\nc\n";
  const LineWalk w = walk_lines(text, text.size());
  CHECK(w.lines == std::vector<std::string>{"c", b, "", a});
  CHECK(w.after == std::vector<std::uint64_t>{text.size(), text.size() - 2, 5002, 5001});
}

TEST_CASE("a torn last line is no line, nor one that starts before the window", "[util][line_tail]") {
  const std::string text = "first\nsecond\nthird\ntorn";
  CHECK(walk_lines(text, text.size()).lines == std::vector<std::string>{"third", "second", "first"});
  // The window reaches into "second": only "third" is whole within it.
  CHECK(walk_lines(text, 15).lines == std::vector<std::string>{"third"});
  CHECK(walk_lines("no newline at all", 100).lines.empty());
}

TEST_CASE("the walk stops when told", "[util][line_tail]") {
  CHECK(walk_lines("1\n2\n3\n", 6, 2).lines == std::vector<std::string>{"3", "2"});
}
