#!/usr/bin/env python3
"""Full comparison of an ARPA file with lmplz's: same n-grams, every log10 p and back-off.

Usage:
  build/bin/elm-ngram estimate -o 3 --text /work/shared/reference/kenlm/train.txt --arpa /tmp/ours.o3.arpa
  python3 tools/compare_lmplz_arpa.py /tmp/ours.o3.arpa /work/shared/reference/kenlm/train.o3.arpa

Prints, per order, the entry counts of both files, n-grams present in only one of them, and the largest
absolute differences of log10 p and of log10 back-off (with the n-gram where it occurs). Exits 1 when the
n-gram sets differ or a difference exceeds --tolerance (default 1e-4, the acceptance threshold).
Python 3.11, no third-party module.
"""
import argparse
import sys


def read_arpa(path):
    orders = {}
    order = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
                orders[order] = {}
                continue
            if order == 0 or not line.strip() or line == "\\end\\":
                continue
            fields = line.split()
            n = order
            prob = float(fields[0])
            words = " ".join(fields[1:1 + n])
            backoff = float(fields[1 + n]) if len(fields) > 1 + n else 0.0
            orders[order][words] = (prob, backoff)
    return orders


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    ours, ref = read_arpa(args.ours), read_arpa(args.reference)
    ok = sorted(ours) == sorted(ref)
    total = 0
    worst = 0.0
    for n in sorted(ref):
        a, b = ours.get(n, {}), ref[n]
        only_ours = len(a.keys() - b.keys())
        only_ref = len(b.keys() - a.keys())
        dp = max(((abs(a[k][0] - b[k][0]), k) for k in b.keys() & a.keys()), default=(0.0, ""))
        db = max(((abs(a[k][1] - b[k][1]), k) for k in b.keys() & a.keys()), default=(0.0, ""))
        total += len(b)
        worst = max(worst, dp[0], db[0])
        print(f"order {n}: ours {len(a)} lmplz {len(b)} only-ours {only_ours} only-lmplz {only_ref} "
              f"max|dlog10p| {dp[0]:.3g} ('{dp[1]}') max|dlog10b| {db[0]:.3g} ('{db[1]}')")
        ok = ok and only_ours == 0 and only_ref == 0 and dp[0] <= args.tolerance and db[0] <= args.tolerance
    print(f"{'PASS' if ok else 'FAIL'}: {total} entries, largest difference {worst:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
