// SPDX-License-Identifier: AGPL-3.0-or-later
// The wire between the host and the child process that runs a plugin. Every
// message is a frame: magic "DH", protocol version, frame type, 4-byte
// little-endian payload length, payload (JSON text). The reader checks the
// magic, version and a size limit, so a plugin writing garbage on the pipe is
// a protocol error, never a crash or an unbounded allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dihya::host {

inline constexpr std::uint8_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 8;
inline constexpr std::size_t kMaxFramePayload = 16u << 20;
// How deep a payload may nest (a result's data, a journal entry's): deeper is
// a protocol error.
inline constexpr int kMaxFrameDepth = 128;

enum class FrameType : std::uint8_t {
  loaded = 1,    // child → host: the library loaded and the factory answered
  log = 2,       // child → host: {"level": "info", "message": "..."}
  progress = 3,  // child → host: {"done": n, "total": n, "what": "..."}
  journal = 4,   // child → host: {"action": "...", "data": {...}}; waits for an ack
  result = 5,    // child → host: {"ok": bool, "summary": "...", "data": {...}}
  error = 6,     // child → host: {"kind": "load"|"exception", "message": "..."}
  ack = 7,       // host → child: {"ok": bool, "message": "..."} for a journal frame
};

struct Frame {
  FrameType type;
  std::string payload;
};

std::string encode_frame(FrameType type, std::string_view payload);

// Writes one whole frame, retrying on EINTR and short writes. False on error.
bool write_frame(int fd, FrameType type, std::string_view payload);
// Writes a frame encode_frame() made beforehand: allocates nothing, for a
// child whose memory is exhausted.
bool write_encoded_frame(int fd, std::string_view frame);

// Reassembles frames from a byte stream.
class FrameReader {
 public:
  void feed(const char* data, std::size_t size) { buffer_.append(data, size); }

  // The next complete frame, or nullopt when more bytes are needed. A broken
  // stream (bad magic, version or type, an oversized frame) throws a
  // HostError (errors.hpp, exit 1) saying what is wrong; the stream must
  // then be dropped.
  std::optional<Frame> next();

 private:
  std::string buffer_;
};

// Blocks until one frame arrives on `fd`; throws a HostError (exit 1) on EOF
// ("pipe closed"), a read error or a broken stream.
Frame read_frame_blocking(int fd);

}  // namespace dihya::host
