// SPDX-License-Identifier: AGPL-3.0-or-later
// Creating, starting and stopping the embedded cluster. PostgreSQL's own tools
// do the work, each in a child process that runs as the cluster owner, with a
// clean environment (no PGPORT/PGDATA of ours) and no inherited descriptors:
// the postmaster outlives the host and must hold none of its files.
#include "db/embedded_cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include <dihya/child_process.hpp>
#include <fmt/format.h>

#include "db/libpq.hpp"
#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDatabase = "dihya";
constexpr const char* kSystemUser = "postgres";
constexpr const char* kDefaultBindir = "/usr/lib/postgresql/15/bin";
constexpr const char* kServerTimeoutSeconds = "60";
constexpr std::size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr std::size_t kMaxToolOutput = 64 * 1024;
constexpr int kLogTailLines = 12;

HostError cluster_error(const std::string& message) {
  return HostError(kExitRunFailed, "embedded database: " + message);
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// The account the server processes run as.
struct ClusterOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, for setgroups() in the child
  std::string name;
  std::string home;
  bool switch_user = false;  // we are root: the children become this user
};

std::optional<ClusterOwner> find_user(const char* name, uid_t uid) {
  std::vector<char> buffer(16 * 1024);
  passwd entry{};
  passwd* found = nullptr;
  for (;;) {
    int rc = name ? ::getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found)
                  : ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    if (rc != ERANGE) break;
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) return std::nullopt;
  ClusterOwner owner;
  owner.uid = entry.pw_uid;
  owner.gid = entry.pw_gid;
  owner.name = entry.pw_name;
  owner.home = entry.pw_dir;
  int count = 16;
  owner.groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(entry.pw_name, entry.pw_gid, owner.groups.data(), &count) < 0) {
    owner.groups.resize(static_cast<std::size_t>(count));
  }
  owner.groups.resize(static_cast<std::size_t>(count));
  return owner;
}

// PostgreSQL refuses to run as root, so root's cluster belongs to `postgres`.
ClusterOwner cluster_owner() {
  if (::geteuid() == 0) {
    auto owner = find_user(kSystemUser, 0);
    if (!owner) {
      throw cluster_error("the `postgres` system user does not exist: install postgresql-15 "
                          "(apt-get install postgresql-15), which creates it");
    }
    owner->switch_user = true;
    return *owner;
  }
  auto owner = find_user(nullptr, ::geteuid());
  if (!owner) throw cluster_error(fmt::format("user id {} has no entry in the user database", ::geteuid()));
  return *owner;
}

std::string superuser_role() {
  if (::geteuid() == 0) return kSystemUser;
  auto self = find_user(nullptr, ::geteuid());
  return self ? self->name : kSystemUser;
}

// --- running the PostgreSQL tools -------------------------------------------

struct ToolResult {
  int exit_code;       // 128 + signal when killed
  std::string output;  // stdout and stderr, at most the last kMaxToolOutput bytes
};

// Messages in English (we quote them in errors); TZ passed on so that initdb
// records the operator's time zone.
std::vector<std::string> tool_environment(const ClusterOwner* become) {
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"};
  if (become) {
    env.push_back("HOME=" + become->home);
    env.push_back("USER=" + become->name);
    env.push_back("LOGNAME=" + become->name);
  } else if (const char* home = std::getenv("HOME")) {
    env.push_back(std::string("HOME=") + home);
  }
  if (const char* tz = std::getenv("TZ")) env.push_back(std::string("TZ=") + tz);
  return env;
}

// The tool's output until it exits, and its exit code. Not until the pipe's
// end: a process the tool left behind (the shell pg_ctl starts the server
// with, stuck opening a FIFO planted as the server log) may hold it open for
// ever; what is still buffered once the tool exited is read without waiting.
std::string read_until_exit(int fd, pid_t pid, int* exit_code) {
  std::string output;
  char buffer[4096];
  const auto keep = [&](ssize_t n) {
    output.append(buffer, static_cast<std::size_t>(n));
    if (output.size() > 2 * kMaxToolOutput) output.erase(0, output.size() - kMaxToolOutput);
  };
  int status = 0;
  for (;;) {
    struct pollfd pfd {fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) > 0) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        keep(n);
        continue;
      }
      if (n == 0) {  // every writer gone: the tool ends now
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        break;
      }
    }
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) keep(n);
  if (output.size() > kMaxToolOutput) output.erase(0, output.size() - kMaxToolOutput);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return output;
}

