#!/usr/bin/env python3
"""Writes tests/data/io/python_written.safetensors with Python's `safetensors` package (through PyTorch, for
BF16), plus python_written.json holding every element as the exact float64 value of what was stored.

The C++ test reads the file with elm::io::SafetensorsReader and checks every element equals the JSON value.
Versions used: safetensors 0.8.0, torch 2.15.0 (CPU), numpy 2.4.6.
Usage: python3 tools/make_safetensors_fixtures.py [OUT_DIR]   (default tests/data/io)
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import save_file

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
