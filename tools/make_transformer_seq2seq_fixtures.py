#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference fixtures of elm::models::TransformerSeq2Seq into tests/data/seq2seq/transformer/.

Each configuration is torch.nn.Transformer (batch_first, dropout 0) with token embeddings (separate or shared
vocabularies, optionally scaled by sqrt(d_model)), sinusoidal or learned positions, and an output head (tied to the
target embedding or a separate nn.Linear), run teacher-forced on a padded batch of three pairs with
src_key_padding_mask, tgt_key_padding_mask, memory_key_padding_mask and a causal tgt_mask. The module's parameter
names are elm's: source_embedding.weight / target_embedding.weight (or embedding.weight when shared),
source_positions.weight / target_positions.weight (learned positions), nn.Transformer's encoder.* and decoder.*,
output_projection.* (untied head).

Written: the parameters, the padded batch (source, target = bos y_1 .. y_n, labels = y_1 .. y_n eos, pad elsewhere,
the boolean padding masks, true = padding), the logits (B, T, V), the loss of
nn.CrossEntropyLoss(ignore_index=pad, label_smoothing=s) and the gradient of that loss for every parameter; in
meta the configuration, the unpadded pairs and the greedy decoding of each source by full forwards (tokens and
summed log-probabilities). The JSON layout is tools/make_attention_fixtures.py's.

Parameters and inputs are drawn in float32 and every reference is computed in float64 from those exact values, so
the float and double builds of elm are compared against the same numbers: parameters are written exactly, computed
tensors to 13 significant digits (enough for the double tests' 1e-9).

Usage: python3 tools/make_transformer_seq2seq_fixtures.py [--out tests/data/seq2seq/transformer]  (pip install torch)
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, rand, write  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


def sinusoid(T, C):
    # PE(p, 2i) = sin(p / 10000^(2i / C)), PE(p, 2i + 1) = cos(p / 10000^(2i / C)) (Vaswani et al. 2017, 3.5)
    pe = torch.zeros(T, C, dtype=F64)
    p = torch.arange(T, dtype=F64).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, C, 2, dtype=F64) / C)
    pe[:, 0::2] = torch.sin(p * freq)
    pe[:, 1::2] = torch.cos(p * freq)
    return pe


