#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Full-corpus parity: elm-tokenize against Hugging Face `tokenizers` on every line of the bundled and shared corpora.

Usage: python3 tools/compare_tokenizers_full.py [--bin build/bin/elm-tokenize] [--shared /work/shared]

Texts: every non-empty line of the six Austen novels (examples/data/austen), of the 20,000 Tang poems and the
Chinese curriculum (read from --shared), whole Austen paragraphs, and --random strings drawn over every code point
assigned in Python's unicodedata. GPT-2: BPE on vocab.json/merges.txt with
the ByteLevel pre-tokenizer and `<|endoftext|>`; BERT: BertWordPieceTokenizer(vocab.txt, lowercase=True) with
[CLS]/[SEP], and the same with lowercase=False (no lower-casing, no accent stripping). Prints the number of texts and of mismatching ones per tokenizer; exits 1 on any mismatch.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import unicodedata

os.environ["TOKENIZERS_PARALLELISM"] = "true"

from tokenizers import BertWordPieceTokenizer, Tokenizer, models, pre_tokenizers  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "examples", "data")


def texts(shared):
    out = []
    for path in sorted(glob.glob(os.path.join(DATA, "austen", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        out += [l for l in text.split("\n") if l]
        out += [p for p in text.split("\n\n") if p.strip()]
    for rel in ["data/corpora/chinese-poetry/tang-poems-20000.txt", "seed/llm-interview-bank.zh.md"]:
        with open(os.path.join(shared, rel), encoding="utf-8") as f:
            out += [l for l in f.read().split("\n") if l]
    return out


def random_texts(count, seed=8):
    # Code points assigned in Python's unicodedata (14.0, so also in the library's 15.0), mixed with ASCII words
    # and white space, so that every category meets the pre-tokenizers and normalisers.
    assigned = [cp for cp in range(0x80, 0x110000)
                if unicodedata.category(chr(cp)) not in ("Cn", "Cs") and not 0xF0000 <= cp]
    rng = random.Random(seed)
    pieces = [" ", "  ", "\n", "\t", "word", "'s", "Ab", "12", ".", ","]
    out = []
    for _ in range(count):
        k = rng.randint(1, 12)
        out.append("".join(chr(rng.choice(assigned)) if rng.random() < 0.6 else rng.choice(pieces)
                           for _ in range(k)))
    return out


def elm_ids(binary, args, batch):
    payload = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in batch)
    run = subprocess.run([binary] + args + ["--jsonl"], input=payload.encode("utf-8"), capture_output=True,
                         check=True)
    return [json.loads(l) for l in run.stdout.decode("utf-8").split("\n") if l]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "elm-tokenize"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--random", type=int, default=50000, help="random strings over all assigned code points")
    args = ap.parse_args()
    batch = texts(args.shared) + random_texts(args.random)

    gpt2 = Tokenizer(models.BPE.from_file(os.path.join(DATA, "gpt2", "vocab.json"),
                                          os.path.join(DATA, "gpt2", "merges.txt")))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.add_special_tokens(["<|endoftext|>"])
    bert = BertWordPieceTokenizer(os.path.join(DATA, "bert-base-uncased", "vocab.txt"), lowercase=True)
    cased = BertWordPieceTokenizer(os.path.join(DATA, "bert-base-uncased", "vocab.txt"), lowercase=False)

    failed = False
    for name, hf, cli in [
        ("GPT-2 BPE", gpt2, ["bpe", "--vocab", os.path.join(DATA, "gpt2", "vocab.json"), "--merges",
                             os.path.join(DATA, "gpt2", "merges.txt")]),
        ("BERT WordPiece", bert, ["wordpiece", "--vocab", os.path.join(DATA, "bert-base-uncased", "vocab.txt"),
                                  "--uncased", "--special"]),
        ("BERT WordPiece, cased normaliser", cased,
         ["wordpiece", "--vocab", os.path.join(DATA, "bert-base-uncased", "vocab.txt"), "--special"])]:
        ours = elm_ids(args.bin, cli, batch)
        theirs = [e.ids for e in hf.encode_batch(batch)]
        bad = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        tokens = sum(len(x) for x in theirs)
        print(f"{name}: {len(batch)} texts, {tokens} tokens, {len(bad)} mismatching texts"
              + ("" if len(ours) == len(theirs) else f" (count differs: {len(ours)} vs {len(theirs)})"))
        for i in bad[:5]:
            print("  ", json.dumps(batch[i], ensure_ascii=False)[:200])
        failed = failed or bool(bad) or len(ours) != len(theirs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
