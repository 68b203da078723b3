#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the reference fixture of elm's logits processors (include/elm/models/generation.hpp) into
tests/data/generation/processors.json.

For each case, random float32 scores (B, V) and past token ids (B, L) go through Hugging Face transformers' own
classes, in the order generate applies them (RepetitionPenaltyLogitsProcessor, then when sampling
TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper with min_tokens_to_keep = 1), and the processed
float32 scores are stored (-inf where a token was removed). The JSON format is tools/make_attention_fixtures.py's;
meta["cases"] lists each case's name and options, its tensors are <name>.scores, <name>.past_ids, <name>.out.

Usage: python3 tools/make_generation_fixtures.py [--out tests/data/generation]   (pip install torch transformers)
"""
import argparse
import os
import sys

import torch
import transformers
from transformers.generation.logits_process import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import write  # noqa: E402

# name, do_sample, repetition_penalty, temperature, top_k, top_p
CASES = [
    ("penalty", False, 1.3, 1.0, 0, 1.0),          # greedy decoding applies the repetition penalty only
    ("penalty_below_one", False, 0.7, 1.0, 0, 1.0),
    ("temperature", True, 1.0, 0.7, 0, 1.0),
    ("top_k", True, 1.0, 1.0, 5, 1.0),
    ("top_k_ties", True, 1.0, 1.0, 4, 1.0),         # scores rounded to one decimal: ties at the k-th score stay
    ("top_p", True, 1.0, 1.0, 0, 0.8),
    ("top_p_small", True, 1.0, 1.0, 0, 0.05),       # only the most likely token
    ("top_p_wide", True, 1.0, 1.0, 0, 0.999),       # a nucleus past the first chunks of 64 and 256
    ("chain", True, 1.2, 0.8, 10, 0.9),
    ("chain_no_top_k", True, 0.8, 1.5, 0, 0.5),
    ("sampling_defaults", True, 1.0, 1.0, 0, 1.0),  # nothing changes
]


def hf_processors(do_sample, penalty, temperature, top_k, top_p):
    """The processors generate builds for these options (GenerationMixin._get_logits_processor), in its order."""
    procs = LogitsProcessorList()
    if penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty=penalty))
    if do_sample:
        if temperature != 1.0:
            procs.append(TemperatureLogitsWarper(temperature))
        if top_k != 0:
            procs.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
        if top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    return procs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "generation"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(16)
    B, L = 3, 8
    tensors, cases = {}, []
    for name, do_sample, penalty, temperature, top_k, top_p in CASES:
        V = 700 if name == "top_p_wide" else 50
        scores = torch.randn(B, V, generator=gen, dtype=torch.float32) * 2.0
        if name == "top_k_ties":
            scores = torch.round(scores * 10) / 10
        past = torch.randint(0, V, (B, L), generator=gen)
        past[:, -1] = past[:, 0]  # a repeated id is penalised once
        out = hf_processors(do_sample, penalty, temperature, top_k, top_p)(past, scores.clone())
        tensors[name + ".scores"] = scores
        tensors[name + ".past_ids"] = past
        tensors[name + ".out"] = out
        cases.append({"name": name, "do_sample": do_sample, "repetition_penalty": penalty,
                      "temperature": temperature, "top_k": top_k, "top_p": top_p, "B": B, "V": V})
    meta = {"cases": cases, "reference": "transformers.generation.logits_process, float32",
            "transformers": transformers.__version__}
    write(args.out, "processors", meta, tensors)


if __name__ == "__main__":
    main()
