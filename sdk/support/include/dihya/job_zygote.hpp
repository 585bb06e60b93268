// SPDX-License-Identifier: AGPL-3.0-or-later
// The messages between run_scheduler and `dihya-host __zygote`, the warm host
// process that forks one `dihya-host run` per job instead of the scheduler
// executing a new host each time. One AF_UNIX SOCK_SEQPACKET socketpair (the
// zygote's standard input): message boundaries are kept, so each request and
// each report is exactly one message, and the zygote sees end-of-file when
// the scheduler is gone.
//
//  request  (scheduler -> zygote): the job's tag (8 bytes), then its argv
//           count (4 bytes), then the argv strings and the environment
//           entries, each NUL-terminated; with SCM_RIGHTS, the job's standard
//           output and standard error (exactly two descriptors);
//  report   (zygote -> scheduler): a JobReport: `started` with the job's pid
//           (or `refused` with an errno when fork failed), later `exited`
//           with its wait status.
// Header-only, Linux only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace dihya::zygote {

// The subcommand the scheduler starts; hidden from --help.
constexpr const char* kCommand = "__zygote";
// A request larger than this is not sent (the job is exec'ed instead): the
// socket's send buffer bounds a datagram, and argv plus environment of a job
// are a few kilobytes.
constexpr std::size_t kMaxRequest = 160 * 1024;

struct JobReport {
  enum Kind : std::int32_t { started = 1, refused = 2, exited = 3 };
  std::int64_t tag = 0;
  std::int32_t kind = 0;
  std::int32_t pid = 0;
  std::int32_t status = 0;  // exited: the wait status; refused: the errno
  std::int32_t reserved = 0;
};

// Encodes a request; false when it would exceed kMaxRequest.
inline bool encode_request(std::int64_t tag, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, std::string* out) {
  out->assign(reinterpret_cast<const char*>(&tag), sizeof tag);
  const auto argc = static_cast<std::uint32_t>(argv.size());
  out->append(reinterpret_cast<const char*>(&argc), sizeof argc);
  for (const auto* list : {&argv, &env}) {
    for (const auto& s : *list) {
      if (s.find('\0') != std::string::npos) return false;
      out->append(s);
      out->push_back('\0');
      if (out->size() > kMaxRequest) return false;
    }
  }
  return true;
}

// Decodes a request; false when it is malformed.
inline bool decode_request(std::string_view in, std::int64_t* tag, std::vector<std::string>* argv,
                           std::vector<std::string>* env) {
  std::uint32_t argc = 0;
  if (in.size() < sizeof *tag + sizeof argc || in.back() != '\0') return false;
  std::memcpy(tag, in.data(), sizeof *tag);
  std::memcpy(&argc, in.data() + sizeof *tag, sizeof argc);
  std::size_t at = sizeof *tag + sizeof argc;
  argv->clear();
  env->clear();
  while (at < in.size()) {
    const std::size_t end = in.find('\0', at);
    (argv->size() < argc ? argv : env)->emplace_back(in.substr(at, end - at));
    at = end + 1;
  }
  return argv->size() == argc && argc > 0;
}

// A job's environment as `environ` takes it: pointers into `env`, which
// must outlive it (no copy of each variable, as setenv() makes: ~20 page
// faults a job); entries without a name left out; a name given twice with
// its last value, as setenv() would leave it; null-terminated.
inline std::vector<char*> environment_block(const std::vector<std::string>& env) {
  std::vector<char*> block;
  for (auto kv = env.rbegin(); kv != env.rend(); ++kv) {
    const auto eq = kv->find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const bool later = std::any_of(block.begin(), block.end(),
                                   [&](const char* e) { return std::strncmp(e, kv->c_str(), eq + 1) == 0; });
    if (!later) block.push_back(const_cast<char*>(kv->c_str()));
  }
  std::reverse(block.begin(), block.end());
  block.push_back(nullptr);
  return block;
}

// Sends one message with `fds` attached (SCM_RIGHTS); returns 0 or an errno.
inline int send_with_fds(int socket, const void* data, std::size_t size, const int* fds, std::size_t nfds) {
  iovec iov{const_cast<void*>(data), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  if (nfds > 0) {
    if (nfds > 4) return EINVAL;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  while ((n = ::sendmsg(socket, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  if (n < 0) return errno;
  return static_cast<std::size_t>(n) == size ? 0 : EMSGSIZE;
}

}  // namespace dihya::zygote
