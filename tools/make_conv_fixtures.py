#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference fixtures of tests/cnn into tests/data/conv/.

Each fixture is a JSON file {"meta": {...}, "tensors": {name: {"shape": [...], "data": [...]}}}, the format of
tools/make_attention_fixtures.py, with activations already in elm's layout: PyTorch's (B, C, L) is written as
(B, L, C) and (B, C, H, W) as (B, H, W, C), whose row-major bytes are elm's column-major (C, B*L) and
(C, B*H*W) matrices. Parameters keep PyTorch's shapes and bytes (elm's Parameter stores them as they are).

Inputs and parameters are drawn in float32 and the reference is computed in float64 from those exact values, so
the float and double builds of elm are compared against the same numbers. Gradients are those of
loss = sum(y * g) for a fixed random g (stored as "g", in elm's layout): grad.x, grad.weight, grad.bias.

Besides, conv_bn_state_dict.safetensors is a PyTorch Conv2d + BatchNorm2d's state_dict after two training steps
(running statistics and num_batches_tracked included), written by safetensors.torch.save_file, with an input and the
model's inference output in conv_bn_state_dict.json: elm loads PyTorch's file by its names and gives that output.

Usage: python3 tools/make_conv_fixtures.py [--out tests/data/conv]   (pip install torch safetensors)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, rand, write  # noqa: E402  (the same JSON format and draws)


def channels_last(t):
    """PyTorch's (B, C, ...) as elm's bytes: (B, L, C) or (B, H, W, C); other shapes unchanged."""
    if t.dim() == 3:
        return t.permute(0, 2, 1)
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1)
    return t


