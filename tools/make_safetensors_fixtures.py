#!/usr/bin/env python3
"""Writes safetensors fixtures with Python's `safetensors` package, each with a JSON file of the exact values:

- python_written.safetensors (through PyTorch, for BF16): float tensors of every float dtype, an int64 tensor;
  python_written.json holds every float element as the exact float64 value of what was stored.
- hf_prefixed.safetensors (through NumPy): a checkpoint laid out as Hugging Face's are, a GPT-2-style block under
  "transformer." (a Conv1D weight stored (in, out), a final norm under the old names gamma/beta in F16 and F64,
  the causal-mask buffer "attn.bias" as BOOL) beside a head outside the prefix, and integer and boolean tensors
  of every integer dtype with each type's extremes; hf_prefixed.json holds dtype, shape and values (integers
  exact, booleans as true/false, floats as the exact float64 value of what was stored).

The C++ tests read the files with elm::io::SafetensorsReader and load_parameters and check every element.
Versions used: safetensors 0.8.0, torch 2.15.0 (CPU), numpy 2.4.6.
Usage: python3 tools/make_safetensors_fixtures.py [OUT_DIR]   (default tests/data/io)
       python3 tools/make_safetensors_fixtures.py --check FILE [DATA_DIR]
The second form checks a file that elm wrote back from hf_prefixed.safetensors (the io tests write
<temp>/elm-tests-io/hf_rewritten.safetensors): Python's safetensors reads every tensor with the fixture's
dtype, shape and values.
"""
import json
import pathlib
import sys

import numpy as np
import safetensors.numpy
import torch
from safetensors.torch import save_file

if len(sys.argv) > 2 and sys.argv[1] == "--check":
    data = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "tests/data/io")
    want = safetensors.numpy.load_file(str(data / "hf_prefixed.safetensors"))
    got = safetensors.numpy.load_file(sys.argv[2])
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name, a in want.items():
        b = got[name]
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b), name
    print("ok:", len(want), "tensors read back with their dtypes, shapes and values")
    sys.exit(0)

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/io")
out.mkdir(parents=True, exist_ok=True)

g = torch.Generator().manual_seed(1234)
tensors = {
    "encoder.weight": torch.randn(3, 5, generator=g, dtype=torch.float32),
    "encoder.bias": torch.randn(3, generator=g, dtype=torch.float64),
    # F16: ordinary values, a subnormal (2^-24), the largest finite half, negative zero.
    "half.values": torch.tensor([[1.0, -2.5, 0.1], [5.960464477539063e-08, 65504.0, -0.0]], dtype=torch.float16),
    "bf16.values": (torch.randn(2, 2, 2, generator=g) * 100).to(torch.bfloat16),
    "scalar": torch.tensor(3.25, dtype=torch.float32),
    "empty": torch.zeros(0, 4, dtype=torch.float32),
    "ids": torch.tensor([1, -2, 3], dtype=torch.int64),
}
save_file(tensors, str(out / "python_written.safetensors"), metadata={"format": "pt", "source": "elm fixture"})

expected = {
    name: {"shape": list(t.shape), "values": [float(v) for v in t.to(torch.float64).flatten().tolist()]}
    for name, t in tensors.items() if name != "ids"
}
(out / "python_written.json").write_text(json.dumps(expected, indent=1) + "\n")
print("wrote", out / "python_written.safetensors")

rng = np.random.default_rng(1234)
i64 = np.iinfo(np.int64)
hf = {
    # A GPT-2 block as Hugging Face stores it: Conv1D weights are (in, out); the norm's old names gamma/beta.
    "transformer.h.0.ln_1.weight": rng.standard_normal(4).astype(np.float32),
    "transformer.h.0.ln_1.bias": rng.standard_normal(4).astype(np.float32),
    "transformer.h.0.attn.c_attn.weight": rng.standard_normal((4, 6)).astype(np.float32),
    "transformer.h.0.attn.c_attn.bias": rng.standard_normal(6).astype(np.float32),
    "transformer.h.0.attn.bias": np.tril(np.ones((3, 3), dtype=bool)).reshape(1, 1, 3, 3),  # causal-mask buffer
    "transformer.ln_f.gamma": rng.standard_normal(4).astype(np.float16),
    "transformer.ln_f.beta": rng.standard_normal(4).astype(np.float64),
    "lm_head.weight": rng.standard_normal((3, 4)).astype(np.float32),  # outside the prefix
    # Integer and boolean tensors, with each dtype's extremes.
    "input_ids": np.array([[15496, 11, 995], [0, 50256, 7]], dtype=np.int64),
    "attention_mask": np.array([[True, True, False], [True, False, True]]),
    "token_type_ids": np.array([[0, 0, 1], [1, 1, 0]], dtype=np.int32),
    "position": np.array(7, dtype=np.int64),  # a scalar
    "extremes.i8": np.array([np.iinfo(np.int8).min, -1, 0, np.iinfo(np.int8).max], dtype=np.int8),
    "extremes.i16": np.array([np.iinfo(np.int16).min, -1, 0, np.iinfo(np.int16).max], dtype=np.int16),
    "extremes.i32": np.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], dtype=np.int32),
    "extremes.i64": np.array([[i64.min, -1], [0, i64.max]], dtype=np.int64),
    "extremes.u8": np.array([0, 1, 255], dtype=np.uint8),
    "extremes.u16": np.array([0, 1, 65535], dtype=np.uint16),
    "extremes.u32": np.array([0, 1, 2**32 - 1], dtype=np.uint32),
    "extremes.u64": np.array([0, 2**63 - 1, 2**64 - 1], dtype=np.uint64),  # the last does not fit an int64
}
safetensors.numpy.save_file(hf, str(out / "hf_prefixed.safetensors"), metadata={"format": "pt"})


def exact(a):
    if a.dtype == bool:
        return [bool(v) for v in a.flatten()]
    if np.issubdtype(a.dtype, np.integer):
        return [int(v) for v in a.flatten()]
    return [float(v) for v in a.astype(np.float64).flatten()]


names = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
         np.dtype(bool): "BOOL", np.dtype(np.int8): "I8", np.dtype(np.int16): "I16", np.dtype(np.int32): "I32",
         np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8", np.dtype(np.uint16): "U16",
         np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64"}
hf_expected = {name: {"dtype": names[a.dtype], "shape": list(a.shape), "values": exact(a)} for name, a in hf.items()}
(out / "hf_prefixed.json").write_text(json.dumps(hf_expected, indent=1) + "\n")
print("wrote", out / "hf_prefixed.safetensors")
