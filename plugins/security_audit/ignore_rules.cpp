// SPDX-License-Identifier: AGPL-3.0-or-later
#include "ignore_rules.hpp"

#include <fstream>
#include <vector>

namespace security_audit {
namespace {

constexpr std::size_t kMaxPattern = 1024;
constexpr std::size_t kMaxPath = 4096;

// Matches a bracket class at glob[g] against c; sets `end` past the `]`.
bool match_class(std::string_view glob, std::size_t g, char c, std::size_t& end, bool& valid) {
  std::size_t i = g + 1;
  bool negate = false;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  for (; i < glob.size() && (glob[i] != ']' || first); ++i) {
    first = false;
    char lo = glob[i];
    char hi = lo;
    if (i + 2 < glob.size() && glob[i + 1] == '-' && glob[i + 2] != ']') {
      hi = glob[i + 2];
      i += 2;
    }
    if (c >= lo && c <= hi) matched = true;
  }
  valid = i < glob.size();
  end = i + 1;
  return matched != negate && c != '/';
}

// A memoised matcher: every (pattern position, text position) pair is decided
// once, so a hostile pattern (`*a*a*a*a*b` from a scanned repository's
// .gitignore) costs O(pattern x text), never exponential time.
class GlobMatcher {
 public:
  GlobMatcher(std::string_view glob, std::string_view text)
      : glob_(glob), text_(text), memo_(2 * (glob.size() + 1) * (text.size() + 1), 0) {}

  bool match(std::size_t g, std::size_t t) { return cached(0, g, t, [&] { return compute(g, t); }); }

 private:
  template <typename F>
  bool cached(std::size_t table, std::size_t g, std::size_t t, F&& f) {
    auto& slot = memo_[(table * (glob_.size() + 1) + g) * (text_.size() + 1) + t];
    if (slot == 0) slot = f() ? 1 : 2;
    return slot == 1;
  }

  // Inside `**/` at pattern position g: chars consumed so far end at t; the
  // consumed run must end with '/' before the rest may match.
  bool dirs(std::size_t g, std::size_t t) {
    return cached(1, g, t, [&] {
      if (text_[t - 1] == '/' && match(g + 3, t)) return true;
      return t < text_.size() && dirs(g, t + 1);
    });
  }

  bool compute(std::size_t g, std::size_t t) {
    if (g == glob_.size()) return t == text_.size();
    const char p = glob_[g];
    if (p == '*') {
      if (g + 1 < glob_.size() && glob_[g + 1] == '*') {
        if (g + 2 < glob_.size() && glob_[g + 2] == '/') return match(g + 3, t) || (t < text_.size() && dirs(g, t + 1));
        // `**` elsewhere: any run of characters, '/' included.
        return match(g + 2, t) || (t < text_.size() && match(g, t + 1));
      }
      return match(g + 1, t) || (t < text_.size() && text_[t] != '/' && match(g, t + 1));
    }
    if (t >= text_.size()) return false;
    if (p == '?') return text_[t] != '/' && match(g + 1, t + 1);
    if (p == '[') {
      std::size_t end = 0;
      bool valid = false;
      const bool m = match_class(glob_, g, text_[t], end, valid);
      if (valid) return m && match(end, t + 1);
      return text_[t] == '[' && match(g + 1, t + 1);
    }
    if (p == '\\' && g + 1 < glob_.size()) return text_[t] == glob_[g + 1] && match(g + 2, t + 1);
    return text_[t] == p && match(g + 1, t + 1);
  }

  std::string_view glob_;
  std::string_view text_;
  std::vector<unsigned char> memo_;
};

std::string_view trim_trailing_spaces(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t') &&
         !(s.size() >= 2 && s[s.size() - 2] == '\\')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

bool glob_match(std::string_view glob, std::string_view text) {
  // Longer patterns or paths are not names a tree holds; refusing them bounds the memo.
  if (glob.size() > kMaxPattern || text.size() > kMaxPath) return false;
  return GlobMatcher(glob, text).match(0, 0);
}

void IgnoreRules::add(std::string_view line) {
  line = trim_trailing_spaces(line);
  if (line.empty() || line[0] == '#') return;
  Pattern p;
  if (line[0] == '!') {
    p.negate = true;
    line.remove_prefix(1);
  } else if (line[0] == '\\' && line.size() > 1 && (line[1] == '!' || line[1] == '#')) {
    line.remove_prefix(1);
  }
  if (!line.empty() && line.back() == '/') {
    p.dir_only = true;
    line.remove_suffix(1);
  }
  if (!line.empty() && line[0] == '/') {
    p.anchored = true;
    line.remove_prefix(1);
  }
  if (line.empty()) return;
  if (line.find('/') != std::string_view::npos) p.anchored = true;
  p.glob = std::string(line);
  patterns_.push_back(std::move(p));
}

void IgnoreRules::add_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) add(line);
}

bool IgnoreRules::ignored(const std::string& relative, bool is_dir) const {
  const auto slash = relative.rfind('/');
  const std::string_view name = slash == std::string::npos ? std::string_view(relative)
                                                           : std::string_view(relative).substr(slash + 1);
  bool ignored = false;
  for (const auto& p : patterns_) {
    if (p.dir_only && !is_dir) continue;
    if (p.negate == ignored) {
      // Only a pattern that would change the verdict needs matching.
      const bool m = p.anchored ? glob_match(p.glob, relative) : glob_match(p.glob, name);
      if (m) ignored = !p.negate;
    }
  }
  return ignored;
}

}  // namespace security_audit
