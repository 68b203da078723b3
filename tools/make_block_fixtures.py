#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the Hugging Face reference fixtures of elm's Transformer blocks configured as real checkpoints have
them, into tests/data/attention/ (the JSON format of tools/make_attention_fixtures.py).

gpt2_stack: the blocks and final norm of a small random GPT2Model (transformers.GPT2Model's h.<i> and ln_f),
run on given hidden states x (B, T, C) with a causal mask; parameters under their Hugging Face names (h.0.attn.c_attn.weight, Conv1D (in, out)), the output,
and the gradients of loss = sum(y * g) for a fixed random g, in float64 from float32 draws.

bert_stack: the encoder layers of a small random BertModel (encoder.layer.<i>, post-norm, separate query, key and
value projections), with key padding, in the same way.

Usage: python3 tools/make_block_fixtures.py [--out tests/data/attention]   (pip install torch transformers)
"""
import argparse
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, grads_of, rand, write  # noqa: E402


def gpt2_stack_case(out_dir, name, seed, C=8, H=2, layers=2, B=2, T=5, positions=16):
    gen = torch.Generator().manual_seed(seed)
    config = transformers.GPT2Config(n_embd=C, n_head=H, n_layer=layers, n_positions=positions, vocab_size=11,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                     bos_token_id=None, eos_token_id=None)
    config._attn_implementation = "eager"
    model = transformers.GPT2Model(config).to(F64)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(rand(gen, *p.shape, scale=0.5))
            if n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
                p.add_(1.0)  # layer norm weights near 1 as after training, still distinct per feature
    model.train()
    x = rand(gen, B, T, C).requires_grad_(True)
    # the blocks on given hidden states: what GPT2Model does after adding wte and wpe
    causal = torch.full((T, T), float("-inf"), dtype=F64).triu(1)
    h = x
    for block in model.h:
        out = block(h, attention_mask=causal.view(1, 1, T, T))
        h = out[0] if isinstance(out, tuple) else out
    y = model.ln_f(h)
    g = rand(gen, *y.shape)
    tensors = {"x": x, "y": y, "g": g}
    params = {n: p for n, p in model.named_parameters() if not n.startswith("wte") and not n.startswith("wpe")}
    tensors.update(params)
    grads = grads_of(model, {"x": x}, y, g)
    tensors.update({k: v for k, v in grads.items() if v is not None})
    meta = {"C": C, "H": H, "layers": layers, "B": B, "T": T, "positions": positions,
            "reference": "transformers.GPT2Model blocks h.* and ln_f on given hidden states, causal, float64",
            "transformers": transformers.__version__}
    write(out_dir, name, meta, tensors)


def bert_stack_case(out_dir, name, seed, C=8, H=2, layers=2, F=12, B=2, T=5, lengths=(5, 3), positions=16):
    gen = torch.Generator().manual_seed(seed)
    config = transformers.BertConfig(hidden_size=C, num_attention_heads=H, num_hidden_layers=layers,
                                     intermediate_size=F, hidden_act="gelu", hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0, max_position_embeddings=positions,
                                     vocab_size=11, layer_norm_eps=1e-12)
    config._attn_implementation = "eager"
    model = transformers.BertModel(config, add_pooling_layer=False).to(F64)
    encoder = model.encoder
    with torch.no_grad():
        for n, p in encoder.named_parameters():
            p.copy_(rand(gen, *p.shape, scale=0.5))
            if n.endswith("LayerNorm.weight"):
                p.add_(1.0)
    encoder.train()
    x = rand(gen, B, T, C).requires_grad_(True)
    # key padding as BertModel passes it to its layers: an additive (B, 1, 1, T) mask, the dtype's lowest value at
    # padded keys (its exp is exactly 0 in float64, as -inf is)
    pad = torch.tensor([[j >= n for j in range(T)] for n in lengths])
    mask = torch.zeros(B, 1, 1, T, dtype=F64).masked_fill(pad.view(B, 1, 1, T), torch.finfo(F64).min)
    h = x
    for layer in encoder.layer:
        out = layer(h, attention_mask=mask)
        h = out[0] if isinstance(out, tuple) else out
    y = h
    g = rand(gen, *y.shape)
    tensors = {"x": x, "y": y, "g": g}
    for n, p in encoder.named_parameters():
        tensors["encoder." + n] = p
    grads = grads_of(encoder, {"x": x}, y, g)
    tensors.update({"grad.x": grads["grad.x"]})
    tensors.update({"grad.encoder." + k[len("grad."):]: v for k, v in grads.items() if k != "grad.x"})
    meta = {"C": C, "H": H, "F": F, "layers": layers, "B": B, "T": T, "positions": positions, "lengths": list(lengths),
            "reference": "transformers.BertModel encoder layers on given hidden states, key padding, float64",
            "transformers": transformers.__version__}
    write(out_dir, name, meta, tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "attention"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gpt2_stack_case(args.out, "gpt2_stack", 71)
    bert_stack_case(args.out, "bert_stack", 72)


if __name__ == "__main__":
    main()
