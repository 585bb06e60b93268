// SPDX-License-Identifier: AGPL-3.0-or-later
// Audio files as users have them, turned into what the recogniser takes:
// 16 kHz mono 16-bit samples. libsndfile decodes (WAV, FLAC, OGG Vorbis/Opus,
// MP3 and the other formats it knows), libsoxr resamples, channels are
// averaged. Every file is hostile: a size cap before decoding, a cap on the
// decoded duration whatever the header declares, and a dihya::Error naming
// the file for anything that is not audio (truncated, empty, unknown format).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace generate_project {

inline constexpr std::uintmax_t kMaxAudioBytes = 64u << 20;  // 64 MiB
inline constexpr double kMaxAudioSeconds = 120.0;
inline constexpr int kSpeechRate = 16000;

struct SpokenAudio {
  std::vector<std::int16_t> samples;  // 16 kHz mono
  double seconds = 0;
  std::string format;                 // e.g. "WAV (Microsoft) 44100 Hz, 2 channels"
};

// Throws dihya::Error ("<path>: ...") for a file that cannot be used.
SpokenAudio load_audio(const std::string& path);

}  // namespace generate_project
