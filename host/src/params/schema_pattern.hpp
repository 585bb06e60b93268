// SPDX-License-Identifier: AGPL-3.0-or-later
// JSON Schema's regular expressions ("pattern", "patternProperties" keys),
// matched in time linear in the text and without recursion. std::regex, what
// valijson uses, backtracks and recurses once per character: a 50 000-byte
// parameter overflowed the host's stack, and a plugin's "^(a+)+$" made the
// host spin for ever in its own process, where no --timeout reaches. Patterns
// are compiled by vectorscan (the Hyperscan API) into automata that read the
// text once; what it cannot compile so (backreferences, lookaround) is a
// schema error, never a fallback to a backtracking engine.
#pragma once

#include <string>
#include <string_view>

namespace dihya::host {

// Why `pattern` cannot be a schema pattern, or "" when it can: not
// vectorscan's syntax (backreferences, lookaround...), or so large that
// compiling it would take seconds. Cheap: parses, compiles nothing.
std::string schema_pattern_problem(const std::string& pattern);

// Whether `pattern` (as a schema writes it: ECMA-262 syntax, `$` only at the
// very end of the text) matches somewhere in `text`, as draft-07 says. Each
// pattern is compiled once per process. Throws HostError (usage) "pattern
// '...' is not a valid regular expression here: ..." when it cannot be
// compiled. Thread-safe.
bool schema_pattern_matches(const std::string& pattern, std::string_view text);

// Compiles `pattern` now (what schema_pattern_matches would do first), for a
// check that must find every unusable pattern, not only those a value
// reaches. Throws like schema_pattern_matches.
void compile_schema_pattern(const std::string& pattern);

}  // namespace dihya::host
