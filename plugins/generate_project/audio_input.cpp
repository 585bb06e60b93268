// SPDX-License-Identifier: AGPL-3.0-or-later
#include "audio_input.hpp"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include <dihya/error.hpp>

namespace generate_project {
namespace {

namespace fs = std::filesystem;

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

std::string describe_format(const SF_INFO& info) {
  SF_FORMAT_INFO major{};
  major.format = info.format & SF_FORMAT_TYPEMASK;
  const char* name = sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0 && major.name ? major.name : "audio";
  return std::string(name) + " " + std::to_string(info.samplerate) + " Hz, " + std::to_string(info.channels) +
         (info.channels == 1 ? " channel" : " channels");
}

}  // namespace

SpokenAudio load_audio(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw dihya::Error(path + ": not a readable file");
  const std::uintmax_t bytes = fs::file_size(path, ec);
  if (ec) throw dihya::Error(path + ": cannot be read: " + ec.message());
  if (bytes == 0) throw dihya::Error(path + ": empty file, no audio in it");
  if (bytes > kMaxAudioBytes) {
    throw dihya::Error(path + ": larger than " + std::to_string(kMaxAudioBytes >> 20) + " MiB; a spoken spec is a few seconds");
  }
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file(sf_open(path.c_str(), SFM_READ, &info));
  if (!file) {
    // libsndfile answers "File does not exist or is not a regular file" for
    // data it cannot sync on (random bytes named .mp3): misleading here.
    std::string why = sf_strerror(nullptr);
    if (why.find("does not exist") != std::string::npos) why = "format not recognised";
    throw dihya::Error(path + ": not an audio file this build can decode (WAV, FLAC, OGG Vorbis/Opus, MP3): " + why);
  }
  if (info.channels < 1 || info.channels > 64) throw dihya::Error(path + ": " + std::to_string(info.channels) + " channels is not speech");
  if (info.samplerate < 8000 || info.samplerate > 384000) {
    throw dihya::Error(path + ": sample rate " + std::to_string(info.samplerate) + " Hz is outside 8000-384000 Hz");
  }
  SpokenAudio audio;
  audio.format = describe_format(info);
  // The header's frame count may lie (truncated or forged files): read until
  // the data ends or the duration cap, whichever comes first.
  const auto max_frames = static_cast<sf_count_t>(kMaxAudioSeconds * info.samplerate);
  std::vector<float> mono;
  std::vector<float> chunk(static_cast<std::size_t>(4096) * static_cast<std::size_t>(info.channels));
  while (true) {
    const sf_count_t got = sf_readf_float(file.get(), chunk.data(), 4096);
    if (got <= 0) break;
    for (sf_count_t f = 0; f < got; ++f) {
      float sum = 0;
      for (int c = 0; c < info.channels; ++c) sum += chunk[static_cast<std::size_t>(f * info.channels + c)];
      mono.push_back(sum / static_cast<float>(info.channels));
    }
    if (static_cast<sf_count_t>(mono.size()) > max_frames) {
      throw dihya::Error(path + ": longer than " + std::to_string(static_cast<int>(kMaxAudioSeconds)) +
                         " s; say the spec in two minutes or less");
    }
  }
  if (sf_error(file.get()) != SF_ERR_NO_ERROR) throw dihya::Error(path + ": damaged audio: " + sf_strerror(file.get()));
  if (mono.empty()) throw dihya::Error(path + ": holds no audio samples (truncated or empty)");

  std::vector<float> resampled;
  if (info.samplerate == kSpeechRate) {
    resampled = std::move(mono);
  } else {
    resampled.resize(static_cast<std::size_t>(std::ceil(static_cast<double>(mono.size()) * kSpeechRate / info.samplerate)) + 16);
    std::size_t used = 0, made = 0;
    const soxr_error_t err = soxr_oneshot(info.samplerate, kSpeechRate, 1, mono.data(), mono.size(), &used,
                                          resampled.data(), resampled.size(), &made, nullptr, nullptr, nullptr);
    if (err) throw dihya::Error(path + ": cannot resample to 16 kHz: " + err);
    resampled.resize(made);
  }
  // Quantised with triangular dither (as sox does): synthetic or gated
  // speech holds runs of exact zeros, whose log spectrum throws the
  // recogniser's cepstral normalisation off (measured: 0.60 of the tuning
  // specs' fields without dither, 0.65 with). A fixed-seed generator keeps
  // the transcription of a file the same on every run.
  audio.samples.reserve(resampled.size());
  std::uint32_t noise = 2463534242u;
  auto uniform = [&noise] {
    noise ^= noise << 13;
    noise ^= noise >> 17;
    noise ^= noise << 5;
    return static_cast<float>(noise) / 4294967296.0f;
  };
  for (float s : resampled) {
    const float clipped = std::clamp(std::isfinite(s) ? s : 0.0f, -1.0f, 1.0f);
    const float dithered = clipped * 32767.0f + (uniform() - uniform());
    audio.samples.push_back(static_cast<std::int16_t>(std::clamp(std::lround(dithered), -32768L, 32767L)));
  }
  audio.seconds = static_cast<double>(audio.samples.size()) / kSpeechRate;
  if (audio.seconds < 0.25) {
    throw dihya::Error(path + ": " + std::to_string(audio.samples.size()) + " samples, too short to hold speech (truncated?)");
  }
  return audio;
}

}  // namespace generate_project
