#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that transformers loads the GPT-2 directories elm saves and gives elm's logits.

For each OUT_DIR/<case>/ (config.json, model.safetensors written by elm::io::save_gpt2_hf) with OUT_DIR/<case>.json
(the token ids and elm's logits of the saved model, shape (B, T, V)):
1. transformers.GPT2LMHeadModel.from_pretrained loads the directory in float32 (F16 and BF16 weights upcast
   exactly) with no missing, unexpected or mismatched tensor, and its config has every value of elm's
   config.json;
2. its logits for the ids are within 1e-4 (absolute) of elm's.
With --elm-tests PATH (tests/elm-tests-models) the directories are first written by its hidden test case
[gpt2_save_for_transformers] (tests/models/test_save_for_transformers.cpp) into a temporary folder.
Prints the max abs difference of each case; exits 0 when every check passes, 1 otherwise.
Usage: python3 tools/check_gpt2_saved.py (--elm-tests PATH | --dir OUT_DIR)
       (pip install torch transformers safetensors)
"""
import json
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import saved_model_check  # noqa: E402
from saved_model_check import TOLERANCE, loading_problems  # noqa: E402


def check_case(out_dir, case):
    directory = os.path.join(out_dir, case)
    with open(os.path.join(out_dir, case + ".json")) as f:
        expected = json.load(f)
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model, info = transformers.GPT2LMHeadModel.from_pretrained(
        directory, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    model.eval()
    problems = loading_problems(info)
    for key, value in config.items():
        if key in ("dtype", "architectures", "n_ctx"):
            continue  # dtype is the loading choice; architectures and n_ctx are not GPT2Config fields it keeps
        if getattr(model.config, key, None) != value:
            problems.append("config.%s is %r in transformers, %r in config.json" % (
                key, getattr(model.config, key, None), value))
    ids = torch.tensor(expected["ids"], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    ours = torch.tensor(expected["logits"], dtype=torch.float64)
    if tuple(logits.shape) != tuple(ours.shape):
        problems.append("logits shape %s, elm's %s" % (tuple(logits.shape), tuple(ours.shape)))
        diff = float("inf")
    else:
        diff = (logits.double() - ours).abs().max().item()
        if not diff <= TOLERANCE:
            problems.append("max abs logits difference %.3g > %g" % (diff, TOLERANCE))
    print("%-10s %s: max abs logits difference %.3g (max |logit| %.3g)%s" % (
        case, config.get("dtype"), diff, ours.abs().max().item(), "" if not problems else " FAILED"))
    for p in problems:
        print("    " + p)
    return not problems


if __name__ == "__main__":
    sys.exit(saved_model_check.main(__doc__, "GPT-2", check_case, "[gpt2_save_for_transformers]"))
