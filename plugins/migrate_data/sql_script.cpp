// SPDX-License-Identifier: AGPL-3.0-or-later
#include "sql_script.hpp"

#include <algorithm>
#include <cctype>

namespace migrate_data {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '$'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The lower-cased words of a statement outside comments, up to `limit`.
std::vector<std::string> leading_words(std::string_view s, std::size_t limit) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size() && words.size() < limit) {
    if (s.compare(i, 2, "--") == 0) {
      i = s.find('\n', i);
      if (i == std::string_view::npos) break;
    } else if (s.compare(i, 2, "/*") == 0) {
      i = s.find("*/", i);
      if (i == std::string_view::npos) break;
      i += 2;
    } else if (is_ident_start(s[i])) {
      std::size_t e = i;
      while (e < s.size() && is_ident_char(s[e])) ++e;
      words.push_back(lower(s.substr(i, e - i)));
      i = e;
    } else if (std::isspace(static_cast<unsigned char>(s[i]))) {
      ++i;
    } else {
      break;  // punctuation, a quote: the statement's head is over
    }
  }
  return words;
}

// psql's heuristic for SQL-standard bodies: inside CREATE [OR REPLACE]
// FUNCTION|PROCEDURE, BEGIN ... END (and CASE ... END within) nest, and a ';'
// inside them does not end the statement.
struct BodyTracker {
  std::vector<std::string> head;  // first words of the statement
  int begin_depth = 0;

  void word(std::string w, int paren_depth) {
    if (head.size() < 4) head.push_back(w);
    const bool routine =
        head.size() >= 2 && head[0] == "create" &&
        (head[1] == "function" || head[1] == "procedure" ||
         (head.size() >= 4 && head[1] == "or" && head[2] == "replace" &&
          (head[3] == "function" || head[3] == "procedure")));
    if (!routine || paren_depth != 0) return;
    if (w == "begin") {
      ++begin_depth;
    } else if (w == "case") {
      if (begin_depth >= 1) ++begin_depth;
    } else if (w == "end") {
      if (begin_depth > 0) --begin_depth;
    }
  }
  void reset() {
    head.clear();
    begin_depth = 0;
  }
};

}  // namespace

std::vector<Statement> split_statements(std::string_view sql, std::size_t first_line) {
  std::vector<Statement> out;
  std::string current;
  bool meaningful = false;  // the current piece holds more than blanks and comments
  std::size_t line = first_line;
  std::size_t piece_line = 0;  // line of the piece's first code byte (0: none yet)
  std::size_t code_start = 0;  // where that byte is in `current`: leading comments are dropped
  int paren_depth = 0;
  BodyTracker body;
  auto push = [&] {
    if (meaningful) {
      const auto e = current.find_last_not_of(" \t\r\n");
      out.push_back({current.substr(code_start, e - code_start + 1), piece_line});
    }
    current.clear();
    code_start = 0;
    meaningful = false;
    piece_line = 0;
    paren_depth = 0;
    body.reset();
  };
  const std::size_t n = sql.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = sql[i];
    const char next = i + 1 < n ? sql[i + 1] : '\0';
    std::size_t end = i + 1;  // one past the token starting at i
    const bool blank = std::isspace(static_cast<unsigned char>(c));
    bool is_code = !blank;
    if (c == '-' && next == '-') {
      end = sql.find('\n', i);
      end = end == std::string_view::npos ? n : end;
      is_code = false;
    } else if (c == '/' && next == '*') {
      int depth = 0;
      end = i;
      while (end < n) {
        if (sql.compare(end, 2, "/*") == 0) {
          ++depth;
          end += 2;
          continue;
        }
        if (sql.compare(end, 2, "*/") == 0) {
          end += 2;
          if (--depth == 0) break;
          continue;
        }
        ++end;
      }
      is_code = false;
    } else if (c == '\'' || c == '"') {
      // E'...' strings take backslash escapes; '' (or "") is an escaped quote.
      const bool escapes =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !is_ident_char(sql[i - 2]));
      end = i + 1;
      while (end < n) {
        if (escapes && sql[end] == '\\') {
          end += 2;
          continue;
        }
        if (sql[end] == c) {
          if (end + 1 < n && sql[end + 1] == c) {
            end += 2;
            continue;
          }
          ++end;
          break;
        }
        ++end;
      }
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty; $1 is a parameter, not a tag).
      std::size_t t = i + 1;
      if (t < n && !is_digit(sql[t])) {
        while (t < n && is_ident_char(sql[t]) && sql[t] != '$') ++t;
        if (t < n && sql[t] == '$') {
          const std::string tag(sql.substr(i, t - i + 1));
          const auto close = sql.find(tag, t + 1);
          end = close == std::string_view::npos ? n : close + tag.size();
        }
      }
    } else if (is_ident_start(c) && (i == 0 || !is_ident_char(sql[i - 1]))) {
      while (end < n && is_ident_char(sql[end])) ++end;
      body.word(lower(sql.substr(i, end - i)), paren_depth);
    } else if (c == '(') {
      ++paren_depth;
    } else if (c == ')') {
      if (paren_depth > 0) --paren_depth;
    } else if (c == ';' && paren_depth == 0 && body.begin_depth == 0) {
      push();
      i = end;
      continue;
    }
    if (end > n) end = n;
    if (is_code && piece_line == 0) {
      piece_line = line;
      code_start = current.size();
    }
    current.append(sql.substr(i, end - i));
    line += static_cast<std::size_t>(std::count(sql.begin() + i, sql.begin() + end, '\n'));
    meaningful = meaningful || is_code;
    i = end;
  }
  push();
  return out;
}