// Runs argv (argv[0] an absolute path) in `cwd`, as `become` when given, and
// returns its exit code and output. Throws when it cannot be started at all.
ToolResult run_tool(std::vector<std::string> argv, const ClusterOwner* become, const fs::path& cwd) {
  const std::vector<std::string> env = tool_environment(become);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw cluster_error("pipe: " + errno_text(errno));
  UniqueFd output_read(fds[0]), output_write(fds[1]);
  dihya::SpawnCredentials credentials;
  dihya::SpawnOptions options;
  options.stdout_fd = output_write.get();
  options.stderr_fd = output_write.get();
  options.environment = &env;
  options.working_directory = cwd.string();
  options.umask = 077;
  if (become) {
    credentials = {become->uid, become->gid, become->groups};
    options.become = &credentials;
  }
  pid_t pid = -1;
  std::string step;
  if (const std::error_code ec = dihya::spawn_process(argv, options, &pid, &step)) {
    throw cluster_error(fmt::format("cannot run {}: {} failed: {}", argv[0], step, errno_text(ec.value())));
  }
  output_write.reset();
  ToolResult result{0, {}};
  result.output = read_until_exit(output_read.get(), pid, &result.exit_code);
  return result;
}

std::string last_lines(const std::string& text, int count) {
  std::size_t pos = text.size();
  while (pos > 0 && (text[pos - 1] == '\n' || text[pos - 1] == ' ')) --pos;
  const std::size_t end = pos;
  for (int lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == count) break;
  }
  return text.substr(pos, end - pos);
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  const std::string prefix = "pg_ctl: ";
  if (line.compare(0, prefix.size(), prefix) == 0) line.erase(0, prefix.size());
  return line.empty() ? "no message" : line;
}

// The server log's last lines, for an error message. The log lies in the
// cluster owner's directory, where that user could put a symlink to a file
// only root may read, a hard link, or a FIFO: only a regular file of the
// owner's, with one link, is read, and never waited on.
std::string file_tail(const fs::path& file, int lines, uid_t owner) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return {};
  if (!S_ISREG(st.st_mode) || st.st_uid != owner || st.st_nlink != 1) {
    return fmt::format("({} is not a regular file of the cluster owner's: not shown)", file.string());
  }
  const off_t from = std::max<off_t>(0, st.st_size - 16 * 1024);
  std::string text(static_cast<std::size_t>(st.st_size - from), '\0');
  const ssize_t n = ::pread(fd.get(), text.data(), text.size(), from);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return last_lines(text, lines);
}

// --- finding the binaries ---------------------------------------------------

bool has_server_tools(const fs::path& dir) {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (::access((dir / tool).c_str(), X_OK) != 0) return false;
  }
  return true;
}

std::optional<fs::path> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// A cluster must be run by the major version that created it: Debian installs
// each under /usr/lib/postgresql/<major>/bin. A new cluster takes the version
// pg_config names, or 15.
fs::path find_bindir(const fs::path& data_dir) {
  std::ifstream version_file(data_dir / "PG_VERSION");
  std::string major;
  // The owner's file: only a major version (digits) names a directory.
  if (version_file >> major && !major.empty() && major.size() < 4 &&
      major.find_first_not_of("0123456789") == std::string::npos) {
    fs::path dir = fs::path("/usr/lib/postgresql") / major / "bin";
    if (has_server_tools(dir)) return dir;
  }
  if (auto pg_config = find_on_path("pg_config")) {
    ToolResult r = run_tool({pg_config->string(), "--bindir"}, nullptr, "/");
    std::string dir = r.output.substr(0, r.output.find('\n'));
    if (r.exit_code == 0 && !dir.empty() && has_server_tools(dir)) return dir;
  }
  if (has_server_tools(kDefaultBindir)) return kDefaultBindir;
  throw cluster_error(fmt::format("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via pg_config "
                                  "--bindir nor in {}: install them with apt-get install postgresql-15",
                                  kDefaultBindir));
}

// --- the cluster's directories and files -----------------------------------

std::string owner_name_of(uid_t uid) {
  auto user = find_user(nullptr, uid);
  return user ? user->name : std::to_string(uid);
}

bool can_search(const struct stat& st, const ClusterOwner& owner) {
  if (st.st_uid == owner.uid) return (st.st_mode & S_IXUSR) != 0;
  bool in_group = st.st_gid == owner.gid ||
                  std::find(owner.groups.begin(), owner.groups.end(), st.st_gid) != owner.groups.end();
  if (in_group) return (st.st_mode & S_IXGRP) != 0;
  return (st.st_mode & S_IXOTH) != 0;
}

