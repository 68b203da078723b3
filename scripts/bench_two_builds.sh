#!/usr/bin/env bash
# What scripts/bench_gpt2.sh and scripts/bench_bert.sh share: builds one benchmark twice (Release without -march,
# what users get; Release with -march=native), runs the first build, which measures the peers and keeps their
# numbers in a file, then the second against those same peer numbers, and prints both builds' Markdown tables
# under one heading (date, CPU, load average, the command), ready to paste into docs/benchmarks.md.
# Usage: scripts/bench_two_builds.sh TARGET PEER_RESULTS_VARIABLE COMMAND
#   TARGET: the benchmark (elm-bench-gpt2); PEER_RESULTS_VARIABLE: the environment variable naming the peers'
#   file (ELM_BENCH_GPT2_PEER_RESULTS); COMMAND: the command to show in the heading (scripts/bench_gpt2.sh).
set -euo pipefail
target=$1 variable=$2 shown=$3
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DELM_OPENMP=ON -DELM_BUILD_BENCHMARKS=ON -DELM_BUILD_TESTS=OFF
        -DELM_BUILD_EXAMPLES=OFF -DELM_DOC_SNIPPETS=OFF -DELM_HEADER_HYGIENE=OFF -DELM_WERROR=OFF
        -DELM_BENCHMARKS_COMPILE_CHECK=OFF)
cmake -S . -B build-bench "${common[@]}" -DELM_NATIVE=OFF >/dev/null
cmake -S . -B build-bench-native "${common[@]}" -DELM_NATIVE=ON >/dev/null
cmake --build build-bench --target "$target"
cmake --build build-bench-native --target "$target"
echo "built in $((SECONDS - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
peers=$(mktemp /tmp/elm_bench_peers.XXXXXX)
rm -f "$peers"  # measured by the first run, read by the second
out=$(mktemp /tmp/elm_bench_summary.XXXXXX)
trap 'rm -f "$peers" "$out"' EXIT
export "$variable=$peers"
run_start=$SECONDS
for build in build-bench build-bench-native; do
  # Google Benchmark's own lines go to standard error; the Markdown summary is what follows them
  "$build/bin/$target" 2>&1 | tee /dev/stderr | sed -n '/^### elm compiled with/,$p' >>"$out"
done
echo
echo "### $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "Printed by \`$shown\` (the runs $((SECONDS - run_start)) s, the whole command $((SECONDS - start)) s)."
sed 's/^### elm compiled with/\n#### elm compiled with/' "$out"
