#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""elm against hmmlearn on the same HMM data, in one run: Viterbi decoding, score, 10 Baum-Welch iterations.

N = 10 states, V = 1,000 symbols, 100 sequences of 10,000 observations (1,000,000 in all), drawn from a
random model with numpy's RandomState(0); EM starts from a second random model (init_params="").
Each --threads count is one comparison at the same thread count: hmmlearn under threadpoolctl's limit (its
numpy/BLAS calls; its Viterbi and forward-backward loops are single-threaded compiled C++), elm with
OMP_NUM_THREADS (it uses threads only when built with -DELM_OPENMP=ON). Times are the best of --repeat runs,
wall clock and process CPU time (all threads); with more than one thread, wall time is the fair measure.

Run: python3 tools/bench_hmm.py --bench build/bin/elm-bench-hmm [--repeat 3] [--threads 1 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import hmmlearn
import numpy as np
from hmmlearn.hmm import CategoricalHMM
from threadpoolctl import threadpool_limits

N, V, SEQUENCES, LENGTH = 10, 1000, 100, 10000


def random_tables(rng):
    def rows(r, c):
        m = rng.uniform(0.01, 1.0, size=(r, c))
        return m / m.sum(axis=1, keepdims=True)
    return rows(1, N)[0], rows(N, N), rows(N, V)


def sample(rng, start, trans, emit):
    cum_start, cum_trans, cum_emit = np.cumsum(start), np.cumsum(trans, axis=1), np.cumsum(emit, axis=1)
    out = []
    for _ in range(SEQUENCES):
        u, w = rng.uniform(size=LENGTH), rng.uniform(size=LENGTH)
        z = min(int(np.searchsorted(cum_start, u[0], side="right")), N - 1)
        seq = np.empty(LENGTH, dtype=np.int64)
        for t in range(LENGTH):
            if t:
                z = min(int(np.searchsorted(cum_trans[z], u[t], side="right")), N - 1)
            seq[t] = min(int(np.searchsorted(cum_emit[z], w[t], side="right")), V - 1)
        out.append(seq)
    return out


def model(tables, **kwargs):
    m = CategoricalHMM(n_components=N, n_features=V, init_params="", **kwargs)
    m.startprob_, m.transmat_, m.emissionprob_ = (t.copy() for t in tables)
    return m


def best_of(repeat, f):
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        f()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def time_hmmlearn(repeat, truth, init, X, lengths):
    results = {}
    results["viterbi"] = best_of(repeat, lambda: model(truth).decode(X, lengths, algorithm="viterbi"))
    results["score"] = best_of(repeat, lambda: model(truth).score(X, lengths))
    results["baum_welch_10"] = best_of(1, lambda: model(init, n_iter=10, tol=-np.inf).fit(X, lengths))
    results["baum_welch_10_scaling"] = best_of(
        1, lambda: model(init, n_iter=10, tol=-np.inf, implementation="scaling").fit(X, lengths))
    return results


def time_elm(bench, repeat, threads, data_dir):
    env = dict(os.environ, ELM_HMM_BENCH_DIR=data_dir, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([bench, "--benchmark_format=json", f"--benchmark_repetitions={repeat}",
                          "--benchmark_report_aggregates_only=false"],
                         env=env, check=True, capture_output=True, text=True).stdout
    elm = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].split("/")[0]
        scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        wall, cpu = b["real_time"] * scale, b["cpu_time"] * scale
        old = elm.get(name, (float("inf"), float("inf")))
        elm[name] = (min(old[0], wall), min(old[1], cpu))
    return elm


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="build/bin/elm-bench-hmm")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="thread counts, each timed on both sides (default: 1)")
    args = parser.parse_args()

    rng = np.random.RandomState(0)
    truth, init = random_tables(rng), random_tables(rng)
    sequences = sample(rng, *truth)
    X = np.concatenate(sequences).reshape(-1, 1)
    lengths = [LENGTH] * SEQUENCES

    rows = [("Viterbi decode", "viterbi", "BM_HmmViterbi"), ("score (forward)", "score", "BM_HmmLogLikelihood"),
            ("10 Baum-Welch iterations", "baum_welch_10", "BM_HmmBaumWelch10"),
            ("10 Baum-Welch iterations (hmmlearn scaling)", "baum_welch_10_scaling", "BM_HmmBaumWelch10")]
    print(f"hmmlearn {hmmlearn.__version__}, numpy {np.__version__}; N={N}, V={V}, {SEQUENCES} x {LENGTH} observations")
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    print("| threads | task | hmmlearn wall / CPU (s) | elm wall / CPU (s) | speed-up wall / CPU |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for name, tables in (("model", truth), ("init", init)):
            with open(f"{d}/{name}.json", "w") as f:
                json.dump({"startprob": tables[0].tolist(), "transmat": tables[1].tolist(),
                           "emissionprob": tables[2].tolist()}, f)
        with open(f"{d}/obs.txt", "w") as f:
            for s in sequences:
                f.write(" ".join(map(str, s.tolist())) + "\n")
        for threads in args.threads:
            with threadpool_limits(limits=threads):
                results = time_hmmlearn(args.repeat, truth, init, X, lengths)
            elm = time_elm(args.bench, args.repeat, threads, d)
            for label, key, bench in rows:
                hw, hc = results[key]
                ew, ec = elm[bench]
                print(f"| {threads} | {label} | {hw:.3f} / {hc:.3f} | {ew:.3f} / {ec:.3f} | "
                      f"{hw / ew:.1f}x / {hc / ec:.1f}x |", flush=True)
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
