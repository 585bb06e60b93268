// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host __zygote`: the warm host run_scheduler starts once and asks, over
// the socketpair that is its standard input, to fork one `dihya-host run ...`
// per job (dihya/job_zygote.hpp). A job then costs a fork instead of an execve
// of the host, its dynamic linking and start-up. The child becomes what an
// exec'ed host would be before calling the same entry point as main(): the
// job's own argv, environment and output descriptors, default signal
// dispositions and an empty mask, a process group of its own; so supervision,
// run records, audit and rollback are exactly those of a manual run.
//
// The zygote reads the settings and lists the plugin catalogue once (their
// files and the metadata cache are then warm); each job reads them again under
// its own environment, as an exec'ed host would, since a job's DIHYA_*
// variables decide them.
//
// What the fork must not share: the zygote never opens a database connection
// (a job opens its own); run ids come from getrandom(2), which asks the
// kernel on each call, so two children keep no common random state; the
// zygote is single-threaded, so no lock is held across fork.
//
// Not for operators: refused (exit 2) unless its standard input is a
// SOCK_SEQPACKET socketpair made by its own parent.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <system_error>

#include <dihya/job_zygote.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "errors.hpp"
#include "db/libpq.hpp"
#include "loading/catalog.hpp"
#include "runs/process_identity.hpp"

