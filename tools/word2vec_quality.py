#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Quality of elm's word2vec against gensim's, trained on the same corpus with the same settings in one run.

The corpus is the bundled Austen novels (examples/data/austen/), lower-cased, split into sentences at . ! ? ; :
and into words at anything but letters and apostrophes, written once to a temporary file that both trainers read
(one sentence per line). For each mode (skip-gram + negative sampling, CBOW + negative sampling) and each seed, gensim
(workers=1) and `elm-word2vec train --threads 1` train with size 100, window 5, negative 5, sample 1e-3, min-count 5,
5 epochs, alpha 0.025 (skip-gram) or 0.05 (CBOW), min_alpha 1e-4. Both sets of vectors are then scored by the same
code, gensim's evaluate_word_analogies (questions-words.txt, covered questions only, restrict_vocab 300000) and
evaluate_word_pairs (wordsim353.tsv, Spearman), and also by `elm-word2vec evaluate`, whose numbers must equal
gensim's evaluation of the same vectors (a check of elm's evaluator).
With --with-brown the bundled Brown corpus (tags removed, same tokenisation) is appended: 1.9 million tokens.
Usage: python3 tools/word2vec_quality.py --elm-word2vec build/bin/elm-word2vec [--seeds 3] [--corpus DIR] [--with-brown]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import gensim
import numpy as np
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.word2vec import LineSentence

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EVAL = os.path.join(ROOT, "examples", "data", "word2vec-eval")


def tokenize_austen(corpus_dir, out_path):
    text = []
    for path in sorted(glob.glob(os.path.join(corpus_dir, "*.txt"))):
        with open(path, encoding="utf-8") as f:
            text.append(f.read().lower())
    words = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for sentence in re.split(r"[.!?;:]+", "\n".join(text)):
            tokens = re.findall(r"[a-z]+(?:'[a-z]+)*", sentence)
            if tokens:
                out.write(" ".join(tokens) + "\n")
                words += len(tokens)
    return words


def tokenize_brown(corpus_dir, out_path):
    """Appends the Brown corpus (word/tag tokens, one sentence per line) with the tags removed, lower-cased and
    tokenised as tokenize_austen does; returns the number of tokens written."""
    words = 0
    with open(out_path, "a", encoding="utf-8") as out:
        for path in sorted(glob.glob(os.path.join(corpus_dir, "c[a-r][0-9][0-9]"))):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    text = " ".join(t.rsplit("/", 1)[0] for t in line.split()).lower()
                    tokens = re.findall(r"[a-z]+(?:'[a-z]+)*", text)
                    if tokens:
                        out.write(" ".join(tokens) + "\n")
                        words += len(tokens)
    return words


def evaluate(kv):
    analogy, _ = kv.evaluate_word_analogies(os.path.join(EVAL, "questions-words.txt"))
    pearson, spearman, oov = kv.evaluate_word_pairs(os.path.join(EVAL, "wordsim353.tsv"))
    return 100.0 * analogy, 100.0 * spearman.statistic if hasattr(spearman, "statistic") else 100.0 * spearman[0]


def elm_evaluate(binary, vec):
    out = subprocess.run([binary, "evaluate", "--binary", "--vectors", vec, "--analogies", os.path.join(EVAL, "questions-words.txt"),
                          "--similarity", os.path.join(EVAL, "wordsim353.tsv")], check=True, capture_output=True,
                         text=True).stdout
    acc = float(re.search(r"analogy accuracy: ([0-9.]+)%", out).group(1))
    rho = float(re.search(r"spearman (-?[0-9.]+)", out).group(1)) * 100.0
    return acc, rho


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elm-word2vec", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--corpus", default=os.path.join(ROOT, "examples", "data", "austen"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--modes", default="sg,cbow", help="comma-separated subset of sg,cbow")
    parser.add_argument("--with-brown", action="store_true",
                        help="append the bundled Brown corpus (examples/data/brown/) to Austen: a larger corpus")
    args = parser.parse_args()
    print(f"gensim {gensim.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        n = tokenize_austen(args.corpus, corpus)
        if args.with_brown:
            n += tokenize_brown(os.path.join(ROOT, "examples", "data", "brown"), corpus)
        print(f"corpus: {args.corpus}{' + Brown' if args.with_brown else ''}, {n} tokens")
        worst = 0.0
        modes = [m for m in (("skip-gram/NS", 1, 0.025, "sg"), ("CBOW/NS", 0, 0.05, "cbow"))
                 if m[3] in args.modes.split(",")]
        for mode, sg, alpha, _ in modes:
            rows = {"gensim": [], "elm": []}
            for seed in range(1, args.seeds + 1):
                t0 = time.time()
                model = Word2Vec(LineSentence(corpus), vector_size=100, window=5, negative=5, hs=0, sample=1e-3,
                                 min_count=5, epochs=args.epochs, sg=sg, alpha=alpha, min_alpha=1e-4, workers=1,
                                 seed=seed)
                tg = time.time() - t0
                rows["gensim"].append(evaluate(model.wv))
                vec = os.path.join(tmp, "elm.bin")
                t0 = time.time()
                subprocess.run([args.elm_word2vec, "train", "--text", corpus, "--output", vec, "--binary", "--size",
                                "100", "--window", "5", "--negative", "5", "--hs", "0", "--sample", "1e-3",
                                "--min-count", "5", "--iter", str(args.epochs), "--threads", "1", "--cbow",
                                str(1 - sg), "--alpha", str(alpha), "--seed", str(seed), "--quiet"], check=True)
                te = time.time() - t0
                kv = KeyedVectors.load_word2vec_format(vec, binary=True)
                rows["elm"].append(evaluate(kv))
                ours = elm_evaluate(args.elm_word2vec, vec)
                if abs(ours[0] - rows["elm"][-1][0]) > 0.01 or abs(ours[1] - rows["elm"][-1][1]) > 0.01:
                    print(f"  evaluator mismatch: elm-word2vec evaluate {ours} vs gensim {rows['elm'][-1]}")
                print(f"{mode} seed {seed}: gensim analogy {rows['gensim'][-1][0]:.2f}% spearman "
                      f"{rows['gensim'][-1][1]:.2f} ({tg:.1f} s) | elm analogy {rows['elm'][-1][0]:.2f}% spearman "
                      f"{rows['elm'][-1][1]:.2f} ({te:.1f} s)", flush=True)
            g = np.array(rows["gensim"])
            e = np.array(rows["elm"])
            print(f"{mode} mean over {args.seeds} seeds: gensim analogy {g[:, 0].mean():.2f}% (sd {g[:, 0].std():.2f}),"
                  f" spearman {g[:, 1].mean():.2f} (sd {g[:, 1].std():.2f}) | elm analogy {e[:, 0].mean():.2f}% "
                  f"(sd {e[:, 0].std():.2f}), spearman {e[:, 1].mean():.2f} (sd {e[:, 1].std():.2f}) | difference "
                  f"analogy {e[:, 0].mean() - g[:, 0].mean():+.2f}, spearman {e[:, 1].mean() - g[:, 1].mean():+.2f}")
            worst = max(worst, abs(e[:, 0].mean() - g[:, 0].mean()), abs(e[:, 1].mean() - g[:, 1].mean()))
        print(f"largest difference: {worst:.2f} points ({'within' if worst <= 2.0 else 'NOT within'} 2 points)")
        return 0 if worst <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
