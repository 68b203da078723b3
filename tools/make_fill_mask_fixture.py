#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the fill-mask reference of elm's masked LM into tests/data/bert/.

A small, randomly initialised transformers BertForMaskedLM (make_bert_fixtures.make_model) with a WordPiece
vocabulary of a few dozen words and continuation pieces, saved with its tokenizer by save_pretrained into
tests/data/bert/fill_tiny/ (config.json, model.safetensors, vocab.txt, tokenizer_config.json), and
tests/data/bert/fill_tiny.json: for each text (one or two [MASK]s), the tokenizer's ids and what transformers'
fill-mask pipeline answers at each [MASK] with top_k = TOP_K: the token ids and their scores (the softmax over
the vocabulary), in float32 as the pipeline computes them; and the same probabilities from the model in float64.

Usage: python3 tools/make_fill_mask_fixture.py [--out tests/data/bert]   (pip install torch transformers)
"""
import argparse
import json
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bert_fixtures import make_model  # noqa: E402

TOP_K = 5
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
         "the", "a", "cat", "dog", "sat", "on", "mat", "ran", "in", "park", "is", "was", "happy", "sad", "big",
         "small", "house", "tree", "bird", "sang", "and", "he", "she", "it", "they", ".", ",", "!", "?", "un",
         "##able", "##s", "##ed", "##ing", "##ly", "play", "jump", "walk", "elizabeth", "darcy", "emma", "letter",
         "wrote", "read", "ball", "dance", "at", "to", "of", "with", "very", "good", "day", "night", "quick"]
TEXTS = ["the cat [MASK] on the mat.",
         "[MASK] wrote a letter to darcy and [MASK] read it.",
         "Emma was very [MASK]!",
         "they walked quickly in the [MASK] park",
         "[MASK]"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bert"))
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    directory = os.path.join(args.out, "fill_tiny")
    os.makedirs(directory, exist_ok=True)
    vocab_path = os.path.join(directory, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    tokenizer = transformers.BertTokenizer(vocab_path)
    model = make_model(transformers.BertForMaskedLM, 21, vocab_size=len(VOCAB), hidden_size=16,
                       num_hidden_layers=2, num_attention_heads=2, intermediate_size=24, max_position_embeddings=20,
                       type_vocab_size=2, hidden_act="gelu", initializer_range=0.4)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    model.eval()
    fill = transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=TOP_K)
    ref = transformers.BertForMaskedLM.from_pretrained(directory, attn_implementation="eager").to(torch.float64)
    ref.eval()
    cases = []
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        answer = fill(text)
        if ids.count(tokenizer.mask_token_id) == 1:
            answer = [answer]
        with torch.no_grad():
            probs = ref(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
        masks = []
        for t, a in zip([t for t, i in enumerate(ids) if i == tokenizer.mask_token_id], answer):
            top = [r["token"] for r in a]
            masks.append({"position": t, "ids": top, "scores": [float(r["score"]) for r in a],
                          "tokens": [r["token_str"] for r in a],
                          "probabilities_f64": [float(probs[t, i]) for i in top]})
        cases.append({"text": text, "ids": ids, "masks": masks})
    meta = {"top_k": TOP_K, "vocab_size": len(VOCAB),
            "reference": "transformers.pipeline('fill-mask', top_k=%d) on the float32 checkpoint; "
                         "probabilities_f64: the softmax of BertForMaskedLM's logits in float64" % TOP_K,
            "transformers": transformers.__version__, "torch": torch.__version__}
    with open(os.path.join(args.out, "fill_tiny.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
