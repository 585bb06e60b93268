#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# generate_project's spoken specs end to end with the built dihya-host: audio
# formats (WAV at 22.05/44.1 kHz stereo, FLAC, OGG, MP3: resampled and
# decoded), hostile files refused with exit 2 and one line (empty, not audio,
# truncated header, absurd header values, too large, too long, a directory),
# French audio refused, silence refused, the report's transcript and
# per-field confidence, spoken negations; then the spoken corpus
# (tests/fixtures/generate_project/spoken_specs.tsv): each spec said by
# espeak-ng (several voices, 130-170 wpm) at test time, the share of fields
# recovered from audio printed next to the share from the typed text, for the
# tuning specs and the held-out specs apart.
source "$(dirname "$0")/lib.sh"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
unset DIHYA_DATABASE_URL
T=$WORK/t
mkdir -p "$T"
result() { jq -r "$1" "$OUT"; }
corpus="$DIHYA_SOURCE_DIR/tests/fixtures/generate_project/spoken_specs.tsv"
for tool in espeak-ng sox jq; do
  command -v "$tool" >/dev/null || { not_ok "$tool is not installed (scripts/install-deps.sh installs it)"; finish; exit 1; }
done
run_audio() { dh run generate_project --dry-run --json -p templates_from=bundled -p out="$T/out" "$@"; }

# --- formats: one spec, said once, in every container ---------------------------
say="An Express API called Travel with trips and bookings. Use PostgreSQL and CI."
espeak-ng -v en-us -s 140 -w "$T/travel.wav" "$say"
sox "$T/travel.wav" -r 44100 -c 2 "$T/travel-44k-stereo.wav"
sox "$T/travel.wav" "$T/travel.flac"
sox "$T/travel.wav" "$T/travel.ogg"
sox "$T/travel.wav" -r 44100 "$T/travel.mp3"
expect_exit 0 "audio as espeak-ng writes it (22.05 kHz)" -- run_audio -p audio="$T/travel.wav"
ref=$(result '.result.audio.seconds')
for f in travel.wav travel-44k-stereo.wav travel.flac travel.ogg travel.mp3; do
  expect_exit 0 "audio $f transcribed" -- run_audio -p audio="$T/$f"
  expect_eq "$(result '.result.transcript | length > 10')" true "audio $f: a transcript"
  # MP3 encoders pad a few ms: the same duration within 0.1 s means the
  # samples were decoded, downmixed and resampled to 16 kHz correctly.
  expect_eq "$(result ".result.audio.seconds - $ref | fabs < 0.1")" true "audio $f: duration kept after resampling"
done
expect_in "$OUT" '"format": "MPEG' "the report names the decoded format"
expect_exit 0 "text report of an audio spec" -- dh run generate_project --dry-run -p templates_from=bundled -p audio="$T/travel.flac" -p out="$T/out"
expect_in "$OUT" "Transcript: " "report: transcript"
expect_in "$OUT" "(confidence " "report: confidence per understood field"
expect_in "$OUT" "Audio: FLAC" "report: audio format and durations"
expect_exit 0 "audio JSON" -- run_audio -p audio="$T/travel.wav"
expect_eq "$(result '[.result.understood[] | select(.words != "") | has("confidence")] | all')" true "every heard rule has a confidence"
expect_eq "$(result '[.result.audio.words[].confidence | select(. < 0 or . > 1)] | length')" 0 "word confidences are probabilities"
expect_eq "$(result '([.result.understood[] | select(.confidence != null and .confidence < 0.5)] | length) == (.result.uncertain | length)')" true "every low-confidence rule is listed as uncertain"
expect_exit 0 "language=en accepted" -- run_audio -p audio="$T/travel.wav" -p language=en

# --- negations: what a spoken negation governs stays off ----------------------------
# "no JWT authentication" once gave auth=jwt ("authentication" after the negated
# "jwt"), "without a database" database=sqlite (the article hid the negation).
negation_heard() {  # negation_heard SAID HEARD EXPECTED-FEATURES
  espeak-ng -v en-us -s 140 -w "$T/negation.wav" "$1"
  expect_exit 0 "spoken negation: $1" -- run_audio -p audio="$T/negation.wav"
  expect_eq "$(result ".result.transcript | contains(\"$2\")")" true "spoken negation: \"$2\" heard"
  expect_eq "$(result '.result.spec.features | "auth=\(.auth) database=\(.database) docker=\(.docker)"')" "$3" \
    "spoken negation: $2: features"
}
negation_heard "A Flask API called Shop with users. No JWT authentication. Use PostgreSQL." \
  "no jwt authentication" "auth=none database=postgresql docker=false"
negation_heard "A Flask API called Shop with users. Without a database. Add Docker." \
  "without a database" "auth=none database=none docker=true"

# --- refused: French, silence, hostile files --------------------------------------
refused() {  # refused WHAT EXPECTED-TEXT params...
  local what=$1 text=$2
  shift 2
  expect_exit 2 "refused: $what" -- dh run generate_project -p out="$T/never" "$@"
  expect_one_line_error "$what"
  expect_in "$ERR" "$text" "$what: the error says why"
}
refused "French audio" "Debian ships pocketsphinx models for US English only" -p audio="$T/travel.wav" -p language=fr
sox -n -r 16000 -c 1 -b 16 "$T/silence.wav" trim 0 2
refused "silence" "transcription is empty" -p audio="$T/silence.wav"
: >"$T/empty.wav"
refused "zero-length file" "empty file" -p audio="$T/empty.wav"
printf 'An Express API called Travel\n' >"$T/text.wav"
refused "text named .wav" "not an audio file" -p audio="$T/text.wav"
head -c 30 "$T/travel.wav" >"$T/truncated.wav"
refused "truncated header" "$T/truncated.wav" -p audio="$T/truncated.wav"
head -c 3000 "$T/travel.ogg" >"$T/truncated.ogg"
refused "truncated OGG" "malformed" -p audio="$T/truncated.ogg"
head -c 40000 /dev/urandom >"$T/random.mp3"
refused "random bytes named .mp3" "not an audio file" -p audio="$T/random.mp3"
# A RIFF header declaring 4 GiB of data and 1000 channels, with 8 bytes of data.
/usr/bin/python3 - "$T" <<'PY'
import struct, sys
t = sys.argv[1]
def wav(path, channels, rate, declared):
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", declared) + bytes(8)
    open(path, "wb").write(b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + body)
