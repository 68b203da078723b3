# SPDX-License-Identifier: MIT
"""What the transformers round-trip checks of elm's saved model directories share (tools/check_gpt2_saved.py,
tools/check_bert_saved.py): the command line, running elm's test case that saves the models into a temporary folder,
finding the cases (OUT_DIR/<case>/ beside OUT_DIR/<case>.json), the loading report and the closing line.
"""
import argparse
import os
import subprocess
import tempfile

import torch
import transformers

TOLERANCE = 1e-4  # the issue's: a model elm saves loads in transformers with outputs within 1e-4


def loading_problems(info):
    """The missing, unexpected and mismatched tensors and errors of from_pretrained(output_loading_info=True)."""
    return ["%s: %s" % (kind, sorted(info[kind]))
            for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs") if info.get(kind)]


def main(doc, what, check_case, test_tag):
    """Parses --elm-tests PATH | --dir OUT_DIR, runs check_case(out_dir, case) -> bool on every case, prints
    'transformers X, torch Y: N passed, M failed' and returns the exit code (0 when every case passed)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--elm-tests", help="elm's models test executable (tests/elm-tests-models), whose hidden test "
                       "case %s writes the directories" % test_tag)
    group.add_argument("--dir", help="a folder the program has written")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.dir
        if args.elm_tests:
            out_dir = tmp
            subprocess.run([args.elm_tests, test_tag], check=True, env=dict(os.environ, ELM_SAVED_MODELS_DIR=out_dir))
        cases = sorted(name[:-5] for name in os.listdir(out_dir)
                       if name.endswith(".json") and os.path.isdir(os.path.join(out_dir, name[:-5])))
        if not cases:
            print("no saved %s directories in %s" % (what, out_dir))
            return 1
        results = [check_case(out_dir, case) for case in cases]
    passed = sum(results)
    print("transformers %s, torch %s: %d passed, %d failed" % (
        transformers.__version__, torch.__version__, passed, len(results) - passed))
    return 0 if all(results) else 1
