#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the word2vec format fixtures of tests/data/word2vec/ with gensim, the reference reader and writer.

For each fixture the exact expected content is written next to it, independently of any word2vec parser:
  <name>.words    one word per line (UTF-8), in file order
  <name>.f32      the vectors as raw little-endian float32, row-major (V, d)
Files:
  gensim.txt / gensim.bin   KeyedVectors.save_word2vec_format(binary=False/True), gensim's own layout
  c_style.txt              the original C tool's text layout ("%lf " per value, trailing space), written here
  c_style.bin              the C tool's binary layout (a newline after each vector), written here
  kv_austen.txt / .json    small vectors gensim trains on Persuasion, and gensim's answers to queries on them
Usage: python3 tools/make_word2vec_fixtures.py [OUT_DIR]   (default tests/data/word2vec)
Made with gensim 4.4.0 and numpy (versions printed in README written alongside).
"""
import json
import os
import re
import sys

import gensim
import numpy as np
from gensim.models import KeyedVectors, Word2Vec


def write_expected(out_dir, name, words, vectors):
    with open(os.path.join(out_dir, name + ".words"), "w", encoding="utf-8", newline="\n") as f:
        for w in words:
            f.write(w + "\n")
    vectors.astype("<f4").tofile(os.path.join(out_dir, name + ".f32"))


def make_query_fixture(out_dir):
    """kv_austen.txt: small vectors gensim trains on Persuasion; kv_austen.json: gensim's answers to queries on them
    (most_similar, 3CosAdd and 3CosMul analogies, similarity, and both evaluations on the bundled test sets)."""
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    with open(os.path.join(root, "examples", "data", "austen", "austen-persuasion.txt"), encoding="utf-8") as f:
        text = f.read().lower()
    sentences = [re.findall(r"[a-z]+(?:'[a-z]+)*", s) for s in re.split(r"[.!?;:]+", text)]
    sentences = [s for s in sentences if s]
    model = Word2Vec(sentences, vector_size=16, window=5, min_count=10, workers=1, epochs=30, seed=1)
    kv = model.wv
    kv.save_word2vec_format(os.path.join(out_dir, "kv_austen.txt"), binary=False)
    kv = KeyedVectors.load_word2vec_format(os.path.join(out_dir, "kv_austen.txt"), binary=False)
    pairs = lambda sims: [[w, float(s)] for w, s in sims]
    queries = {"most_similar": [], "analogy_add": [], "analogy_mul": [], "similarity": []}
    for w in ["anne", "captain", "she", "good", "house", "went", "sister", "father", "little", "very"]:
        queries["most_similar"].append({"positive": [w], "negative": [], "topn": 5, "restrict": 0,
                                        "result": pairs(kv.most_similar(w, topn=5))})
    queries["most_similar"].append({"positive": ["he", "her"], "negative": ["his"], "topn": 4, "restrict": 100,
                                    "result": pairs(kv.most_similar(positive=["he", "her"], negative=["his"], topn=4,
                                                                    restrict_vocab=100))})
    for a, b, c in [("he", "she", "his"), ("man", "woman", "father"), ("good", "better", "great"),
                    ("mr", "mrs", "sir"), ("go", "went", "come")]:
        queries["analogy_add"].append({"abc": [a, b, c], "result": pairs(kv.most_similar(positive=[b, c], negative=[a],
                                                                                          topn=3))})
        queries["analogy_mul"].append({"abc": [a, b, c], "result": pairs(kv.most_similar_cosmul(
            positive=[b, c], negative=[a], topn=3))})
    for a, b in [("anne", "elizabeth"), ("good", "bad"), ("house", "room"), ("she", "he")]:
        queries["similarity"].append({"a": a, "b": b, "result": float(kv.similarity(a, b))})
    evals = {}
    for restrict in (300000, 400):
        score, sections = kv.evaluate_word_analogies(os.path.join(root, "examples", "data", "word2vec-eval",
                                                                  "questions-words.txt"), restrict_vocab=restrict)
        total = sections[-1]
        evals[f"analogies_{restrict}"] = {
            "accuracy": float(score), "correct": len(total["correct"]), "incorrect": len(total["incorrect"]),
            "sections": [[s["section"], len(s["correct"]), len(s["incorrect"])] for s in sections[:-1]]}
        pearson, spearman, oov = kv.evaluate_word_pairs(os.path.join(root, "examples", "data", "word2vec-eval",
                                                                     "wordsim353.tsv"), restrict_vocab=restrict)
        evals[f"pairs_{restrict}"] = {"pearson": float(pearson[0]), "spearman": float(spearman[0]),
                                      "oov_ratio": float(oov)}
    queries["evaluations"] = evals
    with open(os.path.join(out_dir, "kv_austen.json"), "w", encoding="utf-8") as f:
        json.dump(queries, f, indent=1)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "word2vec")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20240607)
    # Words: ASCII, 2-, 3- and 4-byte UTF-8, punctuation, the C tool's sentence marker.
    words = ["</s>", "the", "king", "queen", "naïve", "café", "中文", "日本語", "😀", "don't", "x-ray", "A", "a", "1999"]
    d = 7
    vectors = rng.normal(0.0, 0.5, size=(len(words), d)).astype(np.float32)
    # Values whose decimal form is tricky: smallest subnormal, float32 max, negative zero, 1/3, tiny normal.
    vectors[1, :5] = np.array([1e-45, 3.4028235e38, -0.0, 1.0 / 3.0, 1.17549435e-38], dtype=np.float32)
    vectors[2, :3] = np.array([-3.4028235e38, 0.1, 123456789.0], dtype=np.float32)

    kv = KeyedVectors(vector_size=d)
    kv.add_vectors(words, vectors)
    kv.save_word2vec_format(os.path.join(out_dir, "gensim.txt"), binary=False)
    kv.save_word2vec_format(os.path.join(out_dir, "gensim.bin"), binary=True)
    for name in ("gensim.txt", "gensim.bin"):
        write_expected(out_dir, name, words, vectors)
        # gensim must read back what it wrote, exactly (a sanity check of the fixture itself).
        back = KeyedVectors.load_word2vec_format(os.path.join(out_dir, name), binary=name.endswith(".bin"))
        assert back.index_to_key == words
        assert np.array_equal(back.vectors.view(np.uint32), vectors.view(np.uint32)), name

    # The C tool's layouts: printf("%lf ") rounds to 6 decimals, so the expected values are those roundings.
    c_words = ["</s>", "the", "of", "and", "émile"]
    c_vectors = rng.normal(0.0, 0.3, size=(len(c_words), 5)).astype(np.float32)
    with open(os.path.join(out_dir, "c_style.txt"), "wb") as f:
        f.write(b"%d %d\n" % c_vectors.shape)
        for w, v in zip(c_words, c_vectors):
            f.write(w.encode("utf-8") + b" ")
            for x in v:
                f.write(b"%lf " % float(x))
            f.write(b"\n")
    c_text_values = np.array([[np.float32("%lf" % float(x)) for x in v] for v in c_vectors], dtype=np.float32)
    write_expected(out_dir, "c_style.txt", c_words, c_text_values)
    with open(os.path.join(out_dir, "c_style.bin"), "wb") as f:
        f.write(b"%d %d\n" % c_vectors.shape)
        for w, v in zip(c_words, c_vectors):
            f.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")
    write_expected(out_dir, "c_style.bin", c_words, c_vectors)
    for name, values in (("c_style.txt", c_text_values), ("c_style.bin", c_vectors)):
        back = KeyedVectors.load_word2vec_format(os.path.join(out_dir, name), binary=name.endswith(".bin"))
        assert back.index_to_key == c_words
        assert np.array_equal(back.vectors, values), name

    make_query_fixture(out_dir)

    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write("# word2vec fixtures\n\n")
        f.write("Written by `tools/make_word2vec_fixtures.py` with gensim %s and numpy %s (Python %s).\n"
                % (gensim.__version__, np.__version__, sys.version.split()[0]))
        f.write("`<file>.words` and `<file>.f32` hold each file's expected words and float32 vectors (row-major, "
                "little-endian).\n`elm.txt` and `elm.bin` are written by `elm-word2vec convert` from `gensim.bin`; "
                "`tools/word2vec_gensim_roundtrip.py` checks that gensim reads them exactly.\n")


if __name__ == "__main__":
    main()
