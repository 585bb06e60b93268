// SPDX-License-Identifier: AGPL-3.0-or-later
#include "pg_tools.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>

#include <dihya/child_process.hpp>
#include <dihya/error.hpp>
#include <libpq-fe.h>

namespace backup_db {
namespace fs = std::filesystem;

namespace {

// conninfo values are single-quoted with backslash escapes (libpq's rule)
// when they are empty or hold a space, a quote or a backslash.
std::string quote_conninfo_value(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t\n\r\f\v'\\") == std::string::npos) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// A pipe whose ends close themselves.
struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw dihya::Error(std::string("cannot create a pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// The child's environment: ours, minus any inherited password settings, plus
// our PGPASSFILE. The password itself never enters the environment.
std::vector<std::string> child_environment(const PasswordFile* password_file) {
  std::vector<std::string> env = password_file != nullptr ? dihya::environment_without({"PGPASSWORD=", "PGPASSFILE="})
                                                          : dihya::environment_without({"PGPASSWORD="});
  if (password_file != nullptr && !password_file->path().empty()) {
    env.push_back("PGPASSFILE=" + password_file->path().string());
  }
  return env;
}

// Splits a stream into lines, calling `sink` for each complete one.
class LineReader {
 public:
  explicit LineReader(std::function<void(std::string_view)> sink) : sink_(std::move(sink)) {}
  void feed(const char* data, std::size_t n) {
    buffer_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
      sink_(std::string_view(buffer_).substr(start, nl - start));
    }
    buffer_.erase(0, start);
    // A line without an end this long is not a line we care about.
    if (buffer_.size() > 65536) {
      sink_(buffer_);
      buffer_.clear();
    }
  }
  void finish() {
    if (!buffer_.empty()) sink_(buffer_);
    buffer_.clear();
  }

 private:
  std::function<void(std::string_view)> sink_;
  std::string buffer_;
};

bool is_executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

ConnectionInfo ConnectionInfo::parse(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    // libpq's message may quote the string (and its password): do not relay it.
    if (error != nullptr) PQfreemem(error);
    throw dihya::Error("the database connection string cannot be parsed; check --database-url / DIHYA_DATABASE_URL");
  }
  ConnectionInfo info;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    if (std::strcmp(o->keyword, "password") == 0) {
      info.password_ = o->val;
    } else {
      info.options_.emplace_back(o->keyword, o->val);
    }
  }
  PQconninfoFree(options);
  return info;
}

std::string ConnectionInfo::database() const {
  for (const auto& [key, value] : options_) {
    if (key == "dbname") return value;
  }
  return {};
}

std::string ConnectionInfo::conninfo(std::string_view database) const {
  std::string out;
  bool has_db = false;
  for (const auto& [key, value] : options_) {
    std::string v = value;
    if (key == "dbname") {
      has_db = true;
      if (!database.empty()) v = std::string(database);
    }
    if (!out.empty()) out += ' ';
    out += key + "=" + quote_conninfo_value(v);
  }
  if (!has_db && !database.empty()) {
    if (!out.empty()) out += ' ';
    out += "dbname=" + quote_conninfo_value(std::string(database));
  }
  return out;
}

std::string ConnectionInfo::conninfo_with_password(std::string_view database) const {
  std::string out = conninfo(database);
  if (!password_.empty()) out += " password=" + quote_conninfo_value(password_);
  return out;
}

std::string redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (std::size_t at; (at = text.find(secret)) != std::string::npos;) text.replace(at, secret.size(), "***");
  return text;
}

Tools find_tools(int server_major, const fs::path& bindir) {
  std::vector<fs::path> dirs;
  if (!bindir.empty()) {
    dirs.push_back(bindir);
  } else {
    dirs.push_back(fs::path("/usr/lib/postgresql") / std::to_string(server_major) / "bin");
    if (const char* path = std::getenv("PATH")) {
      std::string_view rest(path);
      while (!rest.empty()) {
        const auto colon = rest.find(':');
        const auto part = rest.substr(0, colon);
        if (!part.empty()) dirs.emplace_back(std::string(part));
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
    }
  }
  for (const auto& dir : dirs) {
    if (is_executable(dir / "pg_dump") && is_executable(dir / "pg_restore")) {
      return {dir / "pg_dump", dir / "pg_restore"};
    }
  }
  throw dihya::Error(bindir.empty()
                         ? "pg_dump/pg_restore not found in /usr/lib/postgresql/" + std::to_string(server_major) +
                               "/bin nor on PATH: install postgresql-client-" + std::to_string(server_major) +
                               " or pass pg_bindir"
                         : "pg_dump/pg_restore not found or not executable in pg_bindir " + bindir.string());
}

PasswordFile::PasswordFile(const fs::path& dir, const std::string& password) {
  if (password.empty()) return;
  fs::path path = dir / ("pgpass-" + std::to_string(::getpid()));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw dihya::Error("cannot create the password file in " + dir.string() + ": " + std::strerror(errno));
  // .pgpass fields escape ':' and '\'; '*' matches any host, port, db and user.
  std::string line = "*:*:*:*:";
  for (char c : password) {
    if (c == ':' || c == '\\') line += '\\';
    line += c;
  }
  line += '\n';
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  path_ = path;
  if (!written) throw dihya::Error("cannot write the password file in " + dir.string());
}

PasswordFile::~PasswordFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

ToolRun run_tool(const std::vector<std::string>& argv, const ToolOptions& options) {
  Pipe err;
  std::unique_ptr<Pipe> out;
  const bool want_stdout = options.capture_stdout || static_cast<bool>(options.on_stdout_line);
  if (want_stdout) out = std::make_unique<Pipe>();

  std::vector<std::string> env = child_environment(options.password_file);
  dihya::SpawnOptions spawn;
  spawn.stdout_fd = want_stdout ? out->write : -1;
  spawn.stderr_fd = err.write;
  spawn.environment = &env;
  // Its own process group: cancelling stops the tool and every process it
  // started (pg_dump's parallel workers, a wrapper's children) at once.
  spawn.own_process_group = true;
  // Killed with this plugin (itself killed with its host): a pg_dump or
  // pg_restore left running after a `kill -9` of the host would go on
  // writing while the run reads as interrupted and is rolled back.
  spawn.parent_death_signal = SIGKILL;
  pid_t pid = -1;
  if (const std::error_code ec = dihya::spawn_process(argv, spawn, &pid)) {
    throw dihya::Error("cannot start " + argv[0] + ": " + ec.message());
  }
  err.close_write();
  if (out) out->close_write();

  ToolRun result;
  std::deque<std::string> last_lines;
  LineReader err_lines([&](std::string_view line) {
    if (options.on_stderr_line) options.on_stderr_line(line);
    const bool important = line.find("error:") != std::string_view::npos ||
                           line.find("warning:") != std::string_view::npos ||
                           line.find("FATAL") != std::string_view::npos || line.find("DETAIL") != std::string_view::npos;
    if (important && result.error_tail.size() < 20) result.error_tail.emplace_back(line);
    last_lines.emplace_back(line);
    if (last_lines.size() > 5) last_lines.pop_front();
  });
  LineReader out_lines([&](std::string_view line) {
    if (options.on_stdout_line) options.on_stdout_line(line);
  });

  bool killed = false;
  bool exited = false;
  int status = 0;
  std::vector<char> buffer(65536);
  int open_fds = want_stdout ? 2 : 1;
  while (open_fds > 0) {
    pollfd fds[2] = {{err.read, POLLIN, 0}, {out ? out->read : -1, POLLIN, 0}};
    const int n = ::poll(fds, 2, exited ? 0 : 200);
    if (n < 0 && errno != EINTR) break;
    // Once the tool is gone and its pipes are drained, stop: a straggler
    // holding a copy of the pipe must not keep us waiting.
    if (exited && n == 0) break;
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (!killed && options.cancelled && options.cancelled()) {
      ::kill(-pid, SIGTERM);
      killed = true;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (got > 0) {
        if (i == 0) {
          err_lines.feed(buffer.data(), static_cast<std::size_t>(got));
        } else {
          if (options.capture_stdout && result.output.size() < 65536) result.output.append(buffer.data(), static_cast<std::size_t>(got));
          out_lines.feed(buffer.data(), static_cast<std::size_t>(got));
        }
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        if (i == 0) {
          ::close(err.read);
          err.read = -1;
        } else {
          ::close(out->read);
          out->read = -1;
        }
        --open_fds;
      }
    }
  }
  err_lines.finish();
  out_lines.finish();

  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (killed) ::kill(-pid, SIGKILL);  // whatever of the group ignored SIGTERM
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) throw dihya::Error("cancelled: stopped " + fs::path(argv[0]).filename().string());
  if (result.error_tail.empty()) result.error_tail.assign(last_lines.begin(), last_lines.end());
  return result;
}

std::string describe_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    // Shell quoting, so the line can be pasted into a terminal.
    const bool plain = !a.empty() && a.find_first_of(" '\"\\$`&|;<>()*?!#~") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::string tool_version(const fs::path& tool) {
  ToolOptions options;
  options.capture_stdout = true;
  const auto run = run_tool({tool.string(), "--version"}, options);
  std::string v = run.output;
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  if (run.exit_code != 0 || v.empty()) throw dihya::Error("cannot run " + tool.string() + " --version");
  return v;
}

}  // namespace backup_db
