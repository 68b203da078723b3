#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that transformers loads the BERT directories elm saves and gives elm's outputs.

For each OUT_DIR/<case>/ (config.json, model.safetensors written by elm::io::save_bert_hf) with OUT_DIR/<case>.json
(the class, a padded batch and elm's outputs of the saved model: logits, or hidden and pooled for BertModel, one
list per column, i.e. per position or per sequence):
1. transformers.<class>.from_pretrained loads the directory in float32 (F16 and BF16 weights upcast exactly) with
   no missing, unexpected or mismatched tensor, and its config has every value of elm's config.json;
2. its outputs for the batch (eval mode) are within 1e-4 (absolute) of elm's.
With --elm-program PATH the directories are first written by that program (tests/programs/
bert_save_for_transformers.cpp, built as tests/elm-bert-save-for-transformers) into a temporary folder.
Prints the max abs difference of each case; exits 0 when every check passes, 1 otherwise.
Usage: python3 tools/check_bert_saved.py (--elm-program PATH | --dir OUT_DIR)
       (pip install torch transformers safetensors)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers

TOLERANCE = 1e-4  # the issue's: a model elm saves loads in transformers with outputs within 1e-4


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
    problems = []
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(kind):
            problems.append("%s: %s" % (kind, sorted(info[kind])))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--elm-program", help="the test program that writes the directories")
    group.add_argument("--dir", help="a folder the program has written")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.dir
        if args.elm_program:
            out_dir = tmp
            subprocess.run([args.elm_program, out_dir], check=True)
        cases = sorted(name[:-5] for name in os.listdir(out_dir)
                       if name.endswith(".json") and os.path.isdir(os.path.join(out_dir, name[:-5])))
        if not cases:
            print("no saved BERT directories in %s" % out_dir)
            return 1
        results = [check_case(out_dir, case) for case in cases]
    passed = sum(results)
    print("transformers %s, torch %s: %d passed, %d failed" % (
        transformers.__version__, torch.__version__, passed, len(results) - passed))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
