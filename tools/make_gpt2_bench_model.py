#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Makes the randomly initialised GPT-2 small checkpoint of benchmarks/bench_gpt2.cpp and its peers' conversions.

Into OUT (default build/tmp/gpt2-small; never committed, some 1.5 GB in all):
- OUT/hf: transformers' GPT2LMHeadModel(GPT2Config()) (GPT-2 small's shapes: 12 layers, C = 768, 12 heads,
  V = 50257, 1024 positions; 124M parameters) initialised with torch.manual_seed(SEED), written by
  save_pretrained (config.json, model.safetensors, float32), with GPT-2's vocab.json and merges.txt copied from
  examples/data/gpt2/ (the converters want a tokenizer) and n_ctx = n_positions in config.json (llama.cpp's
  converter reads it). elm loads this directory with elm::io::load_gpt2_hf, transformers with from_pretrained.
- OUT/ct2: CTranslate2's conversion (ct2-transformers-converter --quantization float32), when ctranslate2 is
  installed.
- OUT/model-f32.gguf: llama.cpp's conversion (convert_hf_to_gguf.py --outtype f32), when the gguf package is
  installed. The converter is not installed by llama-cpp-python: it is taken from that package's source
  archive (pip download llama-cpp-python --no-deps --no-binary :all:, unpacked into OUT/llama-cpp-python-src),
  or from --converter.
A peer whose package is missing is skipped here with a message; the benchmark reports it as absent.

Usage: python3 tools/make_gpt2_bench_model.py [--out build/tmp/gpt2-small] [--seed 0] [--converter PATH]
       (pip install torch transformers safetensors; for the peers: pip install ctranslate2 llama-cpp-python gguf)
"""
import argparse
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def make_hf(out, seed):
    import torch
    import transformers
    hf = os.path.join(out, "hf")
    if os.path.exists(os.path.join(hf, "model.safetensors")):
        print("kept", hf)
        return hf
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    model.save_pretrained(hf, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(ROOT, "examples", "data", "gpt2", name), hf)
    path = os.path.join(hf, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["n_ctx"] = config["n_positions"]
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print("wrote", hf, "(%d parameters)" % sum(p.numel() for p in model.parameters()))
    return hf


def make_ct2(out, hf):
    if importlib.util.find_spec("ctranslate2") is None:
        print("ctranslate2 is not installed: no CTranslate2 model (pip install ctranslate2)")
        return
    ct2 = os.path.join(out, "ct2")
    if os.path.exists(os.path.join(ct2, "model.bin")):
        print("kept", ct2)
        return
    converter = shutil.which("ct2-transformers-converter")
    command = [converter] if converter else [sys.executable, "-m", "ctranslate2.converters.transformers"]
    subprocess.run(command + ["--model", hf, "--output_dir", ct2, "--quantization", "float32", "--force"],
                   check=True)
    print("wrote", ct2)


def find_converter(out, given):
    if given:
        return given
    pattern = os.path.join(out, "llama-cpp-python-src", "*", "vendor", "llama.cpp", "convert_hf_to_gguf.py")
    found = glob.glob(pattern)
    if found:
        return found[0]
    src = os.path.join(out, "llama-cpp-python-src")
    os.makedirs(src, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "llama-cpp-python", "--no-deps", "--no-binary", ":all:",
                    "-d", src], check=True)
    for archive in glob.glob(os.path.join(src, "*.tar.gz")):
        with tarfile.open(archive) as t:
            t.extractall(src)
    found = glob.glob(pattern)
    return found[0] if found else None


def make_gguf(out, hf, given_converter):
    if importlib.util.find_spec("gguf") is None:
        print("gguf is not installed: no GGUF model (pip install llama-cpp-python gguf)")
        return
    gguf_path = os.path.join(out, "model-f32.gguf")
    if os.path.exists(gguf_path):
        print("kept", gguf_path)
        return
    converter = find_converter(out, given_converter)
    if converter is None:
        print("convert_hf_to_gguf.py not found in llama-cpp-python's source archive: no GGUF model")
        return
    env = dict(os.environ)
    gguf_py = os.path.join(os.path.dirname(converter), "gguf-py")
    env["PYTHONPATH"] = gguf_py + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.run([sys.executable, converter, hf, "--outtype", "f32", "--outfile", gguf_path], check=True, env=env)
    print("wrote", gguf_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "tmp", "gpt2-small"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--converter", help="llama.cpp's convert_hf_to_gguf.py (default: from the sdist)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    hf = make_hf(args.out, args.seed)
    make_ct2(args.out, hf)
    make_gguf(args.out, hf, args.converter)


if __name__ == "__main__":
    main()