namespace dihya::host {
namespace {

// Whether fd 0 is the socketpair our parent made for us (not a terminal, a
// file or a socket an operator connected).
bool stdin_is_scheduler_socket() {
  struct stat st {};
  if (::fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(0, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0 || value != AF_UNIX) return false;
  len = sizeof value;
  if (::getsockopt(0, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_SEQPACKET) return false;
  ucred peer{};
  len = sizeof peer;
  // A socketpair's peer credentials are those of the process that made it.
  return ::getsockopt(0, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.pid == ::getppid() &&
         peer.uid == ::geteuid();
}

// The buffer requests are received into: mapped once, and not inherited by
// the jobs (MADV_DONTFORK). Jobs are forked while the zygote goes on
// serving: sharing it with them, the zygote paid a copy of each page it
// then wrote into (a std::string zeroed to 160 KiB per request: 40 page
// faults and copies per job, 14 % of a 4x2000 burst's page faults).
class RequestBuffer {
 public:
  RequestBuffer() {
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of the request buffer");
    data_ = static_cast<char*>(p);
    ::madvise(data_, kSize, MADV_DONTFORK);
  }
  ~RequestBuffer() { ::munmap(data_, kSize); }
  RequestBuffer(const RequestBuffer&) = delete;
  RequestBuffer& operator=(const RequestBuffer&) = delete;

  char* data() { return data_; }
  // Room for one byte past the largest request, so that a longer one is
  // seen as truncated.
  std::size_t size() const { return zygote::kMaxRequest + 1; }
  std::string_view received(std::size_t n) const { return {data_, n}; }

 private:
  static constexpr std::size_t kSize = (zygote::kMaxRequest + 1 + 4095) / 4096 * 4096;
  char* data_ = nullptr;
};

class Zygote {
 public:
  Zygote(int socket, int signals, int (*entry)(int, char**), char* command_word)
      : socket_(socket), signals_(signals), entry_(entry), command_word_(command_word) {}

  int serve() {
    for (;;) {
      pollfd fds[2] = {{socket_, POLLIN, 0}, {signals_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return stop(kExitRunFailed);
      }
      if (fds[1].revents & POLLIN) {
        signalfd_siginfo si{};
        while (::read(signals_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          if (si.ssi_signo != SIGCHLD) return stop(kExitOk);  // our scheduler died (PDEATHSIG) or asks us to
        }
        reap();
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!serve_request()) return stop(kExitOk);
      }
    }
  }

 private:
  // Reads one request and forks its job; false at end-of-file (scheduler gone).
  bool serve_request() {
    iovec iov{request_.data(), request_.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket_, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    std::int64_t tag = 0;
    std::vector<std::string> argv, env;
    const bool ok = !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && fds.size() == 2 &&
                    zygote::decode_request(request_.received(static_cast<std::size_t>(n)), &tag, &argv, &env);
    if (ok) launch(tag, argv, env, fds[0], fds[1]);
    else report({tag, zygote::JobReport::refused, 0, EINVAL, 0});
    for (int fd : fds) ::close(fd);
    return true;
  }

  void launch(std::int64_t tag, const std::vector<std::string>& argv, const std::vector<std::string>& env, int out,
              int err) {
    prepare_for(argv, env);
    std::fflush(nullptr);
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
      report({tag, zygote::JobReport::refused, 0, errno, 0});
      return;
    }
    if (pid == 0) become_job(argv, env, out, err);
    jobs_[pid] = tag;
    report({tag, zygote::JobReport::started, pid, 0, 0});
  }

  // What a job would otherwise load after its fork, done once here. Every
  // job reads its database URL's password (for redaction): parsed by libpq
  // in a short-lived child, so that this process, and the jobs it forks,
  // map libpq only once a job's plugin uses the database: until then each
  // fork copies ~20 libraries fewer (noop jobs: ~70 fewer page faults,
  // ~0.6 ms less CPU). Then libpq is loaded here, before that job's fork,
  // as the jobs that use it would each load it otherwise (~5 ms).
  void prepare_for(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    for (const auto& kv : env) {
      if (kv.rfind("DIHYA_DATABASE_URL=", 0) == 0) remember_connection_password(kv.substr(19));
    }
    if (libpq_loaded_ || argv.size() < 3 || argv[1] != "run" || !checked_plugins_.insert(argv[2]).second) return;
    // The plugin as the job will find it: under the job's environment (its
    // DIHYA_* decide the settings), the zygote's own being emptied.
    std::vector<char*> block = zygote::environment_block(env);
    char** const own = environ;
    environ = block.data();
    try {
      if (PluginCatalog(load_settings(GlobalFlags{})).find(argv[2]).needs("database")) {
        preload_libpq();
        libpq_loaded_ = true;
      }
    } catch (const std::exception&) {
      // The job reports it, in its own words.
    }
    environ = own;
  }

  // In the child: what an exec'ed `dihya-host run` would start with.
  [[noreturn]] void become_job(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out,
                               int err) {
    ::close(socket_);
    ::close(signals_);
    ::setpgid(0, 0);  // the terminal's Ctrl-C is the scheduler's to decide
    // The zygote's death leaves its jobs running: the scheduler, a child
    // subreaper, adopts and waits for them (it falls back to exec then). A job
    // still dies with the scheduler: the zygote forwards its SIGTERM.
    ::prctl(PR_SET_PDEATHSIG, 0);
    const int null = ::open("/dev/null", O_RDONLY);  // fd 0, just freed by the socket
    if (null < 0 || (null != 0 && ::dup2(null, 0) != 0) || ::dup2(out, 1) != 1 || ::dup2(err, 2) != 2) {
      ::_exit(kExitRunFailed);
    }
    if (null != 0) ::close(null);
    ::close(out);
    ::close(err);
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &defaults, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // `ps` shows the job as `dihya-host run`, not as a second zygote: the
    // command line is read from our argv memory, which the fork copied.
    const std::size_t word = std::strlen(command_word_);
    std::memset(command_word_, 0, word);
    std::memcpy(command_word_, "run", std::min<std::size_t>(3, word));
    // Pointers into `env`, which lives until _exit.
    std::vector<char*> environment = zygote::environment_block(env);
    environ = environment.data();
    std::vector<char*> c_argv;
    for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
    c_argv.push_back(nullptr);
    const int code = entry_(static_cast<int>(argv.size()), c_argv.data());
    // Streams flushed, then out: the run is over and recorded. Exit handlers
    // and static destructors would run the cleanup of every library the
    // zygote loaded (libpq's TLS, Kerberos and LDAP stacks), touching and
    // copying their pages for nothing (~10 % of a job's page faults).
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::_exit(code);
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      const auto it = jobs_.find(pid);
      if (it == jobs_.end()) continue;
      report({it->second, zygote::JobReport::exited, pid, status, 0});
      jobs_.erase(it);
    }
  }

  // Our socket is non-blocking (for reading): a full send buffer (a scheduler
  // busy in a long statement) must delay a report, never drop it. The
  // scheduler has at most one request in flight and reads reports while it
  // waits for its answer, so waiting here cannot deadlock. If it is gone, so
  // are we soon (end-of-file).
  void report(const zygote::JobReport& r) {
    while (zygote::send_with_fds(socket_, &r, sizeof r, nullptr, 0) == EAGAIN) {
      pollfd p{socket_, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    }
  }

  // The scheduler is gone or stopping: running jobs are cancelled as they
  // would be by their scheduler's death (their hosts record it).
  int stop(int code) {
    for (const auto& [pid, tag] : jobs_) ::kill(pid, SIGTERM);
    return code;
  }

  int socket_;
  int signals_;
  int (*entry_)(int, char**);
  char* command_word_;  // our argv[1], "__zygote"
  std::map<pid_t, std::int64_t> jobs_;  // pid -> the scheduler's tag
  RequestBuffer request_;
  std::set<std::string> checked_plugins_;  // plugins prepare_for() looked at
  bool libpq_loaded_ = false;
};

// The zygote's own environment (the scheduler's) is no job's: each job gets
// its own from its request. But its bytes stay where /proc/<pid>/environ
// reads, for the zygote and every job forked from it, and a variable a job's
// parameter names by @env: (a salt, an API key) would be read there in clear
// while the job's own copy is scrubbed. Once warm, the values are zeroed (the
// names stay: harmless, and they say what the block was).
void forget_own_environment() {
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    char* equals = std::strchr(*entry, '=');
    if (equals != nullptr) ::explicit_bzero(equals + 1, std::strlen(equals + 1));
  }
  static char* none[] = {nullptr};
  environ = none;
}

}  // namespace

int run_zygote(int argc, char** argv, int (*entry)(int, char**)) {
  if (argc != 2 || !stdin_is_scheduler_socket()) {
    std::cerr << "dihya-host: __zygote is started by the run_scheduler plugin only (standard input must be its "
                 "socket); run jobs with `dihya-host run`\n";
    return kExitUsage;
  }
  sigset_t handled;
  ::sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&handled, sig);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  const int signals = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) {
    std::cerr << fmt::format("dihya-host: __zygote: signalfd: {}\n", std::strerror(errno));
    return kExitRunFailed;
  }
  // Warm what every job reads first (settings, the plugin catalogue and its
  // metadata cache, with every plugin's digest for the run records); a
  // problem there is each job's to report, in its own words.
  try {
    PluginCatalog catalog(load_settings(GlobalFlags{}));
    catalog.remember_digests();
    catalog.keep_cache_for_forks();
  } catch (const std::exception&) {
  }
  // What every job would otherwise initialise again after the fork: the
  // local time zone. libpq and its ~20 libraries are loaded only before the
  // first job whose plugin uses the database (see Zygote::prepare_for).
  ::tzset();
  effective_user_name();  // each run records its user and its host's boot
  current_boot_id();
  // Every page the zygote has written is copied on a job's first write to it
  // (and its page table entries at each fork): give the warm-up's freed heap back.
  ::malloc_trim(0);
  forget_own_environment();
  ::fcntl(0, F_SETFD, FD_CLOEXEC);
  ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
  try {
    Zygote zygote(0, signals, entry, argv[1]);
    return zygote.serve();
  } catch (const std::exception& e) {  // no request buffer: the scheduler execs its jobs instead
    std::cerr << fmt::format("dihya-host: __zygote: {}\n", e.what());
    return kExitRunFailed;
  }
}

}  // namespace dihya::host
