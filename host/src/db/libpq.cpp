// SPDX-License-Identifier: AGPL-3.0-or-later
#include "db/libpq.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "errors.hpp"
#include "params/redaction.hpp"
#include "util/dynamic_symbol.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// The libpq functions the host uses, resolved once.
struct LibPq {
  decltype(&::PQconnectdb) connectdb;
  decltype(&::PQstatus) status;
  decltype(&::PQerrorMessage) error_message;
  decltype(&::PQfinish) finish;
  decltype(&::PQexecParams) exec_params;
  decltype(&::PQresultStatus) result_status;
  decltype(&::PQresultErrorField) result_error_field;
  decltype(&::PQntuples) ntuples;
  decltype(&::PQnfields) nfields;
  decltype(&::PQgetvalue) getvalue;
  decltype(&::PQclear) clear;
  decltype(&::PQconninfoParse) conninfo_parse;
  decltype(&::PQconninfoFree) conninfo_free;
  decltype(&::PQfreemem) freemem;
};

template <typename F>
void resolve(void* handle, const char* name, F& target) {
  resolve_symbol(handle, "libpq.so.5", name, target,
                 [](const std::string& message) { throw HostError(kExitRunFailed, message); });
}

const LibPq& libpq() {
  static const LibPq api = [] {
    void* handle = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      throw HostError(kExitRunFailed, "cannot load libpq.so.5: install the libpq5 package");
    }
    LibPq l{};
    resolve(handle, "PQconnectdb", l.connectdb);
    resolve(handle, "PQstatus", l.status);
    resolve(handle, "PQerrorMessage", l.error_message);
    resolve(handle, "PQfinish", l.finish);
    resolve(handle, "PQexecParams", l.exec_params);
    resolve(handle, "PQresultStatus", l.result_status);
    resolve(handle, "PQresultErrorField", l.result_error_field);
    resolve(handle, "PQntuples", l.ntuples);
    resolve(handle, "PQnfields", l.nfields);
    resolve(handle, "PQgetvalue", l.getvalue);
    resolve(handle, "PQclear", l.clear);
    resolve(handle, "PQconninfoParse", l.conninfo_parse);
    resolve(handle, "PQconninfoFree", l.conninfo_free);
    resolve(handle, "PQfreemem", l.freemem);
    return l;
  }();
  return api;
}

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

// What remember_connection_password() parsed, by connection string.
std::map<std::string, std::optional<std::string>>& remembered_passwords() {
  static std::map<std::string, std::optional<std::string>> remembered;
  return remembered;
}

}  // namespace

PgConnection::PgConnection(const std::string& conninfo) {
  const LibPq& pq = libpq();
  PGconn* conn = pq.connectdb(conninfo.c_str());
  conn_ = conn;
  if (conn == nullptr || pq.status(conn) != CONNECTION_OK) {
    // libpq quotes the connection string, or the token it could not parse,
    // in its message: the password goes out in every spelling.
    Redactor redactor;
    redact_connection_password(redactor, conninfo);
    const std::string message = conn ? redactor.redact(one_line(pq.error_message(conn))) : "out of memory";
    if (conn) pq.finish(conn);
    conn_ = nullptr;
    throw HostError(kExitRunFailed, "cannot connect to the database: " + message);
  }
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) libpq().finish(static_cast<PGconn*>(conn_));
}

std::vector<std::vector<std::string>> PgConnection::query(const std::string& sql, const std::vector<std::string>& params) {
  const LibPq& pq = libpq();
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* result = pq.exec_params(static_cast<PGconn*>(conn_), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0);
  const ExecStatusType status = pq.result_status(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char* state = result ? pq.result_error_field(result, PG_DIAG_SQLSTATE) : nullptr;
    PgError error(one_line(pq.error_message(static_cast<PGconn*>(conn_))), state ? state : "");
    pq.clear(result);
    throw error;
  }
  std::vector<std::vector<std::string>> rows(static_cast<std::size_t>(pq.ntuples(result)));
  for (int r = 0; r < pq.ntuples(result); ++r) {
    for (int c = 0; c < pq.nfields(result); ++c) rows[static_cast<std::size_t>(r)].emplace_back(pq.getvalue(result, r, c));
  }
  pq.clear(result);
  return rows;
}

