#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that gensim and elm exchange word2vec files with identical vectors, in both formats.

1. gensim loads tests/data/word2vec/elm.txt and elm.bin (written by elm's writer, pinned byte for byte by
   tests/word2vec/test_word_vectors.cpp) and gets exactly the words and float32 bits of gensim.bin.
2. With --elm-word2vec PATH (build/bin/elm-word2vec): gensim trains a small model on the bundled Austen corpus and
   saves it in both formats; elm-word2vec convert reads each and writes it back in both formats; gensim loads the
   four results and they must equal gensim's vectors bit for bit.
Exits 0 when every check passes, 1 otherwise. Tested with gensim 4.4.0, numpy 1.26/2.x.
Usage: python3 tools/word2vec_gensim_roundtrip.py [--elm-word2vec build/bin/elm-word2vec]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "tests", "data", "word2vec")


def expected(name):
    with open(os.path.join(DATA, name + ".words"), encoding="utf-8") as f:
        words = f.read().split("\n")[:-1]
    vectors = np.fromfile(os.path.join(DATA, name + ".f32"), dtype="<f4").reshape(len(words), -1)
    return words, vectors


def same(kv, words, vectors):
    return kv.index_to_key == list(words) and np.array_equal(
        kv.vectors.astype("<f4").view(np.uint32), np.asarray(vectors, dtype="<f4").view(np.uint32))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elm-word2vec", help="path of build/bin/elm-word2vec, for the live round trip")
    args = parser.parse_args()
    failures = 0

    words, vectors = expected("gensim.bin")
    for name, binary in (("elm.txt", False), ("elm.bin", True)):
        ok = same(KeyedVectors.load_word2vec_format(os.path.join(DATA, name), binary=binary), words, vectors)
        print(f"gensim reads committed {name} exactly: {'ok' if ok else 'FAILED'}")
        failures += not ok

    if args.elm_word2vec:
        austen = os.path.join(ROOT, "examples", "data", "austen", "austen-persuasion.txt")
        with open(austen, encoding="utf-8") as f:
            sentences = [line.lower().split() for line in f if line.strip()]
        model = Word2Vec(sentences, vector_size=24, window=5, min_count=3, workers=1, epochs=1, seed=1)
        kv = model.wv
        with tempfile.TemporaryDirectory() as tmp:
            for src_binary in (False, True):
                src = os.path.join(tmp, "gensim" + (".bin" if src_binary else ".txt"))
                kv.save_word2vec_format(src, binary=src_binary)
                for dst_binary in (False, True):
                    dst = os.path.join(tmp, "elm" + (".bin" if dst_binary else ".txt"))
                    cmd = [args.elm_word2vec, "convert", "--input", src, "--output", dst]
                    if src_binary:
                        cmd.append("--input-binary")
                    if dst_binary:
                        cmd.append("--binary")
                    subprocess.run(cmd, check=True)
                    back = KeyedVectors.load_word2vec_format(dst, binary=dst_binary)
                    ok = same(back, kv.index_to_key, kv.vectors)
                    print(f"gensim {'bin' if src_binary else 'txt'} -> elm -> {'bin' if dst_binary else 'txt'} -> "
                          f"gensim, {len(kv)} words x {kv.vector_size}: {'ok' if ok else 'FAILED'}")
                    failures += not ok
    print("all checks passed" if failures == 0 else f"{failures} check(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
