#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Single-thread tokenizer throughput: elm (benchmarks/bench_text.cpp) against Hugging Face `tokenizers`, one run.

Usage: python3 tools/bench_tokenizers.py [--bench build/bin/elm-bench-text] [--repeats 5] [--min-time 1]

Both sides encode the same lines (non-empty lines of Austen's Emma; 5,662 Tang poems, one per line) one
encoding per line, with the same vocabulary files; Hugging Face with encode_batch on one thread
(RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false, set before import). Times are CPU times (process time for
Python, Google Benchmark's cpu_time for elm): the machine is shared, and CPU time is less disturbed by other
load than wall time. Prints Markdown tables with MB/s, tokens/s and the ratio elm / Hugging Face: full encodings
(ids, tokens, offsets), and for GPT-2 also ids only (elm `encode` against `encode_batch_fast`).
"""
import argparse
import json
import os
import subprocess
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import BertWordPieceTokenizer, Tokenizer, models, pre_tokenizers  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "examples", "data")
CORPORA = {0: ("Austen (Emma), English", "austen/austen-emma.txt"),
           1: ("Tang poems, Chinese", "chinese-poetry/tang-poems-5662.txt")}


def lines(rel):
    with open(os.path.join(DATA, rel), encoding="utf-8") as f:
        return [l for l in f.read().split("\n") if l]


def hf_gpt2():
    t = Tokenizer(models.BPE.from_file(os.path.join(DATA, "gpt2", "vocab.json"),
                                       os.path.join(DATA, "gpt2", "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.add_special_tokens(["<|endoftext|>"])
    return t


def hf_bert():
    return BertWordPieceTokenizer(os.path.join(DATA, "bert-base-uncased", "vocab.txt"), lowercase=True)


def time_hf(tok, batch, repeats, fast=False):
    best = float("inf")
    tokens = 0
    encode = tok.encode_batch_fast if fast else tok.encode_batch  # fast: no offsets
    encode(batch)  # warm the BPE cache, as elm's first benchmark iterations do
    for _ in range(repeats):
        t0 = time.process_time()
        out = encode(batch)
        best = min(best, time.process_time() - t0)
        tokens = sum(len(e.ids) for e in out)
    return best, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "elm-bench-text"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", default="1")
    args = ap.parse_args()

    env = dict(os.environ, ELM_SOURCE_DIR=ROOT)
    run = subprocess.run([args.bench, "--benchmark_format=json", f"--benchmark_min_time={args.min_time}"],
                         check=True, capture_output=True, text=True, env=env)
    elm = {b["name"]: b for b in json.loads(run.stdout)["benchmarks"]}

    hf = {"gpt2": hf_gpt2(), "bert": hf_bert()}
    rows = []
    for arg, (label, rel) in CORPORA.items():
        batch = lines(rel)
        nbytes = sum(len(l.encode("utf-8")) for l in batch)
        for name, bench, hf_name in [("GPT-2 BPE", "BM_Gpt2Full", "gpt2"), ("BERT WordPiece", "BM_BertFull", "bert")]:
            seconds, hf_tokens = time_hf(hf[hf_name], batch, args.repeats)
            b = elm[f"{bench}/{arg}"]
            elm_seconds = b["cpu_time"] / 1e3  # milliseconds per iteration
            elm_tokens = int(b["tokens"])
            if elm_tokens != hf_tokens:
                print(f"warning: {name} on {label}: {elm_tokens} tokens here, {hf_tokens} in Hugging Face",
                      file=sys.stderr)
            ids_only = None
            if hf_name == "gpt2":
                fast_seconds, _ = time_hf(hf[hf_name], batch, args.repeats, fast=True)
                ids_only = (elm[f"BM_Gpt2Ids/{arg}"]["cpu_time"] / 1e3, fast_seconds)
            rows.append((name, label, nbytes, hf_tokens, elm_seconds, seconds, ids_only))

    print(f"tokenizers {tokenizers.__version__}, one thread; CPU seconds per pass, best of {args.repeats} (HF) / "
          f"Google Benchmark mean (elm)\n")
    print("| tokenizer | corpus | MB | tokens | elm MB/s | elm tokens/s | HF MB/s | HF tokens/s | elm / HF |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, label, nbytes, ntok, es, hs, ids_only in rows:
        mb = nbytes / 1e6
        print(f"| {name} | {label} | {mb:.2f} | {ntok:,} | {mb / es:.1f} | {ntok / es / 1e6:.2f}M | {mb / hs:.1f} | "
              f"{ntok / hs / 1e6:.2f}M | {hs / es:.2f}x |")
    print("\nIds without offsets (elm `encode`, Hugging Face `encode_batch_fast`):\n")
    print("| tokenizer | corpus | elm MB/s | HF MB/s | elm / HF |")
    print("|---|---|---:|---:|---:|")
    for name, label, nbytes, ntok, es, hs, ids_only in rows:
        if ids_only:
            e, h = ids_only
            print(f"| {name} | {label} | {nbytes / 1e6 / e:.1f} | {nbytes / 1e6 / h:.1f} | {h / e:.2f}x |")


if __name__ == "__main__":
    main()
