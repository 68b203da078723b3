#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that transformers loads the BERT directories elm saves and gives elm's outputs.

For each OUT_DIR/<case>/ (config.json, model.safetensors written by elm::io::save_bert_hf) with OUT_DIR/<case>.json
(the class, a padded batch and elm's outputs of the saved model: logits, or hidden and pooled for BertModel, one
list per column, i.e. per position or per sequence):
1. transformers.<class>.from_pretrained loads the directory in float32 (F16 and BF16 weights upcast exactly) with
   no missing, unexpected or mismatched tensor, and its config has every value of elm's config.json;
2. its outputs for the batch (eval mode) are within 1e-4 (absolute) of elm's.
With --elm-tests PATH (tests/elm-tests-models) the directories are first written by its hidden test case
[bert_save_for_transformers] (tests/models/test_save_for_transformers.cpp) into a temporary folder.
Prints the max abs difference of each case; exits 0 when every check passes, 1 otherwise.
Usage: python3 tools/check_bert_saved.py (--elm-tests PATH | --dir OUT_DIR)
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
    cls = getattr(transformers, expected["class"])
    model, info = cls.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager",
                                      output_loading_info=True)
    model.eval()
    problems = loading_problems(info)
    for key, value in config.items():
        if key in ("dtype", "architectures"):
            continue  # dtype is the loading choice; architectures is not a field the config keeps
        have = getattr(model.config, key, None)
        if key == "id2label":
            have = {str(k): v for k, v in have.items()}
        if have != value:
            problems.append("config.%s is %r in transformers, %r in config.json" % (key, have, value))
    B = expected["B"]
    batch = {k: torch.tensor(expected[k], dtype=torch.long).view(B, -1)
             for k in ("input_ids", "token_type_ids", "attention_mask")}
    with torch.no_grad():
        out = model(**batch)
    if expected["class"] == "BertModel":
        pairs = [("hidden", out.last_hidden_state), ("pooled", out.pooler_output)]
    else:
        pairs = [("logits", out.logits)]
    diff, scale = 0.0, 0.0
    for name, theirs in pairs:
        ours = torch.tensor(expected[name], dtype=torch.float64)
        theirs = theirs.double().reshape(ours.shape)
        diff = max(diff, (theirs - ours).abs().max().item())
        scale = max(scale, ours.abs().max().item())
    if not diff <= TOLERANCE:
        problems.append("max abs difference %.3g > %g" % (diff, TOLERANCE))
    print("%-24s %-30s %s: max abs difference %.3g (max |output| %.3g)%s" % (
        case, expected["class"], config.get("dtype"), diff, scale, "" if not problems else " FAILED"))
    for p in problems:
        print("    " + p)
    return not problems


if __name__ == "__main__":
    sys.exit(saved_model_check.main(__doc__, "BERT", check_case, "[bert_save_for_transformers]"))
