// SPDX-License-Identifier: AGPL-3.0-or-later
// The run_scheduler <-> `dihya-host __zygote` messages (dihya/job_zygote.hpp):
// round trip, malformed requests refused, descriptors passed over a real
// SOCK_SEQPACKET socketpair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <dihya/job_zygote.hpp>

namespace zygote = dihya::zygote;

TEST_CASE("a job request round-trips argv and environment", "[zygote]") {
  std::string wire;
  REQUIRE(zygote::encode_request(42, {"dihya-host", "run", "noop", ""}, {"A=1", "B="}, &wire));
  std::int64_t tag = 0;
  std::vector<std::string> argv, env;
  REQUIRE(zygote::decode_request(wire, &tag, &argv, &env));
  CHECK(tag == 42);
  CHECK(argv == std::vector<std::string>{"dihya-host", "run", "noop", ""});
  CHECK(env == std::vector<std::string>{"A=1", "B="});
}

TEST_CASE("a job's environment block: entries without a name left out, a repeated name's last value", "[zygote]") {
  const std::vector<std::string> env{"A=1", "B=2", "=x", "NOEQ", "AB=4", "A=3", "B=", "C=a=b"};
  const auto block = zygote::environment_block(env);
  REQUIRE(block.size() == 5);
  CHECK(block.back() == nullptr);
  std::vector<std::string> got(block.begin(), block.end() - 1);
  CHECK(got == std::vector<std::string>{"AB=4", "A=3", "B=", "C=a=b"});
  CHECK(block[1] == env[5].c_str());  // the strings themselves, not copies
  CHECK(zygote::environment_block({}) == std::vector<char*>{nullptr});
}

TEST_CASE("a job request that cannot be one message is not encoded", "[zygote]") {
  std::string wire;
  CHECK_FALSE(zygote::encode_request(1, {std::string("a\0b", 3)}, {}, &wire));
  CHECK_FALSE(zygote::encode_request(1, {"run"}, {std::string(zygote::kMaxRequest, 'x')}, &wire));
}

TEST_CASE("malformed job requests are refused", "[zygote]") {
  std::int64_t tag = 0;
  std::vector<std::string> argv, env;
  std::string good;
  REQUIRE(zygote::encode_request(7, {"dihya-host", "run"}, {"X=y"}, &good));
  CHECK_FALSE(zygote::decode_request("", &tag, &argv, &env));
  CHECK_FALSE(zygote::decode_request(good.substr(0, 11), &tag, &argv, &env));      // cut in the header
  CHECK_FALSE(zygote::decode_request(good.substr(0, good.size() - 1), &tag, &argv, &env));  // no final NUL
  std::string more_args = good;
  more_args[8] = 9;  // argc 9, two strings... and one env entry
  CHECK_FALSE(zygote::decode_request(more_args, &tag, &argv, &env));
  std::string no_args = good;
  no_args[8] = 0;
  CHECK_FALSE(zygote::decode_request(no_args, &tag, &argv, &env));
}

TEST_CASE("descriptors travel with a request over a SEQPACKET socketpair", "[zygote]") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const char body[] = "job";
  REQUIRE(zygote::send_with_fds(pair[0], body, sizeof body, &pipe_fds[1], 1) == 0);
  char got[16] = {};
  iovec iov{got, sizeof got};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  REQUIRE(::recvmsg(pair[1], &msg, MSG_CMSG_CLOEXEC) == static_cast<ssize_t>(sizeof body));
  CHECK(std::string(got) == "job");
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  REQUIRE(c != nullptr);
  REQUIRE(c->cmsg_type == SCM_RIGHTS);
  int received = -1;
  std::memcpy(&received, CMSG_DATA(c), sizeof received);
  // The received descriptor is the pipe's write end: what goes in comes out.
  REQUIRE(::write(received, "x", 1) == 1);
  char x = 0;
  CHECK(::read(pipe_fds[0], &x, 1) == 1);
  CHECK(x == 'x');
  for (int fd : {pair[0], pair[1], pipe_fds[0], pipe_fds[1], received}) ::close(fd);
}