wav(f"{t}/huge-declared.wav", 1, 16000, 0xFFFFFFF0)
wav(f"{t}/channels.wav", 1000, 16000, 8)
wav(f"{t}/rate.wav", 1, 1, 8)
PY
refused "huge declared data size" "huge-declared.wav" -p audio="$T/huge-declared.wav"
refused "1000 channels" "channels.wav" -p audio="$T/channels.wav"
refused "1 Hz sample rate" "rate.wav" -p audio="$T/rate.wav"
truncate -s 65M "$T/big.wav"
refused "file over 64 MiB" "larger than 64 MiB" -p audio="$T/big.wav"
sox -n -r 8000 -c 1 -b 16 "$T/long.wav" synth 130 sine 440
refused "audio over two minutes" "longer than 120 s" -p audio="$T/long.wav"
refused "a directory" "not a readable file" -p audio="$T"
refused "missing file" "not a readable file" -p audio="$T/nope.wav"

# --- the spoken corpus ----------------------------------------------------------------
# Fields compared: name (case-insensitive), stacks, resources, auth, database,
# docker, ci, kubernetes. Audio goes in as espeak-ng writes it (22.05 kHz).
fields='[.result.spec.name, (.result.spec.stacks | join(",")), (.result.spec.resources | map(.name) | join(",")),
         .result.spec.features.auth, .result.spec.features.database, (.result.spec.features.docker | tostring),
         (.result.spec.features.ci | tostring), (.result.spec.features.kubernetes | tostring)] | join("|")'
declare -A audio_ok typed_ok total
while IFS=$'\t' read -r id set voice wpm text expected; do
  case "$id" in ''|'#'*) continue ;; esac
  espeak-ng -v "$voice" -s "$wpm" -w "$T/$id.wav" "$text"
  run_audio -p audio="$T/$id.wav" >"$OUT" 2>"$ERR" || true
  heard=$(jq -r "$fields" "$OUT" 2>/dev/null || echo "")
  dh run generate_project --dry-run --json -p templates_from=bundled -p out="$T/out" -p text="$text" >"$OUT" 2>"$ERR" || true
  typed=$(jq -r "$fields" "$OUT" 2>/dev/null || echo "")
  IFS='|' read -r -a want <<<"$expected"
  IFS='|' read -r -a got <<<"$heard"
  IFS='|' read -r -a tgot <<<"$typed"
  a=0 t=0 missed=""
  for i in 0 1 2 3 4 5 6 7; do
    if [ "$i" -eq 0 ]; then
      [ "${got[0],,}" = "${want[0],,}" ] && a=$((a + 1)) || missed+=" name=${got[0]:-}"
      [ "${tgot[0]:-}" = "${want[0]}" ] && t=$((t + 1))
    else
      [ "${got[$i]:-}" = "${want[$i]}" ] && a=$((a + 1)) || missed+=" #$i=${got[$i]:-}"
      [ "${tgot[$i]:-}" = "${want[$i]}" ] && t=$((t + 1))
    fi
  done
  audio_ok[$set]=$(( ${audio_ok[$set]:-0} + a ))
  typed_ok[$set]=$(( ${typed_ok[$set]:-0} + t ))
  total[$set]=$(( ${total[$set]:-0} + 8 ))
  echo "  $id ($set, $voice, $wpm wpm): audio $a/8, typed $t/8${missed:+ (audio missed:$missed)}"
done <"$corpus"
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for set in tune held; do
  echo "spoken corpus, $set specs: fields from audio $(share "${audio_ok[$set]}" "${total[$set]}"), from typed text $(share "${typed_ok[$set]}" "${total[$set]}") (${total[$set]} fields)"
  expect_eq "$(share "${typed_ok[$set]}" "${total[$set]}")" 1.00 "$set specs: typed text gives every field"
done
# The floors: the general English model (the previous audio path) recovers
# 0.45/0.44 of these fields (bench/generate_project.sh), mostly defaults that
# happen to match; this recogniser measured 0.93 on the tuning specs and 0.90
# on the held-out ones (0.85/0.80 before the MAP-adapted means of
# speech_data/, 0.78/0.66 without any of its speech data). Decoding is
# deterministic (fixed dither seed); each floor leaves 0.05 (four or five
# fields of 96) for another espeak-ng or model version changing a word or
# two, and is above what the recogniser gave without its adapted means, so a
# broken model, dictionary, means, transform, normalisation or audio path
# fails the test.
declare -A floor=([tune]=0.88 [held]=0.85)
for set in tune held; do
  s=$(share "${audio_ok[$set]}" "${total[$set]}")
  if awk -v s="$s" -v f="${floor[$set]}" 'BEGIN { exit !(s >= f) }'; then
    ok "$set specs: audio share $s >= ${floor[$set]}"
  else
    not_ok "$set specs: audio share $s < ${floor[$set]}"
  fi
done
finish