// Root can reach any directory, the `postgres` user cannot: with the default
// state dir of a non-root config (~/.local/state/dihya under a 0700 /root),
// the server would fail with an obscure "could not change directory".
void check_reachable(const fs::path& dir, const ClusterOwner& owner) {
  fs::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0) {
      throw cluster_error(fmt::format("{}: {}", prefix.string(), errno_text(errno)));
    }
    if (can_search(st, owner)) continue;
    throw cluster_error(fmt::format(
        "the {} user cannot reach {}: {} has mode {:04o} (owner {}). Use a state directory it can reach "
        "(--state-dir or DIHYA_STATE_DIR, e.g. /var/lib/dihya) or let it through with `chmod o+x {}`",
        owner.name, dir.string(), prefix.string(), st.st_mode & 07777, owner_name_of(st.st_uid), prefix.string()));
  }
}

// Opens a directory the cluster owner may rename things in, never through a
// symlink it put in place of the last component (the components above are
// entries of directories it cannot write).
UniqueFd open_owned_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && (errno == ELOOP || errno == ENOTDIR)) {
    throw cluster_error(fmt::format("{} is a symbolic link or not a directory; it must be a directory", dir.string()));
  }
  if (!fd) throw cluster_error(fmt::format("cannot open {}: {}", dir.string(), errno_text(errno)));
  return fd;
}

// Made, then given to the owner and made private through a descriptor: a
// chown or chmod by name would follow a symlink the owner swapped in
// meanwhile (the socket dir is an entry of the owner's directory), and give
// it any directory of root's.
void make_private_dir(const fs::path& dir, const ClusterOwner& owner) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw cluster_error(fmt::format("cannot create {}: {}", dir.string(), errno_text(errno)));
  }
  const UniqueFd fd = open_owned_dir(dir);
  if (owner.switch_user && ::fchown(fd.get(), owner.uid, owner.gid) != 0) {
    throw cluster_error(fmt::format("cannot give {} to {}: {}", dir.string(), owner.name, errno_text(errno)));
  }
  if (::fchmod(fd.get(), 0700) != 0) {
    throw cluster_error(fmt::format("cannot make {} private (mode 0700): {}", dir.string(), errno_text(errno)));
  }
}

// Written by us, read by the server: owned by the cluster owner, mode 0600.
// Opened relative to its directory, itself opened without following a
// symlink: the data directory is an entry of the owner's directory.
void write_cluster_file(const fs::path& file, const std::string& text, const ClusterOwner& owner, bool append) {
  const UniqueFd dir = open_owned_dir(file.parent_path());
  UniqueFd fd(::openat(dir.get(), file.filename().c_str(),
                       O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), 0600));
  if (!fd) throw cluster_error(fmt::format("cannot write {}: {}", file.string(), errno_text(errno)));
  if (auto ec = write_all(fd.get(), text)) {
    throw cluster_error(fmt::format("cannot write {}: {}", file.string(), ec.message()));
  }
  if (owner.switch_user && ::fchown(fd.get(), owner.uid, owner.gid) != 0) {
    throw cluster_error(fmt::format("cannot give {} to {}: {}", file.string(), owner.name, errno_text(errno)));
  }
}

// A postgresql.conf string literal: quotes doubled, backslashes escaped.
std::string conf_string(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      throw cluster_error(fmt::format("the path {} contains a control character", value));
    }
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

std::string percent_encode(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '/' || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// Serializes start/stop across processes; released when the fd closes.
UniqueFd lock_cluster(const fs::path& root) {
  const fs::path file = root / "lock";
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw cluster_error(fmt::format("cannot open {}: {}", file.string(), errno_text(errno)));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw cluster_error(fmt::format("cannot lock {}: {}", file.string(), errno_text(errno)));
  }
  return fd;
}

void check_socket_path(const fs::path& socket_dir) {
  const std::string socket = (socket_dir / ".s.PGSQL.5432").string();
  if (socket.size() > kMaxSocketPath) {
    throw cluster_error(fmt::format("the socket path {} is {} bytes, more than the {} a Unix socket allows: "
                                    "use a shorter state directory (--state-dir or DIHYA_STATE_DIR)",
                                    socket, socket.size(), kMaxSocketPath));
  }
}

