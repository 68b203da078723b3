#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference fixtures of tests/attention into tests/data/attention/.

Each fixture is a JSON file {"meta": {...}, "tensors": {name: {"shape": [...], "data": [...]}}} with the
data in PyTorch's row-major order, which is the byte order of elm's column-major matrices whose rows are
the last dimension: x of shape (B, T, C) is elm's (C, B * T), in_proj_weight (3C, C) is elm's (C, 3C).
NaN is written as null and an infinity as the string "inf" or "-inf" (JSON has neither); a boolean mask
is written as 0 / 1 (true = 1).

Inputs and parameters are drawn in float32 and the reference is computed in float64 from those exact
values, so the float and double builds of elm are compared against the same numbers.
Gradients are those of loss = sum(y * g) for a fixed random g (also stored).

Usage: python3 tools/make_attention_fixtures.py [--out tests/data/attention]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

F64 = torch.float64


def rand(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).to(F64)


def tensor_entry(t):
    a = t.detach().to(F64).cpu().numpy()
    data = [None if math.isnan(v) else ("-inf" if v == -math.inf else ("inf" if v == math.inf else v))
            for v in a.reshape(-1).tolist()]
    return {"shape": list(a.shape), "data": data}


def write(out_dir, name, meta, tensors):
    meta = dict(meta)
    meta["torch"] = torch.__version__
    meta["numpy"] = np.__version__
    meta["python"] = sys.version.split()[0]
    doc = {"meta": meta, "tensors": {k: tensor_entry(v) for k, v in tensors.items()}}
    path = os.path.join(out_dir, name + ".json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def causal_mask(tq, tk):
    # float mask as PyTorch's nn.Transformer.generate_square_subsequent_mask for tq == tk
    m = torch.zeros(tq, tk, dtype=F64)
    off = tk - tq
    for i in range(tq):
        for j in range(tk):
            if j > i + off:
                m[i, j] = float("-inf")
    return m


def padding_mask(lengths, t):
    return torch.tensor([[j >= n for j in range(t)] for n in lengths])


def float_padding_mask(lengths, t):
    # additive form (0 or -inf) of the key padding mask, the same type as attn_mask
    return torch.zeros(len(lengths), t, dtype=F64).masked_fill(padding_mask(lengths, t), float("-inf"))


def set_params(module, gen):
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(rand(gen, *p.shape, scale=0.5))


def grads_of(module, inputs, y, g):
    (y * g).sum().backward()
    out = {}
    for name, t in inputs.items():
        out["grad." + name] = t.grad
    for name, p in module.named_parameters():
        out["grad." + name] = p.grad
    return out


def mha_case(out_dir, name, seed, C, H, B, Tq, Tk, self_attn, causal=False, lengths=None, additive=None,
             key_padding=None, key_padding_float=None, attn_mask_bool=None, need_weights=False, average=True,
             backward=True):
    """torch.nn.MultiheadAttention with the masks elm's AttentionMask says: causal (merged into the float
    attn_mask, as PyTorch expects), key lengths (a float key_padding_mask), and masks drawn by functions of the
    generator (after the parameters and inputs): a float attn_mask `additive` of (L, S) or (B * H, L, S), a
    boolean one `attn_mask_bool` (True = not allowed), a boolean (True = ignore) or float key_padding_mask (B, S)."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=F64)
    set_params(m, gen)
    query = rand(gen, B, Tq, C).requires_grad_(backward)
    if self_attn:
        key = value = query
    else:
        key = rand(gen, B, Tk, C).requires_grad_(backward)
        value = rand(gen, B, Tk, C).requires_grad_(backward)
    masks = {}
    if additive is not None:
        masks["additive"] = additive(gen)
    if attn_mask_bool is not None:
        masks["attn_mask_bool"] = attn_mask_bool(gen)
    if key_padding is not None:
        masks["key_padding_mask"] = key_padding(gen)
    if key_padding_float is not None:
        masks["key_padding_mask_float"] = key_padding_float(gen)
    attn_mask = masks.get("additive", masks.get("attn_mask_bool"))
    attn_mask = attn_mask.clone() if attn_mask is not None else None
    if causal:
        cm = causal_mask(Tq, Tk)
        attn_mask = cm if attn_mask is None else attn_mask + cm
    kpm = masks.get("key_padding_mask", masks.get("key_padding_mask_float"))
    if lengths is not None:
        kpm = float_padding_mask(lengths, Tk)
    y, w = m(query, key, value, key_padding_mask=kpm, attn_mask=attn_mask, need_weights=need_weights,
             average_attn_weights=average)
    g = rand(gen, *y.shape)
    tensors = {"query": query, "y": y, "g": g}
    if not self_attn:
        tensors["key"] = key
        tensors["value"] = value
    for n, p in m.named_parameters():
        tensors[n] = p
    tensors.update(masks)
    if w is not None:
        tensors["weights"] = w
    if backward:
        inputs = {"query": query} if self_attn else {"query": query, "key": key, "value": value}
        tensors.update(grads_of(m, inputs, y, g))
    meta = {"C": C, "H": H, "B": B, "Tq": Tq, "Tk": Tk, "self": self_attn, "causal": causal,
            "lengths": lengths if lengths is not None else [], "need_weights": need_weights,
            "average_weights": average, "backward": backward,
            "reference": "torch.nn.MultiheadAttention(batch_first=True), float64"}
    write(out_dir, name, meta, tensors)


def encoder_case(out_dir, name, seed, norm_first, activation, causal, lengths, C=8, H=2, F=16, B=2, T=5):
    gen = torch.Generator().manual_seed(seed)
    m = torch.nn.TransformerEncoderLayer(C, H, dim_feedforward=F, dropout=0.0, activation=activation,
                                         batch_first=True, norm_first=norm_first, dtype=F64)
    set_params(m, gen)
    with torch.no_grad():  # layer norm weights near 1 as after training, still distinct per feature
        for n, p in m.named_parameters():
            if n.startswith("norm") and n.endswith("weight"):
                p.add_(1.0)
    x = rand(gen, B, T, C).requires_grad_(True)
    mask = causal_mask(T, T) if causal else None
    kpm = float_padding_mask(lengths, T) if lengths is not None else None
    m.train()  # the slow path: the fused inference kernel is not what is specified by the documentation
    y = m(x, src_mask=mask, src_key_padding_mask=kpm)
    g = rand(gen, *y.shape)
    tensors = {"x": x, "y": y, "g": g}
    for n, p in m.named_parameters():
        tensors[n] = p
    tensors.update(grads_of(m, {"x": x}, y, g))
    meta = {"C": C, "H": H, "F": F, "B": B, "T": T, "norm_first": norm_first, "activation": activation,
            "causal": causal, "lengths": lengths if lengths is not None else [],
            "reference": "torch.nn.TransformerEncoderLayer(batch_first=True, dropout=0), float64"}
    write(out_dir, name, meta, tensors)


def decoder_case(out_dir, name, seed, norm_first, activation, lengths, C=8, H=2, F=16, B=2, T=4, S=6):
    gen = torch.Generator().manual_seed(seed)
    m = torch.nn.TransformerDecoderLayer(C, H, dim_feedforward=F, dropout=0.0, activation=activation,
                                         batch_first=True, norm_first=norm_first, dtype=F64)
    set_params(m, gen)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.startswith("norm") and n.endswith("weight"):
                p.add_(1.0)
    x = rand(gen, B, T, C).requires_grad_(True)
    mem = rand(gen, B, S, C).requires_grad_(True)
    kpm = float_padding_mask(lengths, S) if lengths is not None else None
    m.train()
    y = m(x, mem, tgt_mask=causal_mask(T, T), memory_key_padding_mask=kpm)
    g = rand(gen, *y.shape)
    tensors = {"x": x, "memory": mem, "y": y, "g": g}
    for n, p in m.named_parameters():
        tensors[n] = p
    tensors.update(grads_of(m, {"x": x, "memory": mem}, y, g))
    meta = {"C": C, "H": H, "F": F, "B": B, "T": T, "S": S, "norm_first": norm_first, "activation": activation,
            "lengths": lengths if lengths is not None else [],
            "reference": "torch.nn.TransformerDecoderLayer(batch_first=True, dropout=0), causal tgt_mask, float64"}
    write(out_dir, name, meta, tensors)


def rotate_half(x):
    # transformers.models.llama.modeling_llama.rotate_half
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotary_case(out_dir, seed, B=2, T=6, H=2, D=8, offset=3, base=10000.0):
    gen = torch.Generator().manual_seed(seed)
    x = rand(gen, B, T, H * D)
    pos = torch.arange(offset, offset + T, dtype=F64)
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=F64) / D))
    freqs = torch.outer(pos, inv_freq)  # (T, D/2)
    # half layout, as transformers' LLaMA: emb = cat(freqs, freqs); x cos + rotate_half(x) sin
    emb = torch.cat((freqs, freqs), dim=-1)
    xh = x.view(B, T, H, D)
    half = xh * emb.cos()[None, :, None, :] + rotate_half(xh) * emb.sin()[None, :, None, :]
    # interleaved layout, as Meta's LLaMA reference code: pairs as complex numbers times exp(i theta)
    xc = torch.view_as_complex(xh.reshape(B, T, H, D // 2, 2).contiguous())
    rot = torch.polar(torch.ones_like(freqs), freqs)[None, :, None, :]
    inter = torch.view_as_real(xc * rot).reshape(B, T, H * D)
    meta = {"B": B, "T": T, "H": H, "D": D, "offset": offset, "base": base,
            "reference": "rotate_half (transformers LLaMA) and complex rotation (Meta LLaMA), float64"}
    write(out_dir, "rotary", meta, {"x": x, "half": half.reshape(B, T, H * D), "interleaved": inter})


def sinusoidal_case(out_dir, C=10, P=7):
    # The Annotated Transformer's PositionalEncoding, in float64
    pe = torch.zeros(P, C, dtype=F64)
    position = torch.arange(0, P, dtype=F64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, C, 2, dtype=F64) * -(math.log(10000.0) / C))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    write(out_dir, "sinusoidal", {"C": C, "P": P, "reference": "Annotated Transformer PositionalEncoding"},
          {"pe": pe})


def pooling_case(out_dir, seed, C=6, A=4, B=3, T=5, lengths=(5, 2, 4)):
    gen = torch.Generator().manual_seed(seed)
    proj = torch.nn.Linear(C, A, dtype=F64)
    score = torch.nn.Linear(A, 1, bias=False, dtype=F64)
    with torch.no_grad():
        for p in list(proj.parameters()) + list(score.parameters()):
            p.copy_(rand(gen, *p.shape, scale=0.7))
    x = rand(gen, B, T, C).requires_grad_(True)
    s = score(torch.tanh(proj(x))).squeeze(-1)  # (B, T)
    s = s.masked_fill(padding_mask(list(lengths), T), float("-inf"))
    a = torch.softmax(s, dim=1)
    y = (a.unsqueeze(-1) * x).sum(dim=1)  # (B, C)
    g = rand(gen, *y.shape)
    (y * g).sum().backward()
    tensors = {"x": x, "proj.weight": proj.weight, "proj.bias": proj.bias, "score.weight": score.weight,
               "y": y, "weights": a, "g": g, "grad.x": x.grad, "grad.proj.weight": proj.weight.grad,
               "grad.proj.bias": proj.bias.grad, "grad.score.weight": score.weight.grad}
    meta = {"C": C, "A": A, "B": B, "T": T, "lengths": list(lengths),
            "reference": "softmax over time of score(tanh(proj(x))) with -inf padding, weighted sum; float64"}
    write(out_dir, "pooling", meta, tensors)


def heads_first(t):
    # (B, H, L, E) as elm's (H * E, B * L): the bytes of (B, L, H * E)
    b, h, n, e = t.shape
    return t.transpose(1, 2).reshape(b, n, h * e)


def random_hidden(gen, *shape, p=0.35):
    # a boolean mask with True (hidden) at about a fraction p of the entries, never at key 0 (the last
    # dimension), so that every query keeps a visible key
    hidden = torch.rand(*shape, generator=gen, dtype=F64) < p
    hidden[..., 0] = False
    return hidden


def sdpa_case(out_dir, name, seed, B, H, L, S, E, Ev, boolean):
    """F.scaled_dot_product_attention with a per-batch mask (B, 1, L, S), broadcast over heads: boolean
    (True = takes part, the opposite of nn.MultiheadAttention's sense) or float (added to the scores)."""
    gen = torch.Generator().manual_seed(seed)
    q = rand(gen, B, H, L, E).requires_grad_(True)
    k = rand(gen, B, H, S, E).requires_grad_(True)
    v = rand(gen, B, H, S, Ev).requires_grad_(True)
    if boolean:
        mask = ~random_hidden(gen, B, 1, L, S)
    else:
        mask = rand(gen, B, 1, L, S).masked_fill(random_hidden(gen, B, 1, L, S), float("-inf"))
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    g = rand(gen, *out.shape)
    (out * g).sum().backward()
    tensors = {"q": heads_first(q), "k": heads_first(k), "v": heads_first(v), "attn_mask": mask,
               "out": heads_first(out), "g": heads_first(g), "grad.q": heads_first(q.grad),
               "grad.k": heads_first(k.grad), "grad.v": heads_first(v.grad)}
    meta = {"B": B, "H": H, "L": L, "S": S, "E": E, "Ev": Ev, "boolean": boolean,
            "reference": "torch.nn.functional.scaled_dot_product_attention with a (B, 1, L, S) attn_mask, "
                         "float64; q, k, v and out stored as (B, L, H * E)"}
    write(out_dir, name, meta, tensors)


def mask_cases(out_dir, C, H):
    # Key padding at any position: none in sequence 0, holes at keys 1 and 3 in sequence 1, left padding
    # (keys 0 and 1) in sequence 2, as batched generation pads its prompts.
    holes = [[False] * 5, [False, True, False, True, False], [True, True, False, False, False]]
    mha_case(out_dir, "mha_key_padding_holes", 40, C, H, 3, 5, 5, True,
             key_padding=lambda gen: torch.tensor(holes), need_weights=True, average=False)
    # Float key padding (added to the scores), finite values and -inf holes, in cross-attention.
    def float_padding(gen):
        m = rand(gen, 2, 6)
        m[0, 2] = m[1, 0] = m[1, 1] = float("-inf")
        return m
    mha_case(out_dir, "mha_key_padding_float", 41, C, H, 2, 3, 6, False, key_padding_float=float_padding)
    # Boolean attn_mask per batch and head (B * H, L, S), True = not allowed, with a boolean key padding hole.
    mha_case(out_dir, "mha_bool_mask_heads", 42, C, H, 2, 4, 5, False,
             attn_mask_bool=lambda gen: random_hidden(gen, 2 * H, 4, 5),
             key_padding=lambda gen: torch.tensor([[False, False, True, False, False], [False] * 5]),
             need_weights=True)
    # Float attn_mask per batch and head, with -inf entries, under the causal mask.
    mha_case(out_dir, "mha_float_mask_heads_causal", 43, C, H, 2, 4, 4, True, causal=True,
             additive=lambda gen: rand(gen, 2 * H, 4, 4).masked_fill(random_hidden(gen, 2 * H, 4, 4), float("-inf")))
    sdpa_case(out_dir, "sdpa_bool_batch", 44, 2, 2, 4, 5, 3, 2, True)
    sdpa_case(out_dir, "sdpa_float_batch", 45, 2, 2, 4, 5, 3, 2, False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "attention"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    C, H = 8, 2
    mha_case(args.out, "mha_self", 1, C, H, 2, 5, 5, True)
    mha_case(args.out, "mha_self_causal", 2, C, H, 2, 5, 5, True, causal=True)
    mha_case(args.out, "mha_self_padding", 3, C, H, 2, 5, 5, True, lengths=[5, 3], need_weights=True)
    mha_case(args.out, "mha_self_causal_padding_heads", 4, C, H, 2, 5, 5, True, causal=True, lengths=[4, 5],
             need_weights=True, average=False)
    mha_case(args.out, "mha_cross", 5, C, H, 2, 4, 6, False, lengths=[6, 2], additive=lambda gen: rand(gen, 4, 6),
             need_weights=True)
    mha_case(args.out, "mha_cross_h4", 6, 12, 4, 1, 3, 7, False)
    # Fully masked rows: sequence 1 has no valid key, and query 2 of every sequence is hidden by the mask.
    fully_masked(args.out, C, H)
    mask_cases(args.out, C, H)
    for nf in (False, True):
        for act in ("relu", "gelu"):
            tag = ("pre" if nf else "post") + "_" + act
            encoder_case(args.out, "encoder_" + tag, 10 + nf * 2 + (act == "gelu"), nf, act, nf, [5, 3])
            decoder_case(args.out, "decoder_" + tag, 20 + nf * 2 + (act == "gelu"), nf, act, [6, 4])
    rotary_case(args.out, 30)
    sinusoidal_case(args.out)
    pooling_case(args.out, 31)


def fully_masked(out_dir, C, H, B=2, Tq=4, Tk=5):
    gen = torch.Generator().manual_seed(7)
    m = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=F64)
    set_params(m, gen)
    x = rand(gen, B, Tq, C)
    mem = rand(gen, B, Tk, C)
    add = torch.zeros(Tq, Tk, dtype=F64)
    add[2, :] = float("-inf")
    kpm = float_padding_mask([Tk, 0], Tk)
    with torch.no_grad():
        y, w = m(x, mem, mem, key_padding_mask=kpm, attn_mask=add, need_weights=True)
    tensors = {"query": x, "key": mem, "value": mem, "y": y, "weights": w}
    for n, p in m.named_parameters():
        tensors[n] = p
    meta = {"C": C, "H": H, "B": B, "Tq": Tq, "Tk": Tk, "lengths": [Tk, 0], "masked_query": 2,
            "reference": "torch.nn.MultiheadAttention with fully masked rows (NaN), float64"}
    write(out_dir, "mha_fully_masked", meta, tensors)


if __name__ == "__main__":
    main()
