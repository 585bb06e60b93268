// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for <dihya/bounded_mustache.hpp>: its measure walks
// kainjow's parse tree the way kainjow renders and must count exactly the
// bytes kainjow then writes; a count below it would let a hostile template
// grow kainjow's line buffer past the bound, one above it would refuse a
// template that fits. For every template over a fixed data set (lists,
// nested objects, HTML characters, a partial that includes itself):
//  - a rendered text is exactly what the measure counted;
//  - the outcome at a limit L agrees with what the render held at most at a
//    large one (the text so far and the line being built, at least its size
//    S): rendered, the same text, when that fits in L, too large when not;
//  - a render never throws.
// The first input byte picks L (0..255) and the escape (HTML or none).
#include <cstddef>
#include <cstdint>
#include <string>

#include <dihya/bounded_mustache.hpp>

namespace {

kainjow::mustache::data fuzz_data() {
  using kainjow::mustache::data;
  data list{data::type::list};
  for (const char* v : {"1", "two", "<3>"}) list << data(v);
  data items{data::type::list};
  for (const char* v : {"x", "y"}) {
    data item;
    item.set("v", v);
    item.set("flag", data::type::bool_true);
    items << item;
  }
  data inner;
  inner.set("a", list);
  inner.set("n", "N&amp;");
  data root;
  root.set("a", list);
  root.set("items", items);
  root.set("o", inner);
  root.set("t", data::type::bool_true);
  root.set("f", data::type::bool_false);
  root.set("e", data{data::type::list});
  root.set("s", "<b> & \"q\" 'x'\nline");
  root.set("inc", data{kainjow::mustache::partial{[]() { return std::string("[{{s}}{{>inc}}]"); }}});
  root.set("p", data{kainjow::mustache::partial{[]() { return std::string("{{#a}}-{{.}}{{/a}}"); }}});
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const kainjow::mustache::data values = fuzz_data();
  const std::size_t limit = data[0];
  const bool html = (data[0] & 1) != 0;
  const std::string source(reinterpret_cast<const char*>(data) + 1, size - 1);
  dihya::BoundedMustache tmpl(source);
  if (!html) tmpl.set_custom_escape([](const std::string& s) { return s; });
  if (!tmpl.is_valid()) return 0;
  std::string full;
  std::size_t steps = 200000;
  const auto outcome = tmpl.render(values, 1 << 20, &steps, &full);
  if (outcome != dihya::BoundedMustache::Outcome::kRendered) return 0;
  const std::size_t peak = tmpl.measured_peak();
  if (tmpl.measured_bytes() != full.size() || peak < full.size()) __builtin_trap();
  std::string bounded;
  steps = 200000;
  const auto at_limit = tmpl.render(values, limit, &steps, &bounded);
  if (peak <= limit) {
    if (at_limit != dihya::BoundedMustache::Outcome::kRendered || bounded != full) __builtin_trap();
  } else if (at_limit != dihya::BoundedMustache::Outcome::kTooLarge || !bounded.empty()) {
    __builtin_trap();
  }
  return 0;
}