std::vector<Statement> split_goose_statements(std::string_view sql, std::size_t first_line) {
  std::vector<Statement> out;
  std::size_t pos = 0, line = first_line;
  std::size_t chunk_start = 0, chunk_line = first_line;  // plain text waiting to be split
  std::size_t block_start = std::string_view::npos, block_line = 0;
  auto trimmed = [](std::string_view l) {
    while (!l.empty() && std::isspace(static_cast<unsigned char>(l.back()))) l.remove_suffix(1);
    while (!l.empty() && std::isspace(static_cast<unsigned char>(l.front()))) l.remove_prefix(1);
    return l;
  };
  // A block is one statement, trimmed; an empty one is none.
  auto push_block = [&out, &block_line](std::string_view block) {
    const std::string text(block);
    const auto b = text.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return;
    const auto e = text.find_last_not_of(" \t\r\n");
    const std::size_t skipped = static_cast<std::size_t>(std::count(text.begin(), text.begin() + b, '\n'));
    out.push_back({text.substr(b, e - b + 1), block_line + skipped});
  };
  while (pos < sql.size()) {
    std::size_t eol = sql.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? sql.size() : eol + 1;
    const std::string_view l = trimmed(sql.substr(pos, next - pos));
    if (block_start == std::string_view::npos && l == "-- +goose StatementBegin") {
      for (auto& s : split_statements(sql.substr(chunk_start, pos - chunk_start), chunk_line)) out.push_back(s);
      block_start = next;
      block_line = line + 1;
    } else if (block_start != std::string_view::npos && l == "-- +goose StatementEnd") {
      push_block(sql.substr(block_start, pos - block_start));
      block_start = std::string_view::npos;
      chunk_start = next;
      chunk_line = line + 1;
    }
    pos = next;
    ++line;
  }
  if (block_start != std::string_view::npos) {
    // An unclosed block runs to the end, as one statement (goose refuses it;
    // the loader reports it before this is reached).
    push_block(sql.substr(block_start));
  } else {
    for (auto& s : split_statements(sql.substr(chunk_start), chunk_line)) out.push_back(s);
  }
  return out;
}

std::string first_word(std::string_view statement) {
  const auto words = leading_words(statement, 2);
  if (words.empty()) return {};
  const std::string& word = words[0];
  const std::string rest = words.size() > 1 ? words[1] : "";
  // ROLLBACK TO SAVEPOINT stays inside the transaction; START needs TRANSACTION.
  if ((word == "rollback" && rest == "to") || (word == "start" && rest != "transaction")) return word + " " + rest;
  if (word == "start") return "start transaction";
  return word;
}

std::string transaction_control(const Statement& s) {
  const std::string word = first_word(s.text);
  if (word == "begin" || word == "commit" || word == "rollback" || word == "abort" || word == "start transaction" ||
      word == "end") {
    return word;
  }
  return {};
}

void drop_transaction_wrapper(std::vector<Statement>& statements) {
  if (statements.size() < 2) return;
  const std::string first = transaction_control(statements.front());
  const std::string last = transaction_control(statements.back());
  if ((first == "begin" || first == "start transaction") && (last == "commit" || last == "end")) {
    statements.pop_back();
    statements.erase(statements.begin());
  }
}

std::string cannot_run_in_transaction(const Statement& s) {
  const auto w = leading_words(s.text, 6);
  auto at = [&](std::size_t k) { return k < w.size() ? w[k] : std::string(); };
  if (at(0) == "create" && (at(1) == "index" || (at(1) == "unique" && at(2) == "index"))) {
    if (at(at(1) == "unique" ? 3 : 2) == "concurrently") return "CREATE INDEX CONCURRENTLY";
  }
  if (at(0) == "drop" && at(1) == "index" && at(2) == "concurrently") return "DROP INDEX CONCURRENTLY";
  if (at(0) == "reindex") {
    for (const auto& word : w) {
      if (word == "concurrently") return "REINDEX CONCURRENTLY";
    }
    if (at(1) == "database" || at(1) == "system") return "REINDEX " + std::string(at(1) == "database" ? "DATABASE" : "SYSTEM");
  }
  if (at(0) == "vacuum") return "VACUUM";
  if ((at(0) == "create" || at(0) == "drop") && (at(1) == "database" || at(1) == "tablespace")) {
    return (at(0) == "create" ? "CREATE " : "DROP ") + std::string(at(1) == "database" ? "DATABASE" : "TABLESPACE");
  }
  if (at(0) == "alter" && at(1) == "system") return "ALTER SYSTEM";
  if (at(0) == "cluster" && w.size() == 1) return "CLUSTER";
  return {};
}

}  // namespace migrate_data
