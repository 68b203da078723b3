#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/hmm/categorical_hmm.json: reference values from hmmlearn's CategoricalHMM.

For each case (a model, sequences sampled from it, and different initial tables for fitting) it records
score and predict_proba and Viterbi decode per sequence, and fit from the initial tables with
init_params="" (10 iterations with tol=-inf, then a run with hmmlearn's default tol=1e-2 to check the
early stop). Also writes cli_model.json, cli_init.json, cli_obs.txt and cli_expected.json beside it for
the elm-hmm test. Run: python3 tools/make_hmm_fixtures.py [output.json]
"""
import json
import os
import sys

import hmmlearn
import numpy as np
from hmmlearn.hmm import CategoricalHMM


def dirichlet_rows(rng, rows, cols, mask=None):
    table = rng.dirichlet(np.ones(cols), size=rows)
    if mask is not None:
        table = table * mask
        table = table / table.sum(axis=1, keepdims=True)
    return table


def make_model(startprob, transmat, emissionprob, **kwargs):
    model = CategoricalHMM(n_components=len(startprob), n_features=emissionprob.shape[1], init_params="",
                           **kwargs)
    model.startprob_ = startprob.copy()
    model.transmat_ = transmat.copy()
    model.emissionprob_ = emissionprob.copy()
    return model


def case(name, n, v, lengths, seed, trans_mask=None, start_mask=None, emit_mask=None):
    rng = np.random.RandomState(seed)
    start = dirichlet_rows(rng, 1, n, None if start_mask is None else start_mask[None, :])[0]
    trans = dirichlet_rows(rng, n, n, trans_mask)
    emit = dirichlet_rows(rng, n, v, emit_mask)
    model = make_model(start, trans, emit)
    sequences = []
    for k, length in enumerate(lengths):
        x, _ = model.sample(length, random_state=seed * 100 + k)
        sequences.append(x[:, 0].astype(int).tolist())
    out = {"name": name, "startprob": start.tolist(), "transmat": trans.tolist(), "emissionprob": emit.tolist(),
           "sequences": sequences, "score": [], "predict_proba": [], "viterbi_path": [], "viterbi_log_prob": []}
    for seq in sequences:
        x = np.asarray(seq).reshape(-1, 1)
        out["score"].append(float(model.score(x)))
        out["predict_proba"].append(model.predict_proba(x).tolist())
        log_prob, path = model.decode(x, algorithm="viterbi")
        out["viterbi_log_prob"].append(float(log_prob))
        out["viterbi_path"].append(path.astype(int).tolist())
    x_all = np.concatenate([np.asarray(s) for s in sequences]).reshape(-1, 1)
    lengths_all = [len(s) for s in sequences]
    out["score_total"] = float(model.score(x_all, lengths_all))

    # Initial tables for EM: another random model with the same zero pattern.
    init_start = dirichlet_rows(rng, 1, n, None if start_mask is None else start_mask[None, :])[0]
    init_trans = dirichlet_rows(rng, n, n, trans_mask)
    init_emit = dirichlet_rows(rng, n, v, None)
    out["init"] = {"startprob": init_start.tolist(), "transmat": init_trans.tolist(),
                   "emissionprob": init_emit.tolist()}
    fits = []
    for n_iter, tol in ((10, -np.inf), (200, 1e-2)):
        learner = make_model(init_start, init_trans, init_emit, n_iter=n_iter, tol=tol)
        learner.fit(x_all, lengths_all)
        fits.append({"n_iter": n_iter, "tol": None if not np.isfinite(tol) else tol,
                     "startprob": learner.startprob_.tolist(), "transmat": learner.transmat_.tolist(),
                     "emissionprob": learner.emissionprob_.tolist(),
                     "history": [float(h) for h in learner.monitor_.history],
                     "iterations": int(learner.monitor_.iter)})
    out["fits"] = fits
    return out


def cli_case(directory):
    """Files for the elm-hmm test: a model, initial tables, symbol ids and hmmlearn's answers."""
    rng = np.random.RandomState(21)
    n, v = 3, 4
    start, trans, emit = (dirichlet_rows(rng, 1, n)[0], dirichlet_rows(rng, n, n), dirichlet_rows(rng, n, v))
    model = make_model(start, trans, emit)
    sequences = [model.sample(length, random_state=2100 + k)[0][:, 0].astype(int).tolist()
                 for k, length in enumerate([12, 1, 30, 7])]
    with open(f"{directory}/cli_model.json", "w") as f:
        json.dump({"startprob": start.tolist(), "transmat": trans.tolist(), "emissionprob": emit.tolist()}, f,
                  indent=1)
    with open(f"{directory}/cli_obs.txt", "w") as f:
        for seq in sequences:
            f.write(" ".join(str(x) for x in seq) + "\n")
    init = (dirichlet_rows(rng, 1, n)[0], dirichlet_rows(rng, n, n), dirichlet_rows(rng, n, v))
    with open(f"{directory}/cli_init.json", "w") as f:
        json.dump({"startprob": init[0].tolist(), "transmat": init[1].tolist(), "emissionprob": init[2].tolist()}, f,
                  indent=1)
    expected = {"decode": []}
    for seq in sequences:
        x = np.asarray(seq).reshape(-1, 1)
        log_prob, path = model.decode(x, algorithm="viterbi")
        expected["decode"].append({"log_likelihood": float(model.score(x)), "viterbi_log_prob": float(log_prob),
                                   "path": path.astype(int).tolist()})
    # elm-hmm fit --iterations 10 (default --tol 0.01) against hmmlearn's defaults n_iter=10, tol=1e-2.
    learner = make_model(*init, n_iter=10, tol=1e-2)
    x_all = np.concatenate([np.asarray(s) for s in sequences]).reshape(-1, 1)
    learner.fit(x_all, [len(s) for s in sequences])
    expected["fit"] = {"startprob": learner.startprob_.tolist(), "transmat": learner.transmat_.tolist(),
                       "emissionprob": learner.emissionprob_.tolist(),
                       "history": [float(h) for h in learner.monitor_.history]}
    expected["generator"] = "tools/make_hmm_fixtures.py"
    expected["hmmlearn"] = hmmlearn.__version__
    with open(f"{directory}/cli_expected.json", "w") as f:
        json.dump(expected, f)
        f.write("\n")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/hmm/categorical_hmm.json"
    cli_case(os.path.dirname(path) or ".")
    band = np.triu(np.ones((4, 4))) - np.triu(np.ones((4, 4)), 2)  # left-right: stay or move one step
    band[3, 0] = 1.0  # and wrap around, so every state stays reachable
    emit_mask = np.ones((4, 5))
    emit_mask[0, 4] = emit_mask[1, 0] = emit_mask[3, 2] = 0.0
    cases = [
        case("one_state", 1, 4, [7, 1, 12], 11),
        case("two_states", 2, 3, [10, 25, 3], 12),
        case("more_states_than_symbols", 6, 2, [30, 30, 15], 13),
        case("zero_transitions", 4, 5, [40, 25, 2], 14, trans_mask=band,
             start_mask=np.array([1.0, 1.0, 0.0, 0.0]), emit_mask=emit_mask),
        case("eight_states", 8, 20, [300, 150, 1, 80], 15),
    ]
    doc = {"generator": "tools/make_hmm_fixtures.py", "hmmlearn": hmmlearn.__version__, "numpy": np.__version__,
           "cases": cases}
    with open(path, "w") as f:
        json.dump(doc, f)
        f.write("\n")


if __name__ == "__main__":
    main()