def run(module, x, gen):
    """Forward, then backward of sum(y * g); returns y, g and the input gradient, all in PyTorch's layout."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    g = rand(gen, *y.shape)
    (y * g).sum().backward()
    return y, g, x.grad


def conv_fixture(out_dir, gen, name, dims, batch, cin, cout, size, kernel, stride, padding, dilation, bias):
    cls = torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d
    conv = cls(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias).to(F64)
    with torch.no_grad():
        conv.weight.copy_(rand(gen, *conv.weight.shape, scale=0.5))
        if bias:
            conv.bias.copy_(rand(gen, cout, scale=0.5))
    x = rand(gen, batch, cin, *size)
    y, g, dx = run(conv, x, gen)
    tensors = {"x": channels_last(x), "y": channels_last(y), "g": channels_last(g), "grad.x": channels_last(dx),
               "weight": conv.weight, "grad.weight": conv.weight.grad}
    if bias:
        tensors["bias"] = conv.bias
        tensors["grad.bias"] = conv.bias.grad
    as_list = lambda v: list(v) if isinstance(v, tuple) else [v]
    meta = {"reference": f"torch.nn.Conv{dims}d, float64", "batch": batch, "in_channels": cin,
            "out_channels": cout, "size": list(size), "out_size": list(y.shape[2:]), "kernel": as_list(kernel),
            "stride": as_list(stride), "padding": as_list(padding), "dilation": as_list(dilation), "bias": bias}
    write(out_dir, name, meta, tensors)


def pool_fixture(out_dir, gen, name, dims, mode, batch, channels, size, kernel, stride, padding,
                 count_include_pad=True):
    if mode == "max":
        cls = torch.nn.MaxPool1d if dims == 1 else torch.nn.MaxPool2d
        pool = cls(kernel, stride=stride, padding=padding)
    else:
        cls = torch.nn.AvgPool1d if dims == 1 else torch.nn.AvgPool2d
        pool = cls(kernel, stride=stride, padding=padding, count_include_pad=count_include_pad)
    x = rand(gen, batch, channels, *size)
    y, g, dx = run(pool, x, gen)
    as_list = lambda v: [0] * dims if v is None else (list(v) if isinstance(v, tuple) else [v] * dims)
    meta = {"reference": f"torch.nn.{cls.__name__}, float64", "mode": mode, "batch": batch, "channels": channels,
            "size": list(size), "out_size": list(y.shape[2:]), "kernel": as_list(kernel), "stride": as_list(stride),
            "padding": as_list(padding), "count_include_pad": count_include_pad}
    write(out_dir, name, meta, {"x": channels_last(x), "y": channels_last(y), "g": channels_last(g),
                                "grad.x": channels_last(dx)})


def global_pool_fixture(out_dir, gen, name, mode, batch, channels, size):
    dims = len(size)
    if mode == "max":
        pool = torch.nn.AdaptiveMaxPool1d(1) if dims == 1 else torch.nn.AdaptiveMaxPool2d(1)
    else:
        pool = torch.nn.AdaptiveAvgPool1d(1) if dims == 1 else torch.nn.AdaptiveAvgPool2d(1)
    x = rand(gen, batch, channels, *size)
    y, g, dx = run(lambda t: pool(t).flatten(1), x, gen)  # (B, C): elm's (C, B)
    meta = {"reference": f"torch.nn.{type(pool).__name__}(1) then flatten, float64", "mode": mode, "batch": batch,
            "channels": channels, "size": list(size)}
    write(out_dir, name, meta, {"x": channels_last(x), "y": y, "g": g, "grad.x": channels_last(dx)})


def flatten_fixture(out_dir, gen, name, batch, channels, size):
    x = rand(gen, batch, channels, *size)
    y, g, dx = run(torch.nn.Flatten(), x, gen)  # (B, C*S): elm's (C*S, B)
    meta = {"reference": "torch.nn.Flatten, float64", "batch": batch, "channels": channels, "size": list(size)}
    write(out_dir, name, meta, {"x": channels_last(x), "y": y, "g": g, "grad.x": channels_last(dx)})


def batch_norm_fixture(out_dir, gen, name, shape, eps, momentum, affine, steps=2):
    """`steps` training steps (forward and backward, each on a new batch), then an inference forward and backward;
    the running statistics start from random values so that the update rule shows."""
    channels = shape[1]
    cls = torch.nn.BatchNorm1d if len(shape) <= 3 else torch.nn.BatchNorm2d
    bn = cls(channels, eps=eps, momentum=momentum, affine=affine).to(F64)
    with torch.no_grad():
        if affine:
            bn.weight.copy_(1.0 + rand(gen, channels, scale=0.3))
            bn.bias.copy_(rand(gen, channels, scale=0.3))
        bn.running_mean.copy_(rand(gen, channels, scale=0.5))
        bn.running_var.copy_(0.5 + rand(gen, channels).abs())
    tensors = {"running_mean": bn.running_mean.clone(), "running_var": bn.running_var.clone()}
    if affine:
        tensors["weight"] = bn.weight.detach().clone()
        tensors["bias"] = bn.bias.detach().clone()
    bn.train()
    for step in range(steps):
        if affine:
            bn.weight.grad = None
            bn.bias.grad = None
        x = rand(gen, *shape, scale=2.0) + 0.5
        y, g, dx = run(bn, x, gen)
        p = f"train{step}."
        tensors.update({p + "x": channels_last(x), p + "y": channels_last(y), p + "g": channels_last(g),
                        p + "grad.x": channels_last(dx), p + "running_mean": bn.running_mean.clone(),
                        p + "running_var": bn.running_var.clone()})
        if affine:
            tensors[p + "grad.weight"] = bn.weight.grad.clone()
            tensors[p + "grad.bias"] = bn.bias.grad.clone()
    bn.eval()
    if affine:
        bn.weight.grad = None
        bn.bias.grad = None
    x = rand(gen, *shape, scale=2.0) + 0.5
    y, g, dx = run(bn, x, gen)
    tensors.update({"eval.x": channels_last(x), "eval.y": channels_last(y), "eval.g": channels_last(g),
                    "eval.grad.x": channels_last(dx)})
    if affine:
        tensors["eval.grad.weight"] = bn.weight.grad.clone()
        tensors["eval.grad.bias"] = bn.bias.grad.clone()
    meta = {"reference": f"torch.nn.{cls.__name__}, float64", "shape": list(shape), "channels": channels,
            "eps": eps, "momentum": momentum, "affine": affine, "steps": steps,
            "num_batches_tracked": int(bn.num_batches_tracked)}
    write(out_dir, name, meta, tensors)


def state_dict_fixture(out_dir, seed):
    from safetensors.torch import save_file
    torch.manual_seed(seed)  # PyTorch's own initialisation of the layers
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 2, 5, 5, generator=gen) * 2 + 1)
    model.eval()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "conv_bn_state_dict.safetensors"))
    x = torch.randn(2, 2, 5, 5, generator=gen).to(F64)
    with torch.no_grad():
        y = model.to(F64)(x)
    meta = {"reference": "torch.nn.Sequential(Conv2d(2, 3, 3, padding=1), BatchNorm2d(3)) in eval mode, float64 "
            "from the saved float32 state", "batch": 2, "height": 5, "width": 5,
            "num_batches_tracked": int(state["1.num_batches_tracked"])}
    write(out_dir, "conv_bn_state_dict", meta, {"x": channels_last(x), "y": channels_last(y)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "conv"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(20261204)
    # Conv1d: (name, batch, in, out, length, kernel, stride, padding, dilation, bias)
    for name, b, ci, co, n, k, s, p, d, bias in [
        ("conv1d_basic", 2, 3, 4, 7, 3, 1, 0, 1, True),
        ("conv1d_stride_padding", 3, 2, 5, 9, 4, 2, 1, 1, True),
        ("conv1d_dilation", 2, 4, 3, 11, 3, 1, 2, 2, False),
        ("conv1d_whole_sequence", 1, 1, 2, 5, 5, 3, 2, 1, True),
    ]:
        conv_fixture(args.out, gen, name, 1, b, ci, co, (n,), k, s, p, d, bias)
    # Conv2d: (name, batch, in, out, (H, W), kernel, stride, padding, dilation, bias)
    for name, b, ci, co, hw, k, s, p, d, bias in [
        ("conv2d_basic", 2, 3, 4, (5, 6), (3, 3), (1, 1), (0, 0), (1, 1), True),
        ("conv2d_stride_padding", 2, 2, 3, (7, 5), (3, 2), (2, 1), (1, 0), (1, 1), True),
        ("conv2d_dilation", 3, 2, 2, (6, 7), (2, 3), (1, 2), (2, 1), (2, 1), False),
        ("conv2d_odd", 1, 3, 5, (5, 5), (5, 5), (2, 2), (2, 2), (1, 1), True),
    ]:
        conv_fixture(args.out, gen, name, 2, b, ci, co, hw, k, s, p, d, bias)
    pool_fixture(args.out, gen, "maxpool1d_stride_padding", 1, "max", 2, 3, (9,), 3, 2, 1)
    pool_fixture(args.out, gen, "maxpool1d_default_stride", 1, "max", 3, 2, (7,), 2, None, 0)
    pool_fixture(args.out, gen, "avgpool1d_include_pad", 1, "average", 2, 3, (8,), 3, 2, 1, True)
    pool_fixture(args.out, gen, "avgpool1d_exclude_pad", 1, "average", 2, 3, (8,), 3, 2, 1, False)
    pool_fixture(args.out, gen, "maxpool2d_stride_padding", 2, "max", 2, 3, (7, 6), (3, 3), (2, 2), (1, 1))
    pool_fixture(args.out, gen, "maxpool2d_default_stride", 2, "max", 2, 2, (5, 4), 2, None, 0)
    pool_fixture(args.out, gen, "avgpool2d_include_pad", 2, "average", 2, 2, (5, 7), (3, 2), (2, 1), (1, 1), True)
    pool_fixture(args.out, gen, "avgpool2d_exclude_pad", 2, "average", 2, 2, (5, 7), (3, 2), (2, 1), (1, 1), False)
    global_pool_fixture(args.out, gen, "global_max_time", "max", 3, 4, (6,))
    global_pool_fixture(args.out, gen, "global_avg_image", "average", 2, 3, (3, 4))
    flatten_fixture(args.out, gen, "flatten_image", 2, 3, (2, 3))
    batch_norm_fixture(args.out, gen, "batchnorm1d_features", (6, 4), 1e-5, 0.1, True)
    batch_norm_fixture(args.out, gen, "batchnorm1d_sequences", (2, 3, 5), 1e-5, 0.1, True)
    batch_norm_fixture(args.out, gen, "batchnorm2d", (2, 3, 4, 5), 1e-3, 0.3, True)
    batch_norm_fixture(args.out, gen, "batchnorm2d_no_affine", (3, 2, 3, 3), 1e-5, 0.1, False)
    state_dict_fixture(args.out, 20261205)


if __name__ == "__main__":
    main()
