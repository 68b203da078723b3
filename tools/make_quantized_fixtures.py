#!/usr/bin/env python3
"""Writes tests/data/nn/quantized_weights.txt: a small float32 weight matrix and what llama.cpp's Q8_0 and
PyTorch's bfloat16 make of it, for the tests of elm::nn::QuantizedWeights (tests/nn/test_quantized_weights.cpp).

- Q8_0 through the gguf package's gguf.quants.quantize (bit-exact with ggml's quantize_row_q8_0_ref): per block of
  32 weights along a row, the scale d (stored by ggml in float16; written here as that float16's value) and the 32
  int8 values. Rows of 70 weights are padded with zeros to 96 (3 blocks), as elm pads them.
- bf16 through torch's float32 -> bfloat16 conversion (round to nearest, ties to even): each weight's 16 bits.

The rows: one whose scale is exactly 1 (max |w| = 127) with halves that tie (q rounds them away from zero, as C's
roundf), one with a block of zeros (scale 0), bf16 ties (1 + 2^-8 and 1 + 3 2^-8), and random normal rows.
Versions used: gguf 0.19.0, torch 2.15.0 (CPU), numpy 2.4.6.
Usage: python3 tools/make_quantized_fixtures.py [OUT_DIR]   (default tests/data/nn)
"""
import pathlib
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType
from gguf.quants import quantize

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/nn")
rows, cols, padded = 6, 70, 96
rng = np.random.default_rng(22)
w = np.zeros((rows, cols), dtype=np.float32)
w[0, :8] = [127.0, 2.5, -2.5, 0.5, -0.5, 1.5, -126.5, 63.5]
w[0, 8:] = rng.integers(-127, 128, cols - 8).astype(np.float32) / 2
w[1, :32] = 0.0  # a block of zeros: scale 0
w[1, 32:] = rng.normal(0.0, 0.02, cols - 32)
w[2, :4] = [1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, -(1.0 + 2.0**-8), 3.0e4]
w[2, 4:] = rng.normal(0.0, 1.0, cols - 4)
for r in range(3, rows):
    w[r] = rng.normal(0.0, 0.1 * r, cols)
w = w.astype(np.float32)

blocks = quantize(np.pad(w, ((0, 0), (0, padded - cols))), GGMLQuantizationType.Q8_0)  # (rows, 3 * 34) bytes
blocks = blocks.reshape(rows, padded // 32, 34)
d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32).reshape(rows, -1)
qs = blocks[:, :, 2:].copy().view(np.int8).reshape(rows, padded)
bf16 = torch.from_numpy(w).to(torch.bfloat16).view(torch.int16).numpy().astype(np.int32) & 0xFFFF

# tests/nn/fixtures.hpp's format: "name ndim dims..." then the row-major values on one line (floats to 9 digits:
# exact for float32)
def tensor(name, a, fmt):
    return f"{name} {a.ndim} {' '.join(str(n) for n in a.shape)}\n{' '.join(fmt(v) for v in a.reshape(-1))}\n"


text = f"# gguf 0.19.0 torch {torch.__version__} numpy {np.__version__}\n"
text += tensor("weights", w, lambda v: f"{float(v):.9g}")
text += tensor("q8_0_scales_f16", d, lambda v: f"{float(v):.9g}")
text += tensor("q8_0_values", qs, lambda v: str(int(v)))
text += tensor("bf16_bits", bf16, lambda v: str(int(v)))
out.mkdir(parents=True, exist_ok=True)
(out / "quantized_weights.txt").write_text(text)
print("wrote", out / "quantized_weights.txt")
