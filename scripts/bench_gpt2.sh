#!/usr/bin/env bash
# GPT-2 small against transformers, CTranslate2 and llama.cpp (docs/benchmarks.md, "GPT-2 small"), in one run:
# makes the random checkpoint and the peers' conversions if missing (tools/make_gpt2_bench_model.py; nothing is
# downloaded but llama-cpp-python's source archive, for its converter), builds elm-bench-gpt2 twice (Release
# without -march, what users get; Release with -march=native), measures the peers once at 1 and 2 threads, then
# each build against those same peer numbers, and prints both builds' tables in Markdown
# (scripts/bench_two_builds.sh).
# Needs: pip install torch transformers safetensors ctranslate2 llama-cpp-python gguf.
# Environment: ELM_BENCH_GPT2_THREADS (default 1,2), ELM_BENCH_GPT2_REPEATS (default 3), ELM_BENCH_GPT2_PEERS.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tools/make_gpt2_bench_model.py
exec scripts/bench_two_builds.sh elm-bench-gpt2 ELM_BENCH_GPT2_PEER_RESULTS scripts/bench_gpt2.sh