void redact_connection_password(Redactor& redactor, const std::string& conninfo) {
  for (auto& spelling : password_spellings(conninfo)) redactor.add_secret(std::move(spelling));
  if (auto password = connection_password(conninfo)) redactor.add_secret(*password);
}

namespace {

struct ParsedConninfo {
  std::optional<std::string> problem;  // libpq's message when it cannot parse it
  std::optional<std::string> password;
};

ParsedConninfo parse_conninfo(const std::string& conninfo) {
  if (conninfo.empty()) return {};
  if (const auto it = remembered_passwords().find(conninfo); it != remembered_passwords().end()) return {std::nullopt, it->second};
  const LibPq& pq = libpq();
  char* error = nullptr;
  PQconninfoOption* options = pq.conninfo_parse(conninfo.c_str(), &error);
  std::string message = error != nullptr ? one_line(error) : "";
  if (error != nullptr) pq.freemem(error);
  if (options == nullptr) return {message.empty() ? "libpq cannot parse it" : message, std::nullopt};
  std::optional<std::string> password;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') password = o->val;
  }
  pq.conninfo_free(options);
  return {std::nullopt, password};
}

}  // namespace

std::optional<std::string> connection_password(const std::string& conninfo) { return parse_conninfo(conninfo).password; }

std::optional<std::string> conninfo_problem(const std::string& conninfo) {
  auto problem = parse_conninfo(conninfo).problem;
  if (!problem) return problem;
  // What libpq quotes is a piece of the string: masked, but for a lone
  // punctuation mark ('missing "=" after ...').
  std::string out;
  for (std::size_t i = 0; i < problem->size(); ++i) {
    const std::size_t close = (*problem)[i] == '"' ? problem->find('"', i + 1) : std::string::npos;
    if (close == std::string::npos) {
      out += (*problem)[i];
      continue;
    }
    const std::string quoted = problem->substr(i + 1, close - i - 1);
    const bool mark = quoted.size() == 1 && std::ispunct(static_cast<unsigned char>(quoted[0]));
    out += "\"" + (mark ? quoted : std::string("***")) + "\"";
    i = close;
  }
  return out;
}

void remember_connection_password(const std::string& conninfo) {
  if (conninfo.empty() || remembered_passwords().count(conninfo) != 0) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return;
  if (pid == 0) {
    // "-" no password, "+<password>" one; nothing: libpq could not parse it.
    try {
      const auto password = connection_password(conninfo);
      const std::string answer = password ? "+" + *password : "-";
      ::_exit(write_all(write_end.get(), answer) ? 1 : 0);
    } catch (...) {
      ::_exit(1);
    }
  }
  write_end.reset();
  std::string answer;
  const bool read_ok = !read_all(read_end.get(), &answer, 1 << 20);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!read_ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || answer.empty()) return;
  remembered_passwords()[conninfo] = answer[0] == '+' ? std::optional<std::string>(answer.substr(1)) : std::nullopt;
}

void preload_libpq() { libpq(); }

std::string with_database_name(const std::string& conninfo, const std::string& dbname) {
  const LibPq& pq = libpq();
  char* error = nullptr;
  PQconninfoOption* options = pq.conninfo_parse(conninfo.c_str(), &error);
  if (error != nullptr) pq.freemem(error);
  if (options == nullptr) throw HostError(kExitUsage, "the database connection string cannot be parsed");
  // key='value' with \ and ' escaped, as libpq's conninfo syntax asks.
  auto quoted = [](const std::string& value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string result = "dbname=" + quoted(dbname);
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    const std::string keyword = o->keyword;
    if (keyword == "dbname" || o->val == nullptr) continue;
    result += " " + keyword + "=" + quoted(o->val);
  }
  pq.conninfo_free(options);
  return result;
}

}  // namespace dihya::host