// Only the cluster owner and root may connect, over the socket, as the
// superuser: peer authentication checks the connecting process's user.
void write_access_rules(const fs::path& data_dir, const ClusterOwner& owner, const std::string& superuser) {
  write_cluster_file(data_dir / "pg_hba.conf",
                     "# dihya-host embedded cluster: Unix socket only; the connecting OS user\n"
                     "# must be the cluster owner or root (see pg_ident.conf).\n"
                     "local all all peer map=dihya\n",
                     owner, false);
  write_cluster_file(data_dir / "pg_ident.conf",
                     fmt::format("# dihya-host embedded cluster: OS user -> database role\n"
                                 "dihya {0} {1}\n"
                                 "dihya root {1}\n",
                                 owner.name, superuser),
                     owner, false);
  write_cluster_file(data_dir / "postgresql.conf",
                     "\n# dihya-host: socket settings, rewritten at every start\ninclude 'dihya.conf'\n", owner, true);
}

// Rewritten at every start so that a moved state directory keeps working.
void write_server_settings(const fs::path& data_dir, const fs::path& socket_dir, const ClusterOwner& owner) {
  write_cluster_file(data_dir / "dihya.conf",
                     fmt::format("# Written by dihya-host at every start: edits are lost.\n"
                                 "listen_addresses = ''\n"
                                 "port = 5432\n"
                                 "unix_socket_directories = {}\n"
                                 "unix_socket_permissions = 0700\n",
                                 conf_string(socket_dir.string())),
                     owner, false);
}

// The tools run as the cluster owner, switching to it only when we are root.
const ClusterOwner* become(const ClusterOwner& owner) { return owner.switch_user ? &owner : nullptr; }

// <state_dir> made private by the caller (prepare_state_dir) or, when absent,
// as the operator's umask makes it; <state_dir>/postgres and its socket
// directory private to the cluster owner.
void prepare_directories(const fs::path& root, const fs::path& socket_dir, const ClusterOwner& owner) {
  const fs::path state_dir = root.parent_path();
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) throw cluster_error(fmt::format("cannot create {}: {}", state_dir.string(), ec.message()));
  if (owner.switch_user) check_reachable(state_dir, owner);
  make_private_dir(root, owner);
  make_private_dir(socket_dir, owner);
}

// initdb into a side directory renamed at the end: an interrupted
// initialization never leaves a cluster with initdb's default settings.
void initialize_cluster(const fs::path& bindir, const fs::path& data_dir, const std::string& superuser,
                        const ClusterOwner& owner) {
  std::error_code ec;
  fs::remove(data_dir, ec);  // only if empty
  if (fs::exists(data_dir)) {
    throw cluster_error(fmt::format("{} exists but holds no cluster (no PG_VERSION): move it away", data_dir.string()));
  }
  const fs::path staging = data_dir.parent_path() / "data.new";
  // A leftover of an interrupted initdb, the owner's: removed as the owner
  // (a removal by root of a tree the owner can change as it goes could be
  // led through a symlink swapped in meanwhile).
  if (fs::symlink_status(staging, ec).type() != fs::file_type::not_found) {
    const ToolResult removed = run_tool({"/bin/rm", "-rf", "--", staging.string()}, become(owner), data_dir.parent_path());
    if (removed.exit_code != 0) {
      throw cluster_error(fmt::format("cannot remove {}: {}", staging.string(), first_line(removed.output)));
    }
  }
  ToolResult r = run_tool({(bindir / "initdb").string(), "-D", staging.string(), "-U", superuser, "-E", "UTF8",
                           "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=reject"},
                          become(owner), data_dir.parent_path());
  if (r.exit_code != 0) {
    throw cluster_error(
        fmt::format("initdb failed (exit {}):\n{}", r.exit_code, last_lines(r.output, kLogTailLines)));
  }
  write_access_rules(staging, owner, superuser);
  fs::rename(staging, data_dir, ec);
  if (ec) {
    throw cluster_error(
        fmt::format("cannot rename {} to {}: {}", staging.string(), data_dir.string(), ec.message()));
  }
}

// pg_ctl -w returns once the server accepts connections, or fails after
// kServerTimeoutSeconds.
void start_server(const fs::path& bindir, const fs::path& data_dir, const fs::path& socket_dir,
                  const fs::path& log_file, const ClusterOwner& owner) {
  write_server_settings(data_dir, socket_dir, owner);
  ToolResult r = run_tool({(bindir / "pg_ctl").string(), "start", "-w", "-t", kServerTimeoutSeconds, "-s", "-D",
                           data_dir.string(), "-l", log_file.string()},
                          become(owner), data_dir.parent_path());
  if (r.exit_code != 0) {
    throw cluster_error(fmt::format("PostgreSQL did not start (pg_ctl exit {}: {}); last lines of {}:\n{}",
                                    r.exit_code, first_line(r.output), log_file.string(),
                                    file_tail(log_file, kLogTailLines, owner.uid)));
  }
}

}  // namespace

