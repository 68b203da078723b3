#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/text/unicode_cases.json: general category, NFD and lowercase of sampled code points, from
Python's unicodedata (an independent copy of the UCD, version printed in the file), for tests/text/test_unicode.cpp.

Usage: python3 tools/make_tokenizer_unicode_cases.py [--out tests/data/text/unicode_cases.json]
Code points are every 4th assigned one below U+3400 and every 97th above; all of them exist in both versions.
"""
import argparse
import json
import os
import unicodedata

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "text", "unicode_cases.json"))
    args = ap.parse_args()
    rows = []
    for cp in range(0x110000):
        if not (cp < 0x3400 and cp % 4 == 0 or cp % 97 == 0):
            continue
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat == "Cn" or cat == "Cs":
            continue
        nfd = [ord(x) for x in unicodedata.normalize("NFD", c)]
        lower = [ord(x) for x in c.lower()]
        rows.append([cp, cat, nfd, lower])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"unicodedata": unicodedata.unidata_version, "rows": rows}, f, separators=(",", ":"))
    print(f"{len(rows)} code points, unicodedata {unicodedata.unidata_version} -> {args.out}")


if __name__ == "__main__":
    main()