class Seq2Seq(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg["C"]
        t = torch.nn.Transformer(d_model=C, nhead=cfg["H"], num_encoder_layers=cfg["encoder_layers"],
                                 num_decoder_layers=cfg["decoder_layers"], dim_feedforward=cfg["F"], dropout=0.0,
                                 activation=cfg["activation"], layer_norm_eps=1e-5, batch_first=True,
                                 norm_first=cfg["norm_first"], dtype=F64)
        if not cfg["final_norms"]:
            t.encoder.norm = None
            t.decoder.norm = None
        if cfg["shared"]:
            self.embedding = torch.nn.Embedding(cfg["Vs"], C, dtype=F64)
        else:
            self.source_embedding = torch.nn.Embedding(cfg["Vs"], C, dtype=F64)
            self.target_embedding = torch.nn.Embedding(cfg["Vt"], C, dtype=F64)
        if cfg["positions"] == "learned":
            self.source_positions = torch.nn.Embedding(cfg["P"], C, dtype=F64)
            self.target_positions = torch.nn.Embedding(cfg["P"], C, dtype=F64)
        self.encoder = t.encoder
        self.decoder = t.decoder
        object.__setattr__(self, "transformer", t)  # run through nn.Transformer.forward, named as encoder.*, decoder.*
        if not cfg["tie"]:
            self.output_projection = torch.nn.Linear(C, cfg["Vt"], bias=cfg["output_bias"], dtype=F64)

    def table(self, side):
        if self.cfg["shared"]:
            return self.embedding
        return self.source_embedding if side == "source" else self.target_embedding

    def embed(self, side, ids):
        C = self.cfg["C"]
        e = self.table(side)(ids)
        if self.cfg["scale"]:
            e = e * math.sqrt(C)
        T = ids.shape[1]
        if self.cfg["positions"] == "learned":
            table = self.source_positions if side == "source" else self.target_positions
            return e + table.weight[:T]
        return e + sinusoid(T, C)

    def forward(self, src, tgt, src_pad, tgt_pad):
        T = tgt.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = not allowed, as the padding masks
        h = self.transformer(self.embed("source", src), self.embed("target", tgt), tgt_mask=causal,
                             src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                             memory_key_padding_mask=src_pad, tgt_is_causal=True)
        if self.cfg["tie"]:
            return h @ self.table("target").weight.T
        return self.output_projection(h)


def make_batch(sources, targets):
    B = len(sources)
    S = max(len(s) for s in sources)
    T = max(len(t) for t in targets) + 1
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt = torch.full((B, T), PAD, dtype=torch.long)
    labels = torch.full((B, T), PAD, dtype=torch.long)
    for b, (s, t) in enumerate(zip(sources, targets)):
        src[b, :len(s)] = torch.tensor(s)
        tgt[b, 0] = BOS
        tgt[b, 1:len(t) + 1] = torch.tensor(t, dtype=torch.long)
        labels[b, :len(t)] = torch.tensor(t, dtype=torch.long)
        labels[b, len(t)] = EOS
    return src, tgt, labels, src == PAD, tgt == PAD


def greedy(model, source, max_length):
    # argmax decoding by full forwards: tokens after bos until eos (included) or max_length tokens
    src = torch.tensor([source])
    tokens, score = [BOS], 0.0
    with torch.no_grad():
        while len(tokens) <= max_length:
            logits = model(src, torch.tensor([tokens]), src == PAD, torch.zeros(1, len(tokens), dtype=torch.bool))
            log_p = torch.log_softmax(logits[0, -1], dim=-1)
            nxt = int(torch.argmax(log_p))
            score += float(log_p[nxt])
            tokens.append(nxt)
            if nxt == EOS:
                break
    return tokens[1:], score


def rounded(t):
    return torch.tensor([float("%.13g" % v) for v in t.detach().reshape(-1).tolist()], dtype=F64).reshape(t.shape)


def case(out_dir, name, seed, cfg, source_lengths, target_lengths, label_smoothing, greedy_length=6):
    gen = torch.Generator().manual_seed(seed)
    model = Seq2Seq(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(rand(gen, *p.shape, scale=0.5))
            if "norm" in n and n.endswith("weight"):
                p.add_(1.0)  # layer norm weights near 1 as after training, still distinct per feature
    model.train()  # the documented path (dropout is 0): not the fused inference kernels

    def draw(n, V):
        return [int(v) for v in torch.randint(3, V, (n,), generator=gen)]

    sources = [draw(n, cfg["Vs"]) for n in source_lengths]
    targets = [draw(n, cfg["Vt"]) for n in target_lengths]
    src, tgt, labels, src_pad, tgt_pad = make_batch(sources, targets)
    logits = model(src, tgt, src_pad, tgt_pad)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=label_smoothing)
    loss = loss_fn(logits.reshape(-1, cfg["Vt"]), labels.reshape(-1))
    loss.backward()

    tensors = {"source": src.to(F64), "target": tgt.to(F64), "labels": labels.to(F64),
               "source_padding": src_pad.to(F64), "target_padding": tgt_pad.to(F64),
               "logits": rounded(logits), "loss": rounded(loss)}
    for n, p in model.named_parameters():
        tensors[n] = p
        tensors["grad." + n] = rounded(p.grad)
    decoded = [greedy(model, s, greedy_length) for s in sources]
    meta = dict(cfg)
    meta.update({"name": name, "B": len(sources), "S": src.shape[1], "T": tgt.shape[1],
                 "label_smoothing": label_smoothing,
                 "pad_id": PAD, "bos_id": BOS, "eos_id": EOS, "sources": sources, "targets": targets,
                 "greedy_length": greedy_length, "greedy_tokens": [d[0] for d in decoded],
                 "greedy_scores": [d[1] for d in decoded],
                 "reference": "torch.nn.Transformer(batch_first=True, dropout=0) with embeddings, positions and "
                              "head; CrossEntropyLoss(ignore_index=pad, label_smoothing); float64"})
    write(out_dir, name, meta, tensors)

def train_reversal(model, steps, seed, low, high, batch=16):
    """Adam steps on reversing sequences of ids low..high-1 (1 to 6 of them), the parameters rounded to float32
    after each step (the float and double builds of elm then hold the same values): a model that has partly
    learned a task gives hypotheses that differ and end at different lengths, where a random one repeats a token."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD)
    for _ in range(steps):
        sources = [torch.randint(low, high, (int(n),), generator=gen).tolist()
                   for n in torch.randint(1, 7, (batch,), generator=gen)]
        src, tgt, labels, src_pad, tgt_pad = make_batch(sources, [list(reversed(s)) for s in sources])
        loss = loss_fn(model(src, tgt, src_pad, tgt_pad).reshape(-1, model.cfg["Vt"]), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.float().to(F64))


def beam_case(out_dir, name, seed=51, max_length=9):
    """n-best lists of transformers' beam search rules (tools/make_lstm_seq2seq_fixtures.py's hf_beam_search over
    each hypothesis's next-token log-probabilities from full forwards) for a Transformer trained on reversal."""
    from make_lstm_seq2seq_fixtures import beam_cases
    cfg = {"Vs": 11, "Vt": 11, "shared": True, "C": 16, "H": 2, "F": 32, "encoder_layers": 1, "decoder_layers": 1,
           "activation": "relu", "norm_first": True, "final_norms": True, "P": 16, "positions": "sinusoidal",
           "scale": True, "tie": True, "output_bias": False}
    torch.manual_seed(seed)  # nn.Transformer's own initialisation draws from the global generator
    model = Seq2Seq(cfg)
    with torch.no_grad():
        model.embedding.weight.normal_(0.0, cfg["C"] ** -0.5)
        for p in model.parameters():
            p.copy_(p.float().to(F64))
    train_reversal(model, 150, seed, 3, cfg["Vs"])
    gen = torch.Generator().manual_seed(seed + 100)
    sources = [torch.randint(3, cfg["Vs"], (n,), generator=gen).tolist() for n in (4, 1, 6, 3)]

    def log_probs(b, prefix):
        src = torch.tensor([sources[b]])
        logits = model(src, torch.tensor([prefix]), src == PAD, torch.zeros(1, len(prefix), dtype=torch.bool))
        return torch.log_softmax(logits[0, -1], dim=-1)

    with torch.no_grad():
        cases = beam_cases(log_probs, len(sources), BOS, EOS, max_length)
    meta = dict(cfg, name=name, pad_id=PAD, bos_id=BOS, eos_id=EOS, sources=sources, beam_cases=cases,
                reference="torch.nn.Transformer trained 150 Adam steps on reversal; transformers' beam search rules")
    write(out_dir, name, meta, dict(model.named_parameters()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "seq2seq",
                                                  "transformer"))
    ap.add_argument("--only", default="", help="write only the fixtures whose name starts with this")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    # The 2017 paper's model in small: post-norm, relu, separate vocabularies, sinusoids, scaled embeddings,
    # an untied head with a bias.
    post_relu = {"Vs": 11, "Vt": 13, "shared": False, "C": 8, "H": 2, "F": 16, "encoder_layers": 2,
                 "decoder_layers": 2, "activation": "relu", "norm_first": False, "final_norms": True, "P": 16,
                 "positions": "sinusoidal", "scale": True, "tie": False, "output_bias": True}
    # Pre-norm, gelu, one encoder and three decoder layers, a shared vocabulary, learned positions, unscaled
    # embeddings, the head tied to the table, label smoothing.
    pre_gelu = {"Vs": 12, "Vt": 12, "shared": True, "C": 8, "H": 4, "F": 12, "encoder_layers": 1,
                "decoder_layers": 3, "activation": "gelu", "norm_first": True, "final_norms": True, "P": 16,
                "positions": "learned", "scale": False, "tie": True, "output_bias": False}
    # Post-norm without nn.Transformer's final norms, a shared vocabulary and an untied head without bias.
    post_bare = {"Vs": 10, "Vt": 10, "shared": True, "C": 6, "H": 3, "F": 10, "encoder_layers": 1,
                 "decoder_layers": 1, "activation": "gelu", "norm_first": False, "final_norms": False, "P": 12,
                 "positions": "sinusoidal", "scale": True, "tie": False, "output_bias": False}
    jobs = {"post_relu": lambda: case(args.out, "post_relu", 181, post_relu, [6, 3, 5], [4, 2, 5], 0.0),
            "pre_gelu": lambda: case(args.out, "pre_gelu", 182, pre_gelu, [4, 7, 2], [5, 3, 1], 0.1),
            "post_bare": lambda: case(args.out, "post_bare", 183, post_bare, [3, 5], [3, 4], 0.2),
            "beam_transformer": lambda: beam_case(args.out, "beam_transformer")}
    for name, job in jobs.items():
        if name.startswith(args.only):
            job()


if __name__ == "__main__":
    main()
