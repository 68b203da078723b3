#!/usr/bin/env bash
# GPT-2 small against transformers, CTranslate2 and llama.cpp (docs/benchmarks.md, "GPT-2 small"), in one run:
# makes the random checkpoint and the peers' conversions if missing (tools/make_gpt2_bench_model.py; nothing is
# downloaded but llama-cpp-python's source archive, for its converter), builds elm-bench-gpt2 twice (Release
# without -march, what users get; Release with -march=native), measures the peers once at 1 and 2 threads, then
# each build against those same peer numbers, and prints both builds' tables in Markdown.
# Needs: pip install torch transformers safetensors ctranslate2 llama-cpp-python gguf.
# Environment: ELM_BENCH_GPT2_THREADS (default 1,2), ELM_BENCH_GPT2_REPEATS (default 3), ELM_BENCH_GPT2_PEERS.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
start=$SECONDS
python3 tools/make_gpt2_bench_model.py
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DELM_OPENMP=ON -DELM_BUILD_BENCHMARKS=ON -DELM_BUILD_TESTS=OFF
        -DELM_BUILD_EXAMPLES=OFF -DELM_DOC_SNIPPETS=OFF -DELM_HEADER_HYGIENE=OFF -DELM_WERROR=OFF
        -DELM_BENCHMARKS_COMPILE_CHECK=OFF)
cmake -S . -B build-bench "${common[@]}" -DELM_NATIVE=OFF >/dev/null
cmake -S . -B build-bench-native "${common[@]}" -DELM_NATIVE=ON >/dev/null
cmake --build build-bench --target elm-bench-gpt2
cmake --build build-bench-native --target elm-bench-gpt2
echo "built in $((SECONDS - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
peers=$(mktemp /tmp/elm_bench_gpt2_peers.XXXXXX)
rm -f "$peers"  # measured by the first run, read by the second
trap 'rm -f "$peers"' EXIT
export ELM_BENCH_GPT2_PEER_RESULTS="$peers"
out=$(mktemp /tmp/elm_bench_gpt2_summary.XXXXXX)
for build in build-bench build-bench-native; do
  # Google Benchmark's own lines go to standard error; the Markdown summary is what follows them
  "$build/bin/elm-bench-gpt2" 2>&1 | tee /dev/stderr | sed -n '/^### elm compiled with/,$p' >>"$out"
done
echo
echo "## Summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; whole run $((SECONDS - start)) s)"
cat "$out"
rm -f "$out"
