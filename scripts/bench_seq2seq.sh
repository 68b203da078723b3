#!/usr/bin/env bash
# The sequence-to-sequence Transformer's training step (target tokens/s) and beam search of width 4 (sentences/s)
# against the same model in PyTorch, and beam search against transformers' MarianMTModel.generate, at 1 and 2
# threads (docs/benchmarks.md, "Sequence to sequence (Transformer)"), in one run: builds elm-bench-seq2seq twice
# (Release without -march, what users get; Release with -march=native), measures the peers once (the first run
# writes the model's weights to build/tmp/seq2seq-bench/ for them), then each build against those same peer numbers,
# and prints both builds' tables in Markdown (scripts/bench_two_builds.sh). Nothing is downloaded.
# Needs: pip install torch transformers safetensors.
# Environment: ELM_BENCH_SEQ2SEQ_THREADS (default 1,2), ELM_BENCH_SEQ2SEQ_REPEATS (default 3),
# ELM_BENCH_SEQ2SEQ_PEERS (default torch,hf).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/bench_two_builds.sh elm-bench-seq2seq ELM_BENCH_SEQ2SEQ_PEER_RESULTS scripts/bench_seq2seq.sh
