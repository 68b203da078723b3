#!/usr/bin/env python3
"""Scores text with the Python `kenlm` module (KenLM's C++ query code) on an ARPA file and compares with
`elm-ngram query` on the same file: every token's log10 p and n-gram length, and the perplexities.

Usage:
  build/bin/elm-ngram estimate -o 5 --text /work/shared/reference/kenlm/train.txt --arpa /tmp/ours.o5.arpa
  python3 tools/compare_kenlm_query.py build/bin/elm-ngram /tmp/ours.o5.arpa /work/shared/reference/kenlm/test.txt

Exits 1 when a token differs by more than --tolerance (default 1e-4) or the perplexities by more than 1e-4
relative. Needs `pip install kenlm` (tested with kenlm 0.3.0 on Python 3.11).
"""
import argparse
import math
import subprocess
import sys

import kenlm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elm_ngram")
    ap.add_argument("arpa")
    ap.add_argument("text")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    model = kenlm.Model(args.arpa)
    lines = open(args.text, encoding="utf-8").read().splitlines()
    ref = []
    oov = 0
    for line in lines:
        for logp, length, is_oov in model.full_scores(" ".join(line.split()), bos=True, eos=True):
            ref.append((logp, length))
            oov += int(is_oov)
    out = subprocess.run([args.elm_ngram, "query", "--arpa", args.arpa, "--text", args.text, "-v", "word"],
                         check=True, capture_output=True, text=True).stdout
    ours = []
    summary = {}
    for row in out.splitlines():
        if row.startswith("Perplexity") or row.startswith("OOVs") or row.startswith("Tokens"):
            key, value = row.split(":\t")
            summary[key] = float(value)
            continue
        body = row.split("Total:")[0]
        for item in body.split("\t"):
            if item.strip():
                _, length, logp = item.rsplit(" ", 2)
                ours.append((float(logp), int(length)))
    assert len(ours) == len(ref), (len(ours), len(ref))
    max_diff = max(abs(a[0] - b[0]) for a, b in zip(ours, ref))
    length_diff = sum(a[1] != b[1] for a, b in zip(ours, ref))
    total = sum(r[0] for r in ref)
    ppl = 10 ** (-total / len(ref))
    rel = abs(summary["Perplexity including OOVs"] - ppl) / ppl
    print(f"kenlm {kenlm.__file__}: {len(ref)} tokens, {oov} OOVs, perplexity {ppl:.10g}")
    print(f"elm-ngram: perplexity {summary['Perplexity including OOVs']:.10g}, tokens {int(summary['Tokens'])}, "
          f"OOVs {int(summary['OOVs'])}")
    print(f"max |dlog10 p| per token {max_diff:.3g}, n-gram lengths that differ {length_diff}, "
          f"relative perplexity difference {rel:.3g}")
    ok = max_diff <= args.tolerance and length_diff == 0 and rel <= 1e-4 and int(summary["OOVs"]) == oov
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
