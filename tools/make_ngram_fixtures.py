#!/usr/bin/env python3
"""Writes the n-gram test fixtures of tests/data/ngram/ from the KenLM reference outputs and the curriculum text.

Usage: python3 tools/make_ngram_fixtures.py /work/shared/reference/kenlm /work/shared/seed/llm-interview-bank.zh.md

Outputs (all deterministic):
  train.txt, test.txt        copies of the reference split (KJV, public domain; 1.1 MB together)
  lmplz_o3_sample.tsv        every unigram and every 100th 2-/3-gram of lmplz's order-3 ARPA, in file order
  lmplz_o5_sample.tsv        every 100th 2- to 5-gram of lmplz's order-5 ARPA
                             (columns: order, log10 p, words, log10 back-off or '-' at the highest order)
  lmplz_counts.tsv           the \\data\\ counts of both ARPA files (model order, n, number of n-grams)
  query_summary.tsv          KenLM query's summary numbers for orders 3 and 5
  query_o3_words_head.tsv    the first 3000 scored tokens of `query -v word` on test.txt (word, ngram length, log10 p)
  char_counts.json           Python collections.Counter over code-point windows (n = 1..4) of a slice of the
                             curriculum text, which begins with its example "这是一个测试文本"
Versions: Python 3.11, no third-party module. KenLM outputs: kpu/kenlm 4cb443e6 (see the reference README).
"""
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "ngram"


def arpa_entries(path):
    order = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
                continue
            if order == 0 or not line or line == "\\end\\":
                continue
            fields = line.split("\t")
            yield order, fields


def sample(path, out, keep):
    with open(out, "w", encoding="utf-8") as o:
        index = {}
        for order, fields in arpa_entries(path):
            i = index.get(order, 0)
            index[order] = i + 1
            if not keep(order, i):
                continue
            backoff = fields[2] if len(fields) > 2 else "-"
            o.write(f"{order}\t{fields[0]}\t{fields[1]}\t{backoff}\n")


def main():
    ref = Path(sys.argv[1])
    seed = Path(sys.argv[2])
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ref / "train.txt", OUT / "train.txt")
    shutil.copyfile(ref / "test.txt", OUT / "test.txt")
    sample(ref / "train.o3.arpa", OUT / "lmplz_o3_sample.tsv", lambda n, i: n == 1 or i % 100 == 0)
    sample(ref / "train.o5.arpa", OUT / "lmplz_o5_sample.tsv", lambda n, i: n > 1 and i % 100 == 0)

    with open(OUT / "lmplz_counts.tsv", "w", encoding="utf-8") as o:
        for n in (3, 5):
            with open(ref / f"train.o{n}.arpa", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("ngram "):
                        k, c = line[6:].strip().split("=")
                        o.write(f"{n}\t{k}\t{c}\n")
                    elif line.startswith("\\1-grams"):
                        break

    with open(OUT / "query_summary.tsv", "w", encoding="utf-8") as o:
        for n in (3, 5):
            values = {}
            for line in (ref / f"query.o{n}.txt").read_text(encoding="utf-8").splitlines():
                key, value = line.split(":\t")
                values[key] = value
            o.write(f"{n}\t{values['Perplexity including OOVs']}\t{values['Perplexity excluding OOVs']}\t"
                    f"{values['OOVs']}\t{values['Tokens']}\n")

    words = (ref / "query.o3.words.txt").read_text(encoding="utf-8").split("\t")
    with open(OUT / "query_o3_words_head.tsv", "w", encoding="utf-8") as o:
        kept = 0
        for item in words:
            item = item.strip()
            if not item or "=" not in item:
                continue
            word_id, length, logp = item.rsplit(" ", 2)
            word = word_id.rsplit("=", 1)[0]
            o.write(f"{word}\t{length}\t{logp}\n")
            kept += 1
            if kept == 3000:
                break

    text = seed.read_text(encoding="utf-8")
    start = text.index("这是一个测试文本")
    # The example string first, then 1500 code points of the page (Chinese, ASCII code and punctuation).
    sliced = "这是一个测试文本\n" + text[:1500]
    counts = {str(n): dict(Counter(sliced[i:i + n] for i in range(len(sliced) - n + 1))) for n in range(1, 5)}
    example = {str(n): dict(Counter("这是一个测试文本"[i:i + n] for i in range(len("这是一个测试文本") - n + 1)))
               for n in range(1, 4)}
    assert start >= 0
    with open(OUT / "char_counts.json", "w", encoding="utf-8") as o:
        json.dump({"text": sliced, "counts": counts, "example": "这是一个测试文本", "example_counts": example},
                  o, ensure_ascii=False, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
