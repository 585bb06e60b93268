// SPDX-License-Identifier: AGPL-3.0-or-later
// A subset of .gitignore semantics for choosing what to scan:
//   `*` any run of characters but `/`; `**` any run including `/` (as `**/`,
//   `/**` or `/**/`); `?` one character but `/`; `[abc]`/`[a-z]`/`[!a]` classes;
//   a leading `/` (or any `/` before the end) anchors the pattern to the root,
//   otherwise it matches a name at any depth; a trailing `/` matches directories
//   only; `!` re-includes; `#` comments; `\` escapes the next character.
// Not supported: per-directory ignore files (only the root's are read).
// The last matching pattern wins, and an excluded directory is not entered, so
// (as in git) a file below it cannot be re-included.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace security_audit {

class IgnoreRules {
 public:
  // Adds one line of an ignore file or one `exclude` item.
  void add(std::string_view line);
  // Adds every line of `file` when it exists.
  void add_file(const std::filesystem::path& file);
  // `relative` uses `/` separators and has no leading `/`.
  bool ignored(const std::string& relative, bool is_dir) const;
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    std::string glob;
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
  };
  std::vector<Pattern> patterns_;
};

// Glob match of the whole `text` (exposed for tests of the subset).
bool glob_match(std::string_view glob, std::string_view text);

}  // namespace security_audit
