// SPDX-License-Identifier: AGPL-3.0-or-later
// The plain-text spec parser: French or English sentences ("Une API Flask
// avec des utilisateurs et des produits, authentification JWT, PostgreSQL")
// turned into a structured spec (spec.hpp) by fixed, documented rules — no
// statistics, no model: the same text always gives the same spec. It reports
// each rule that fired with the words it used, and the words it did not use,
// so a person can see at once what was understood and rephrase the rest.
// Pure: no I/O (the fuzz target links it alone).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace generate_project {

inline constexpr std::size_t kMaxTextBytes = 64 * 1024;

struct TextSpec {
  nlohmann::json spec;                 // input for normalize_spec()
  std::string language;                // "fr" or "en"
  nlohmann::json understood = nlohmann::json::array();  // [{rule, words, value}]
  std::vector<std::string> ignored;    // words no rule used (articles excluded)
};

// Throws dihya::Error for text that is not UTF-8, holds NUL or is too long.
TextSpec parse_text_spec(std::string_view text);

}  // namespace generate_project