EmbeddedCluster::EmbeddedCluster(fs::path state_dir)
    : root_(fs::absolute(state_dir).lexically_normal() / "postgres"),
      data_dir_(root_ / "data"),
      socket_dir_(root_ / "run"),
      log_file_(root_ / "postgres.log"),
      superuser_(superuser_role()) {}

bool EmbeddedCluster::initialized() const {
  std::error_code ec;
  return fs::is_regular_file(data_dir_ / "PG_VERSION", ec);
}

bool EmbeddedCluster::running() const { return postmaster_pid().has_value(); }

std::optional<pid_t> EmbeddedCluster::postmaster_pid() const {
  std::ifstream in(data_dir_ / "postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return static_cast<pid_t>(pid);
  return std::nullopt;  // a stale file left by a crash
}

void EmbeddedCluster::start() {
  const ClusterOwner owner = cluster_owner();
  check_socket_path(socket_dir_);
  prepare_directories(root_, socket_dir_, owner);
  UniqueFd lock = lock_cluster(root_);
  const fs::path bindir = find_bindir(data_dir_);
  if (!initialized()) initialize_cluster(bindir, data_dir_, superuser_, owner);
  if (!running()) start_server(bindir, data_dir_, socket_dir_, log_file_, owner);
  create_database_if_absent();
}

void EmbeddedCluster::stop() {
  if (!running()) return;
  const ClusterOwner owner = cluster_owner();
  UniqueFd lock = lock_cluster(root_);
  if (!running()) return;
  const fs::path bindir = find_bindir(data_dir_);
  ToolResult r = run_tool({(bindir / "pg_ctl").string(), "stop", "-m", "fast", "-w", "-t", kServerTimeoutSeconds, "-s",
                           "-D", data_dir_.string()},
                          become(owner), root_);
  if (r.exit_code != 0 && running()) {
    throw cluster_error(fmt::format("PostgreSQL did not stop (pg_ctl exit {}: {}); last lines of {}:\n{}",
                                    r.exit_code, first_line(r.output), log_file_.string(),
                                    file_tail(log_file_, kLogTailLines, owner.uid)));
  }
}

std::string EmbeddedCluster::url_for(const std::string& database) const {
  // The port is explicit so that an operator's PGPORT cannot point libpq at another socket file.
  return fmt::format("postgresql:///{}?host={}&port=5432&user={}", database, percent_encode(socket_dir_.string()),
                     percent_encode(superuser_));
}

std::string EmbeddedCluster::url() const { return url_for(kDatabase); }

nlohmann::json EmbeddedCluster::status() const {
  const auto pid = postmaster_pid();
  return {{"initialized", initialized()},
          {"running", pid.has_value()},
          {"data_dir", data_dir_.string()},
          {"socket_dir", socket_dir_.string()},
          {"log_file", log_file_.string()},
          {"url", url()},
          {"pid", pid ? nlohmann::json(*pid) : nlohmann::json(nullptr)}};
}

void EmbeddedCluster::create_database_if_absent() const {
  try {
    PgConnection connection(url_for("postgres"));
    if (!connection.query("SELECT 1 FROM pg_database WHERE datname = $1", {kDatabase}).empty()) return;
    // kDatabase is a constant identifier: nothing of the operator's reaches this statement.
    connection.query(std::string("CREATE DATABASE ") + kDatabase);
  } catch (const PgError& e) {
    if (e.sqlstate() == "42P04") return;  // duplicate_database: created meanwhile by another process
    throw cluster_error(fmt::format("cannot create the database {}: {}", kDatabase, e.what()));
  } catch (const std::exception& e) {
    throw cluster_error(fmt::format("cannot create the database {}: {}", kDatabase, e.what()));
  }
}

std::string resolve_database_url(const Settings& settings, bool start_if_needed) {
  if (settings.database_url && !settings.database_url->empty()) {
    if (const auto problem = conninfo_problem(*settings.database_url)) {
      throw usage_error(fmt::format("the database URL (--database-url, DIHYA_DATABASE_URL or database_url) is "
                                    "malformed: {} (the URL is not shown: it may hold a password)",
                                    *problem));
    }
    return *settings.database_url;
  }
  EmbeddedCluster cluster(settings.state_dir);
  if (start_if_needed) {
    prepare_state_dir(settings);
    cluster.start();
  }
  return cluster.url();
}

}  // namespace dihya::host
