// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the audio reader an `audio` spec goes through
// (libsndfile decoding, downmix, libsoxr resampling): any bytes are either
// refused with a one-line dihya::Error or give 16 kHz samples within the
// duration cap. The bytes reach load_audio() as a file (a memfd), the way a
// spec file does.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <dihya/error.hpp>

#include "../audio_input.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz_audio", MFD_CLOEXEC);
  require(fd >= 0);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    require(n > 0);
    done += static_cast<std::size_t>(n);
  }
  try {
    const auto audio = generate_project::load_audio("/proc/self/fd/" + std::to_string(fd));
    require(!audio.samples.empty());
    require(audio.seconds <= generate_project::kMaxAudioSeconds + 1);
    require(audio.samples.size() == static_cast<std::size_t>(audio.seconds * generate_project::kSpeechRate + 0.5));
  } catch (const dihya::Error& e) {
    const std::string what = e.what();
    require(!what.empty() && what.find('\n') == std::string::npos);
  }
  ::close(fd);
  return 0;
}
