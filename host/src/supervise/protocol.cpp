// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/protocol.hpp"

#include <unistd.h>

#include <cerrno>
#include <utility>

#include "errors.hpp"

namespace dihya::host {
namespace {

// A stream that breaks the protocol comes from a child that misbehaved (or
// died): the run fails, exit 1.
HostError broken_stream(const std::string& why) { return HostError(kExitRunFailed, why); }

}  // namespace

std::string encode_frame(FrameType type, std::string_view payload) {
  std::string frame;
  frame.reserve(kFrameHeaderSize + payload.size());
  frame.push_back('D');
  frame.push_back('H');
  frame.push_back(static_cast<char>(kProtocolVersion));
  frame.push_back(static_cast<char>(type));
  const auto size = static_cast<std::uint32_t>(payload.size());
  for (int shift = 0; shift < 32; shift += 8) frame.push_back(static_cast<char>((size >> shift) & 0xff));
  frame.append(payload);
  return frame;
}

bool write_frame(int fd, FrameType type, std::string_view payload) {
  if (payload.size() > kMaxFramePayload) return false;
  return write_encoded_frame(fd, encode_frame(type, payload));
}

bool write_encoded_frame(int fd, std::string_view frame) {
  std::string_view rest(frame);
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<Frame> FrameReader::next() {
  if (buffer_.size() < kFrameHeaderSize) return std::nullopt;
  const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data());
  if (h[0] != 'D' || h[1] != 'H') {
    throw broken_stream("bad frame magic");
  }
  if (h[2] != kProtocolVersion) {
    throw broken_stream("protocol version " + std::to_string(h[2]) + ", expected " + std::to_string(kProtocolVersion));
  }
  if (h[3] < static_cast<unsigned char>(FrameType::loaded) || h[3] > static_cast<unsigned char>(FrameType::ack)) {
    throw broken_stream("unknown frame type " + std::to_string(h[3]));
  }
  std::uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size |= static_cast<std::uint32_t>(h[4 + i]) << (8 * i);
  if (size > kMaxFramePayload) {
    throw broken_stream("frame of " + std::to_string(size) + " bytes exceeds the limit");
  }
  if (buffer_.size() < kFrameHeaderSize + size) return std::nullopt;
  Frame frame{static_cast<FrameType>(h[3]), buffer_.substr(kFrameHeaderSize, size)};
  buffer_.erase(0, kFrameHeaderSize + size);
  return frame;
}

Frame read_frame_blocking(int fd) {
  FrameReader reader;
  char buffer[1];
  for (;;) {
    if (auto frame = reader.next()) return std::move(*frame);
    // Read no further than the frame needs: the stream may carry later frames
    // meant for another reader of the same fd.
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw broken_stream(n == 0 ? "pipe closed" : "pipe read failed");
    }
    reader.feed(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace dihya::host
