// SPDX-License-Identifier: AGPL-3.0-or-later
#include "pg_error.hpp"

#include <pqxx/except>
#include <sstream>

namespace migrate_data {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string after(const std::string& s, std::size_t n) {
  std::size_t i = n;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

std::string flatten(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

}  // namespace

PgError describe_pg_error(const std::exception& e) {
  PgError out;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) out.sqlstate = sql->sqlstate();
  std::istringstream in(e.what());
  std::string line;
  std::string* field = &out.message;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first) {
      out.message = starts_with(line, "ERROR:") ? after(line, 6) : line;
      first = false;
      continue;
    }
    if (starts_with(line, "DETAIL:")) {
      out.detail = after(line, 7);
      field = &out.detail;
    } else if (starts_with(line, "HINT:")) {
      out.hint = after(line, 5);
      field = &out.hint;
    } else if (starts_with(line, "CONTEXT:")) {
      out.context = after(line, 8);
      field = &out.context;
    } else if (starts_with(line, "LINE ")) {
      out.line = std::strtoul(line.c_str() + 5, nullptr, 10);
      field = nullptr;  // the quoted statement and its caret follow
    } else if (starts_with(line, "QUERY:")) {
      field = nullptr;
    } else if (field && !line.empty() && line.find_first_not_of(" ^") != std::string::npos) {
      *field += " " + after(line, 0);  // a field continued on the next line
    }
  }
  return out;
}

std::string PgError::one_line() const {
  std::string s = flatten(message);
  if (!detail.empty()) s += "; DETAIL: " + flatten(detail);
  if (!hint.empty()) s += "; HINT: " + flatten(hint);
  if (!context.empty()) s += "; CONTEXT: " + flatten(context);
  return s;
}

std::string PgError::block(const std::string& indent) const {
  std::string s = indent + "ERROR:   " + flatten(message);
  if (!detail.empty()) s += "\n" + indent + "DETAIL:  " + flatten(detail);
  if (!hint.empty()) s += "\n" + indent + "HINT:    " + flatten(hint);
  if (!context.empty()) s += "\n" + indent + "CONTEXT: " + flatten(context);
  return s;
}

}  // namespace migrate_data
