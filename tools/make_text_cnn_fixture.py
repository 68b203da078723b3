#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/conv/text_cnn.json: the PyTorch reference of elm's TextCnn (Kim 2014) on a small batch.

The model is written out in PyTorch, one text at a time: nn.Embedding(V, E, padding_idx=0) (the pad vector zero,
with no gradient), the text padded with id 0 to max(its length, the widest filter), for each width k
ReLU(nn.Conv1d(E, F, k)) and the maximum over the positions, the maxima of every width concatenated, nn.Linear to
the class logits; the batch's loss is the cross-entropy summed over its texts (dropout is off: inference). The JSON
format is tools/make_attention_fixtures.py's; logits are written (B, num_labels), elm's (num_labels, B) bytes, and
parameters keep PyTorch's names and shapes: embedding.weight, convs.<i>.weight, convs.<i>.bias, fc.weight,
fc.bias, with grad.<name> the gradient of the summed loss.

Usage: python3 tools/make_text_cnn_fixture.py [--out tests/data/conv]   (pip install torch numpy)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, rand, write  # noqa: E402  (the same JSON format and draws)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "conv"))
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(19)
    V, E, F, L = 11, 4, 3, 5  # vocabulary (pad id 0 included), embedding width, maps per width, classes
    widths = [2, 3]
    sequences = [[3, 7, 1, 9, 10, 4], [5, 2], [8], [6, 6, 2, 10]]
    labels = [4, 0, 2, 1]

    embedding = torch.nn.Embedding(V, E, padding_idx=0).to(F64)
    convs = torch.nn.ModuleList(torch.nn.Conv1d(E, F, k).to(F64) for k in widths)
    fc = torch.nn.Linear(F * len(widths), L).to(F64)
    with torch.no_grad():
        embedding.weight.copy_(rand(gen, V, E))
        embedding.weight[0].zero_()
        for conv in convs:
            conv.weight.copy_(rand(gen, *conv.weight.shape, scale=0.5))
            conv.bias.copy_(rand(gen, F, scale=0.5))
        fc.weight.copy_(rand(gen, *fc.weight.shape, scale=0.5))
        fc.bias.copy_(rand(gen, L, scale=0.5))

    widest = max(widths)
    logits = []
    for ids in sequences:
        padded = ids + [0] * max(0, widest - len(ids))
        x = embedding(torch.tensor([padded])).transpose(1, 2)  # (1, E, L_b)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in convs]  # (1, F) each
        logits.append(fc(torch.cat(pooled, dim=1)))
    logits = torch.cat(logits, dim=0)  # (B, L)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), reduction="sum")
    loss.backward()

    tensors = {"logits": logits, "loss": loss.reshape(1)}
    named = [("embedding.weight", embedding.weight)]
    for i, conv in enumerate(convs):
        named += [(f"convs.{i}.weight", conv.weight), (f"convs.{i}.bias", conv.bias)]
    named += [("fc.weight", fc.weight), ("fc.bias", fc.bias)]
    for name, p in named:
        tensors[name] = p
        tensors["grad." + name] = p.grad
    meta = {"vocab_size": V, "embedding_dim": E, "filters": F, "num_labels": L, "kernel_sizes": widths,
            "pad_id": 0, "sequences": sequences, "labels": labels}
    os.makedirs(args.out, exist_ok=True)
    write(args.out, "text_cnn", meta, tensors)


if __name__ == "__main__":
    main()
