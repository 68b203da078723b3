#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Training speed of elm's word2vec against gensim's, in one run on the same corpus with the same settings.

Both train 1 epoch of skip-gram and of CBOW with negative sampling (size 100, window 5, negative 5, sample 1e-3,
min-count 5) at 1 and 2 threads on the bundled Austen novels, tokenised as tools/word2vec_quality.py does. Speed is
words per second per thread, counting every token of the file once per epoch, over the training call only (the
vocabulary is built beforehand in both). gensim trains from a Python iterable of sentences (its usual use) with
`workers` threads. elm runs build/bin/elm-bench-word2vec (Google Benchmark) on the same file.
Usage: python3 tools/word2vec_bench.py --bench build/bin/elm-bench-word2vec [--repeats 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import gensim
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from word2vec_quality import tokenize_austen  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def gensim_rate(corpus, sg, workers, repeats):
    sentences = list(LineSentence(corpus))
    words = sum(len(s) for s in sentences)
    best = 0.0
    for _ in range(repeats):
        model = Word2Vec(vector_size=100, window=5, negative=5, hs=0, sample=1e-3, min_count=5, sg=sg, workers=workers,
                         seed=1)
        model.build_vocab(sentences)
        t0 = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=1)
        best = max(best, words / (time.perf_counter() - t0) / workers)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", required=True, help="path of build/bin/elm-bench-word2vec")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"gensim {gensim.__version__}; machine: {os.cpu_count()} cores, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        n = tokenize_austen(os.path.join(ROOT, "examples", "data", "austen"), corpus)
        out = subprocess.run([args.bench, "--benchmark_format=json", f"--benchmark_repetitions={args.repeats}"],
                             env=dict(os.environ, ELM_WORD2VEC_CORPUS=corpus), check=True, capture_output=True,
                             text=True).stdout
        elm = {}
        for b in json.loads(out)["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            key = (int(b["name"].split("cbow:")[1][0]), int(b["name"].split("threads:")[1].split("/")[0]))
            elm[key] = max(elm.get(key, 0.0), b["words_per_sec_per_thread"])
        print(f"corpus: Austen, {n} tokens; 1 epoch; best of {args.repeats}")
        print("| mode | threads | elm words/s/thread | gensim words/s/thread | elm / gensim |")
        print("|---|---|---|---|---|")
        for cbow in (0, 1):
            for threads in (1, 2):
                g = gensim_rate(corpus, 1 - cbow, threads, args.repeats)
                e = elm[(cbow, threads)]
                print(f"| {'CBOW' if cbow else 'skip-gram'} | {threads} | {e / 1000:.0f}k | {g / 1000:.0f}k | "
                      f"{e / g:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
