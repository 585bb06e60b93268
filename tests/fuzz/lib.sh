# SPDX-License-Identifier: AGPL-3.0-or-later
# Shared by every fuzz runner (tests/fuzz/run_fuzz.sh, plugins/*/fuzz/run_fuzz.sh):
# build a libFuzzer target with clang, ASan and UBSan when its sources changed,
# then run it for a bounded time over WORK_DIR/corpus. Any crash, sanitizer
# report or broken invariant (the target aborts) fails the test.
#   source tests/fuzz/lib.sh; fuzz_start WORK_DIR; fuzz_build BIN FILE... -- CLANG_ARGS...; fuzz_run BIN SECONDS [OPTION...]

# fuzz_start WORK_DIR: checks for clang and makes WORK_DIR/corpus.
fuzz_start() {
  fuzz_work=$1
  mkdir -p "$fuzz_work/corpus"
  if ! command -v clang++ >/dev/null; then
    echo "run_fuzz.sh: clang++ is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
}

# fuzz_build BIN WATCHED_FILE... -- CLANG_ARGS...: rebuilds BIN when a watched
# file is newer or the optimisation level changed.
# The .cpp files among CLANG_ARGS are compiled as one unit (a generated file
# that includes them all), then linked with the -l/-L/-Wl arguments: their
# nlohmann/json, yaml-cpp and valijson templates are then instantiated and
# instrumented once instead of once per file, which was most of these builds'
# CPU time (the suite runs them beside the other tests on 2 cores, so CPU, not
# the wall time of one build, is what counts). Their names in anonymous
# namespaces must therefore be distinct, as the unity build of the host and
# plugins (DIHYA_UNITY_BUILD) already requires. Line tables are all a
# sanitizer report needs (file:line in every frame) and cost less compile time
# than full debug information.
# DIHYA_FUZZ_OPT (default -O0) is the optimisation level. The suite's runs are
# short checks (the committed corpus replayed, then 10 s of new inputs): there
# an -O0 build, 2.5 times quicker to compile (13 s instead of 35 s of CPU for
# the params target), is worth more than the 4 times more inputs per second of
# -O1. A long campaign sets DIHYA_FUZZ_OPT=-O1.
fuzz_build() {
  local bin=$1 watched=() sources=() cflags=() ldflags=() arg opt=${DIHYA_FUZZ_OPT:--O0}
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do watched+=("$1"); shift; done
  shift
  if [ -x "$bin" ] && [ "$(cat "$bin.opt" 2>/dev/null)" = "$opt" ] && [ -z "$(find "${watched[@]}" -newer "$bin")" ]; then
    return 0
  fi
  for arg in "$@"; do
    case $arg in
      *.cpp) sources+=("$arg") ;;
      -l* | -L* | -Wl,*) ldflags+=("$arg") ;;
      *) cflags+=("$arg") ;;
    esac
  done
  local flags=(-std=c++17 "$opt" -gline-tables-only -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  local unit="$bin.unity.cpp"
  : >"$unit"
  for arg in "${sources[@]}"; do
    printf '#include "%s"\n' "$(realpath "$arg")" >>"$unit"
  done
  if ! clang++ "${flags[@]}" "${cflags[@]}" -c "$unit" -o "$bin.unity.o"; then
    echo "fuzz_build: compiling $(basename "$bin") failed" >&2
    return 1
  fi
  clang++ "${flags[@]}" "$bin.unity.o" "${ldflags[@]}" -o "$bin"
  printf '%s\n' "$opt" >"$bin.opt"
}

# fuzz_run BIN SECONDS [LIBFUZZER_OPTION...]: runs over the corpus, printing the final stats.
fuzz_run() {
  local bin=$1 seconds=$2
  shift 2
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@" \
    -artifact_prefix="$fuzz_work/" "$fuzz_work/corpus" 2>&1 | tail -15
}
