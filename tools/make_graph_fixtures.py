#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch Geometric reference fixtures of tests/cnn/test_graph_*.cpp into tests/data/graph/.

Each fixture is a JSON file in the format of tools/make_attention_fixtures.py: {"meta": {...}, "tensors": {...}}.
The references are torch_geometric.nn.GCNConv (default options: normalize, add_self_loops, improved=False) and
GATConv (add_self_loops, negative_slope 0.2, no attention dropout; heads concatenated or averaged) and SAGEConv
(aggr="mean", with and without root_weight and bias), in float64.
Node features are PyTorch Geometric's (N, C), whose row-major bytes are elm's column-major (C, N). Parameters keep
the state_dict names and shapes: lin.weight (out, in), bias (out); GATConv's att_src and att_dst (1, heads, out).

meta.edges lists the graph as elm's Graph receives it, [source, target, weight] per edge, with meta.direction:
"directed" edges go to GCNConv's edge_index as they are; "undirected" ones go in both directions (u, v) and (v, u)
(self-loops once), which is what elm's EdgeDirection::undirected means. The edge lists include a duplicate edge, an
explicit self-loop and a node without edges, to pin down how GCNConv treats them (duplicates add up; a listed
self-loop's weight replaces the loop of weight 1 that every node gets; an isolated node keeps only its loop).

Inputs, parameters and weights are drawn in float32 and the reference is computed in float64 from those exact values,
so elm's float and double builds are compared against the same numbers. Gradients are those of loss = sum(y * g)
for a fixed random g (stored as "g"): grad.x and grad.<parameter> of each parameter. GATConv and SAGEConv
ignore edge weights: their fixtures list weight 1.

Usage: python3 tools/make_graph_fixtures.py [--out tests/data/graph]   (pip install torch torch_geometric)
"""
import argparse
import os
import sys

import torch
import torch_geometric
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixtures import F64, rand, write  # noqa: E402  (the same JSON format and draws)


def edge_index_of(edges, direction):
    """GCNConv's edge_index (2, E) and edge_weight (E) for elm's edge list read with `direction`."""
    pairs, weights = [], []
    for s, t, w in edges:
        pairs.append((s, t))
        weights.append(w)
        if direction == "undirected" and s != t:
            pairs.append((t, s))
            weights.append(w)
    return torch.tensor(pairs, dtype=torch.long).t().contiguous(), torch.tensor(weights, dtype=F64)


def gcn_fixture(out_dir, gen, name, num_nodes, edges, direction, weighted, cin, cout, bias):
    conv = GCNConv(cin, cout, bias=bias).to(F64)
    with torch.no_grad():
        conv.lin.weight.copy_(rand(gen, cout, cin, scale=0.5))
        if bias:
            conv.bias.copy_(rand(gen, cout, scale=0.5))
    edge_index, edge_weight = edge_index_of(edges, direction)
    x = rand(gen, num_nodes, cin).requires_grad_(True)
    y = conv(x, edge_index, edge_weight if weighted else None)
    g = rand(gen, *y.shape)
    (y * g).sum().backward()
    tensors = {"x": x, "y": y, "g": g, "grad.x": x.grad, "lin.weight": conv.lin.weight,
               "grad.lin.weight": conv.lin.weight.grad}
    if bias:
        tensors["bias"] = conv.bias
        tensors["grad.bias"] = conv.bias.grad
    meta = {"reference": "torch_geometric.nn.GCNConv, float64", "torch_geometric": torch_geometric.__version__,
            "num_nodes": num_nodes, "in_channels": cin, "out_channels": cout, "bias": bias, "direction": direction,
            "edges": [[s, t, (w if weighted else 1.0)] for s, t, w in edges]}
    write(out_dir, name, meta, tensors)


def run_unweighted(conv, gen, num_nodes, cin, edges, direction):
    """x, y = conv(x, edge_index) (no edge weights), g, and the gradients of sum(y * g): x's and each parameter's,
    with the parameters themselves under their state_dict names."""
    edge_index, _ = edge_index_of(edges, direction)
    x = rand(gen, num_nodes, cin).requires_grad_(True)
    y = conv(x, edge_index)
    g = rand(gen, *y.shape)
    (y * g).sum().backward()
    tensors = {"x": x, "y": y, "g": g, "grad.x": x.grad}
    for pname, p in conv.named_parameters():
        tensors[pname] = p
        tensors["grad." + pname] = p.grad
    return tensors


def gat_fixture(out_dir, gen, name, num_nodes, edges, direction, cin, cout, heads, concat, bias):
    conv = GATConv(cin, cout, heads=heads, concat=concat, bias=bias).to(F64)
    with torch.no_grad():
        conv.lin.weight.copy_(rand(gen, heads * cout, cin, scale=0.5))
        conv.att_src.copy_(rand(gen, 1, heads, cout))
        conv.att_dst.copy_(rand(gen, 1, heads, cout))
        if bias:
            conv.bias.copy_(rand(gen, *conv.bias.shape, scale=0.5))
    tensors = run_unweighted(conv, gen, num_nodes, cin, edges, direction)
    meta = {"reference": "torch_geometric.nn.GATConv, float64", "torch_geometric": torch_geometric.__version__,
            "num_nodes": num_nodes, "in_channels": cin, "out_channels": cout, "heads": heads, "concat": concat,
            "bias": bias, "direction": direction, "edges": [[s, t, 1.0] for s, t, _ in edges]}
    write(out_dir, name, meta, tensors)


def sage_fixture(out_dir, gen, name, num_nodes, edges, direction, cin, cout, root_weight, bias):
    conv = SAGEConv(cin, cout, aggr="mean", root_weight=root_weight, bias=bias).to(F64)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(rand(gen, *p.shape, scale=0.5))
    tensors = run_unweighted(conv, gen, num_nodes, cin, edges, direction)
    meta = {"reference": "torch_geometric.nn.SAGEConv(aggr='mean'), float64",
            "torch_geometric": torch_geometric.__version__, "num_nodes": num_nodes, "in_channels": cin,
            "out_channels": cout, "root_weight": root_weight, "bias": bias, "direction": direction,
            "edges": [[s, t, 1.0] for s, t, _ in edges]}
    write(out_dir, name, meta, tensors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "graph"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(20261204)
    # a path with a chord, listed in both directions by hand; node 5 has no edges
    path = [(0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, 3, 1.0), (3, 2, 1.0), (0, 3, 1.0), (3, 0, 1.0),
            (3, 4, 1.0), (4, 3, 1.0)]
    gcn_fixture(args.out, gen, "gcn_basic", 6, path, "directed", False, 4, 3, True)
    # directed edges (messages one way only), a duplicate (2 -> 0 twice) and a listed self-loop (4 -> 4), unweighted
    directed = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (2, 0, 1.0), (3, 2, 1.0), (4, 4, 1.0), (4, 0, 1.0),
                (1, 3, 1.0)]
    gcn_fixture(args.out, gen, "gcn_directed_duplicates", 5, directed, "directed", False, 3, 5, True)
    # undirected and weighted (float32-exact weights), a weighted self-loop (2 -> 2, 2.5) and a duplicate (0 - 1);
    # node 6 has no edges
    weighted = [(0, 1, 0.5), (1, 2, 2.0), (2, 3, 1.5), (3, 4, 0.25), (4, 5, 3.0), (5, 0, 1.0), (0, 3, 0.75),
                (2, 2, 2.5), (0, 1, 1.25)]
    gcn_fixture(args.out, gen, "gcn_weighted_undirected", 7, weighted, "undirected", True, 5, 4, False)
    gcn_fixture(args.out, gen, "gcn_weighted_undirected_bias", 7, weighted, "undirected", True, 2, 6, True)
    # GATConv (add_self_loops, negative_slope 0.2, no attention dropout): heads concatenated or averaged
    gat_fixture(args.out, gen, "gat_concat_directed", 5, directed, "directed", 3, 4, 2, True, True)
    gat_fixture(args.out, gen, "gat_mean_undirected", 7, weighted, "undirected", 4, 3, 3, False, True)
    gat_fixture(args.out, gen, "gat_one_head", 6, path, "directed", 2, 5, 1, True, False)
    # SAGEConv's mean over the edges as listed: the duplicate 2 -> 0 counts twice, the listed loop 4 -> 4 is a
    # message from node 4 itself, node 4 receives nothing else; node 5 (path) and 6 (weighted) receive nothing
    sage_fixture(args.out, gen, "sage_directed_duplicates", 5, directed, "directed", 3, 4, True, True)
    sage_fixture(args.out, gen, "sage_basic_no_root", 6, path, "directed", 4, 3, False, True)
    sage_fixture(args.out, gen, "sage_undirected_no_bias", 7, weighted, "undirected", 5, 2, True, False)


if __name__ == "__main__":
    main()
