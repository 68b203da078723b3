#!/usr/bin/env python3
"""Writes the pruned-estimate fixtures of tests/data/ngram/ with KenLM's lmplz.

Usage: python3 tools/make_lmplz_prune_fixtures.py --lmplz /path/to/lmplz

For each case below, runs `lmplz -o N --prune T1 .. TN` on the first SENTENCES lines of
tests/data/ngram/train.txt and writes the ARPA file to tests/data/ngram/lmplz_prune_oN.arpa; the test
(tests/ngram/test_lmplz_prune.cpp) estimates the same slice with the same thresholds and requires the same
n-grams, and every log10 probability and back-off within 1e-4. The slices keep the fixtures small (600 KB in all).
The cases cover singleton pruning (threshold 1, where lmplz's raw counts and the adjusted counts agree on what
goes) and thresholds 2 and 3 (where they do not: lmplz prunes on raw counts).

lmplz: KenLM from the PyPI sdist kenlm 0.3.0 (`pip download kenlm --no-binary :all: --no-deps`, which holds
lm/builder/), built with cmake (`cmake --build build --target lmplz`; Debian packages libboost-program-options-dev
libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev). That build reproduces the reference ARPA
files of /work/shared/reference/kenlm byte for byte. Python 3.11, no third-party module.
"""
import argparse
import subprocess
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "ngram"

# (order, prune thresholds, sentences of train.txt)
CASES = [
    (3, [0, 1, 1], 1000),
    (4, [0, 1, 2, 3], 1000),
    (5, [0, 0, 1, 1, 1], 500),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmplz", required=True, help="path to KenLM's lmplz")
    args = ap.parse_args()
    lines = (DATA / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        for order, prune, sentences in CASES:
            text = Path(tmp) / f"train.head{sentences}.txt"
            text.write_text("".join(lines[:sentences]), encoding="utf-8")
            out = DATA / f"lmplz_prune_o{order}.arpa"
            cmd = [args.lmplz, "-o", str(order), "-S", "100M", "-T", tmp, "--prune", *map(str, prune),
                   "--text", str(text), "--arpa", str(out)]
            subprocess.run(cmd, check=True, capture_output=True)
            print(f"{out.name}: order {order}, prune {' '.join(map(str, prune))}, first {sentences} sentences, "
                  f"{out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
