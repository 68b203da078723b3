#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch parity fixtures of the neural core into tests/data/nn/.

Usage: python3 tools/make_nn_fixtures.py [out_dir]   (default: tests/data/nn next to this script's repo)

Format (read by tests/nn/fixtures.hpp): one text file per case; each tensor is a line
`name ndim d0 d1 ...` followed by a line of its values in row-major (PyTorch) order, printed with 9
significant digits so that float32 values round-trip exactly. Integer tensors are written the same way.
Generated with the versions printed in each file's first line (torch, numpy, python).
"""
import os
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
HEADER = f"# torch {torch.__version__} numpy {np.__version__} python {platform.python_version()}\n"


def fmt(values):
    return " ".join(format(float(v), ".9g") for v in values)


class Writer:
    def __init__(self, path):
        self.path = path
        self.parts = [HEADER]

    def add(self, name, t):
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        a = np.asarray(t)
        self.parts.append(f"{name} {a.ndim} {' '.join(str(d) for d in a.shape)}\n")
        self.parts.append(fmt(a.reshape(-1)) + "\n")

    def save(self):
        with open(self.path, "w") as f:
            f.write("".join(self.parts))


def leaf(shape, gen, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).requires_grad_(True)


def linear_case(out, gen):
    n, fin, fout = 40, 64, 48
    x = leaf((n, fin), gen)
    lin = torch.nn.Linear(fin, fout)
    dy = torch.randn(n, fout, generator=gen)
    y = lin(x)
    y.backward(dy)
    w = Writer(os.path.join(out, "linear.txt"))
    for k, v in [("x", x), ("weight", lin.weight), ("bias", lin.bias), ("dy", dy), ("y", y), ("dx", x.grad),
                 ("dweight", lin.weight.grad), ("dbias", lin.bias.grad)]:
        w.add(k, v)
    w.save()


def embedding_case(out, gen):
    v, c, n = 50, 16, 40
    emb = torch.nn.Embedding(v, c)
    ids = torch.randint(0, v, (n,), generator=gen)
    ids[3] = ids[7]  # a repeated id: its gradients add up
    dy = torch.randn(n, c, generator=gen)
    y = emb(ids)
    y.backward(dy)
    w = Writer(os.path.join(out, "embedding.txt"))
    for k, t in [("ids", ids), ("weight", emb.weight), ("dy", dy), ("y", y), ("dweight", emb.weight.grad)]:
        w.add(k, t)
    w.save()


def layer_norm_case(out, gen):
    n, c = 40, 64
    x = leaf((n, c), gen, 3.0)
    ln = torch.nn.LayerNorm(c)
    with torch.no_grad():
        ln.weight.copy_(1 + 0.5 * torch.randn(c, generator=gen))
        ln.bias.copy_(0.5 * torch.randn(c, generator=gen))
    dy = torch.randn(n, c, generator=gen)
    y = ln(x)
    y.backward(dy)
    w = Writer(os.path.join(out, "layer_norm.txt"))
    for k, t in [("x", x), ("weight", ln.weight), ("bias", ln.bias), ("dy", dy), ("y", y), ("dx", x.grad),
                 ("dweight", ln.weight.grad), ("dbias", ln.bias.grad)]:
        w.add(k, t)
    w.save()


def pointwise_case(out, gen):
    n, c = 24, 40
    w = Writer(os.path.join(out, "pointwise.txt"))
    x = torch.randn(n, c, generator=gen) * 3
    dy = torch.randn(n, c, generator=gen)
    w.add("x", x)
    w.add("dy", dy)
    for name, f in [("gelu", lambda t: F.gelu(t)), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
                    ("relu", F.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid),
                    ("softmax", lambda t: F.softmax(t, dim=-1)), ("log_softmax", lambda t: F.log_softmax(t, dim=-1))]:
        xi = x.clone().requires_grad_(True)
        y = f(xi)
        y.backward(dy)
        w.add(name + ".y", y)
        w.add(name + ".dx", xi.grad)
    w.save()


def loss_case(out, gen):
    n, v = 40, 30
    w = Writer(os.path.join(out, "loss.txt"))
    logits = torch.randn(n, v, generator=gen) * 2
    targets = torch.randint(0, v, (n,), generator=gen)
    targets[[2, 5, 11]] = -100
    w.add("logits", logits)
    w.add("targets", targets)
    for name, smoothing in [("ce", 0.0), ("ce_smooth", 0.1)]:
        for red in ["mean", "sum"]:
            li = logits.clone().requires_grad_(True)
            loss = F.cross_entropy(li, targets, ignore_index=-100, label_smoothing=smoothing, reduction=red)
            loss.backward()
            w.add(f"{name}.{red}.loss", loss.reshape(1))
            w.add(f"{name}.{red}.dlogits", li.grad)
    z = torch.rand(n, v, generator=gen)
    w.add("bce.targets", z)
    li = logits.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(li, z)
    loss.backward()
    w.add("bce.loss", loss.reshape(1))
    w.add("bce.dlogits", li.grad)
    li = logits.clone().requires_grad_(True)
    loss = F.mse_loss(li, z)
    loss.backward()
    w.add("mse.loss", loss.reshape(1))
    w.add("mse.dpred", li.grad)
    w.save()


def recurrent_case(out, gen, kind):
    b, t, fin, h, layers = 3, 7, 10, 12, 2
    lengths = torch.tensor([4, 7, 2])
    if kind == "rnn_relu":
        net = torch.nn.RNN(fin, h, num_layers=layers, batch_first=True, nonlinearity="relu")
    else:
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        net = cls(fin, h, num_layers=layers, batch_first=True)
    x = leaf((b, t, fin), gen)
    h0 = leaf((layers, b, h), gen, 0.5)
    c0 = leaf((layers, b, h), gen, 0.5)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    if kind == "lstm":
        out_packed, (hn, cn) = net(packed, (h0, c0))
    else:
        out_packed, hn = net(packed, h0)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True, total_length=t)
    dy = torch.randn(b, t, h, generator=gen)
    dhn = torch.randn(layers, b, h, generator=gen)
    loss = (y * dy).sum() + (hn * dhn).sum()
    if kind == "lstm":
        dcn = torch.randn(layers, b, h, generator=gen)
        loss = loss + (cn * dcn).sum()
    loss.backward()
    w = Writer(os.path.join(out, f"{kind}.txt"))
    w.add("lengths", lengths)
    w.add("x", x)
    w.add("h0", h0)
    if kind == "lstm":
        w.add("c0", c0)
    for name, p in net.named_parameters():
        w.add(name, p)
    w.add("dy", dy)
    w.add("dhn", dhn)
    if kind == "lstm":
        w.add("dcn", dcn)
    w.add("y", y)
    w.add("hn", hn)
    if kind == "lstm":
        w.add("cn", cn)
    w.add("dx", x.grad)
    w.add("dh0", h0.grad)
    if kind == "lstm":
        w.add("dc0", c0.grad)
    for name, p in net.named_parameters():
        w.add("d" + name, p.grad)
    w.save()


def recurrent_cell_case(out, gen):
    """One step of nn.LSTMCell, nn.GRUCell and nn.RNNCell (tanh and relu) on B = 5 sequences, I = 6, H = 7, from a
    non-zero state, with the gradients of a loss on the new state. Tensors are prefixed with the cell's tag."""
    b, fin, h = 5, 6, 7
    cells = [("lstm_cell", torch.nn.LSTMCell(fin, h)), ("gru_cell", torch.nn.GRUCell(fin, h)),
             ("rnn_cell", torch.nn.RNNCell(fin, h)), ("rnn_relu_cell", torch.nn.RNNCell(fin, h, nonlinearity="relu"))]
    w = Writer(os.path.join(out, "recurrent_cells.txt"))
    for tag, cell in cells:
        lstm = tag == "lstm_cell"
        x = leaf((b, fin), gen)
        h0 = leaf((b, h), gen, 0.5)
        c0 = leaf((b, h), gen, 0.5)
        dh1 = torch.randn(b, h, generator=gen)
        if lstm:
            h1, c1 = cell(x, (h0, c0))
            dc1 = torch.randn(b, h, generator=gen)
            loss = (h1 * dh1).sum() + (c1 * dc1).sum()
        else:
            h1 = cell(x, h0)
            loss = (h1 * dh1).sum()
        loss.backward()
        w.add(tag + ".x", x)
        w.add(tag + ".h0", h0)
        if lstm:
            w.add(tag + ".c0", c0)
        for name, p in cell.named_parameters():
            w.add(tag + "." + name, p)
        w.add(tag + ".dh1", dh1)
        w.add(tag + ".h1", h1)
        if lstm:
            w.add(tag + ".dc1", dc1)
            w.add(tag + ".c1", c1)
            w.add(tag + ".dc0", c0.grad)
        w.add(tag + ".dx", x.grad)
        w.add(tag + ".dh0", h0.grad)
        for name, p in cell.named_parameters():
            w.add(tag + ".d" + name, p.grad)
    w.save()


def optimizer_case(out, gen):
    """A Linear(8, 6) -> tanh -> Linear(6, 5) classifier trained 10 steps with each optimizer."""
    n, fin, hid, v = 16, 8, 6, 5
    x = torch.randn(n, fin, generator=gen)
    targets = torch.randint(0, v, (n,), generator=gen)
    torch.manual_seed(1234)
    init = torch.nn.Sequential(torch.nn.Linear(fin, hid), torch.nn.Tanh(), torch.nn.Linear(hid, v))
    w = Writer(os.path.join(out, "optim.txt"))
    w.add("x", x)
    w.add("targets", targets)
    for name, p in init.named_parameters():
        w.add("init." + name, p)
    configs = [
        ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=False)),
        ("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
        ("adam", lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01,
                                             foreach=False)),
        ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                                               foreach=False)),
    ]
    for tag, make in configs:
        model = torch.nn.Sequential(torch.nn.Linear(fin, hid), torch.nn.Tanh(), torch.nn.Linear(hid, v))
        model.load_state_dict(init.state_dict())
        opt = make(model.parameters())
        losses = []
        for _ in range(10):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), targets)
            loss.backward()
            losses.append(loss.item())
            opt.step()
        w.add(tag + ".losses", np.array(losses))
        for name, p in model.named_parameters():
            w.add(tag + "." + name, p)
    # Clipping: the total norm PyTorch reports and the clipped gradient of the first layer's weight.
    model = torch.nn.Sequential(torch.nn.Linear(fin, hid), torch.nn.Tanh(), torch.nn.Linear(hid, v))
    model.load_state_dict(init.state_dict())
    F.cross_entropy(model(x), targets).backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
    w.add("clip.norm", norm.reshape(1))
    w.add("clip.0.weight", model[0].weight.grad)
    w.save()


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "tests", "data", "nn")
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20261130)
    torch.manual_seed(20261130)
    linear_case(out, gen)
    embedding_case(out, gen)
    layer_norm_case(out, gen)
    pointwise_case(out, gen)
    loss_case(out, gen)
    for kind in ["rnn", "lstm", "gru"]:
        recurrent_case(out, gen, kind)
    optimizer_case(out, gen)
    # Cases added later come last, so that the files above keep their values.
    recurrent_case(out, gen, "rnn_relu")
    recurrent_cell_case(out, gen)


if __name__ == "__main__":
    main()
