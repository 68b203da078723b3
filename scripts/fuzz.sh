#!/usr/bin/env bash
# Fuzzes elm's loaders with clang's libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#   scripts/fuzz.sh TARGET|all SECONDS    (each target runs SECONDS of wall time in one process; the CPU seconds it
#   got, less on a shared machine, are printed with it)
# Targets: tests/fuzz/fuzz_targets.cpp (arpa, ngram_binary, safetensors, hf_config, word2vec_text, ...).
# Builds build-fuzz/elm-fuzz (Debian's clang, 14 here); corpora grow in build-fuzz/corpus/<target> from the
# target's seeds; a crash leaves its input in build-fuzz/artifacts/<target>/. Prints one line per target:
# target, seconds, executions, crashes; a crash's input goes into tests/fuzz/regressions/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}
cxx=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
out=build-fuzz
mkdir -p "$out"
src=tests/fuzz/fuzz_targets.cpp
if [[ ! -x $out/elm-fuzz || $src -nt $out/elm-fuzz || -n $(find include -newer "$out/elm-fuzz" -name '*.hpp' -print -quit) ]]; then
  echo "== building $out/elm-fuzz with $cxx"
  "$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DELM_LIBFUZZER -DELM_SOURCE_DIR="\"$PWD\"" -Iinclude -isystem /usr/include/eigen3 "$src" -o "$out/elm-fuzz"
fi
if [[ $target == all ]]; then
  targets=$(grep -o '{"[a-z0-9_]*", fuzz_' "$src" | sed 's/{"\([a-z0-9_]*\)".*/\1/')
else
  targets=$target
fi
for t in $targets; do
  case $t in
    arpa) dict=tests/fuzz/arpa.dict ;;
    hf_config | hmm_json | bpe_files | safetensors | training_state | checkpoint) dict=tests/fuzz/json.dict ;;
    *) dict= ;;
  esac
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  ELM_FUZZ_TARGET=$t ELM_FUZZ_WRITE_SEEDS="$out/corpus/$t" "$out/elm-fuzz"
  log="$out/$t.log"
  # -rss_limit_mb and -malloc_limit_mb: a single allocation above 1 GiB is a finding (no input here needs one).
  status=0
  timer=()  # the CPU seconds the run got, where Debian's time is installed
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "cpu_seconds %U %S" -o "$log.time")
  rm -f "$log.time"
  ELM_FUZZ_TARGET=$t "${timer[@]}" "$out/elm-fuzz" "$out/corpus/$t" \
    ${dict:+-dict=$dict} -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" >"$log" 2>&1 || status=$?
  cpu=$(awk '/^cpu_seconds/ {printf "%.0f", $2 + $3}' "$log.time" 2>/dev/null || echo "?")
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(find "$out/artifacts/$t" -type f | wc -l)
  echo "$t: ${seconds} s, ${cpu} CPU seconds, ${runs} executions, ${crashes} crash inputs (exit $status, log $log)"
done
