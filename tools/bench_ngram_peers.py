#!/usr/bin/env python3
"""Runs elm's n-gram benchmarks next to the peers in one run and prints the Markdown table of docs/benchmarks.md.

Usage (from the repository root, after building elm-bench-ngram and elm-ngram in Release):
  python3 tools/bench_ngram_peers.py build/bin [--reference /work/shared/reference/kenlm] [--lmplz PATH]

Measures, all as CPU time of this machine in the same run:
  - elm: elm-bench-ngram (estimation, counting, ARPA/binary load, query throughput) on tests/data/ngram;
    peak RSS of `elm-ngram estimate` measured by GNU time (Debian package `time`).
  - KenLM through the Python `kenlm` module (0.3.0; its C++ core does the work): ARPA load time and
    model.score() per sentence over test.txt, on the very ARPA files elm wrote.
  - NLTK 3.x nltk.lm.KneserNeyInterpolated: fit (counting only, probabilities are lazy) on train.txt,
    and logscore() on the first 20 test sentences, extrapolated to every n-gram of the model.
  - KenLM's lmplz, with --lmplz PATH: `lmplz -o N -S 1G` (the reference's command) and `-S 50M` (near the least
    it accepts here: it wants 24 MB for its vocabulary hash alone) on train.txt writing ARPA, timed like
    `elm-ngram estimate` (peak RSS, CPU time user + sys, wall time) by GNU time in the same run.
    lmplz runs several threads, so its CPU time exceeds its wall time; elm-ngram is single-threaded.
    (tools/make_lmplz_prune_fixtures.py says how to build lmplz from the PyPI sdist.) Without --lmplz the rows
    quote the peak RSS and time printed in lmplz's logs in the reference folder (another run, for scale only).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "ngram"


def child_peak_rss_kb(cmd):
    """Peak RSS (kB), CPU time (user + sys, s) and wall time (s) of cmd, best CPU time of three runs."""
    best = None
    for _ in range(3):
        # GNU time reports the child's own peak (a wait4 from Python can report the forking parent's peak).
        out = subprocess.run(["/usr/bin/time", "-f", "%M %U %S %e"] + cmd, check=True, capture_output=True, text=True)
        rss, user, system, wall = out.stderr.strip().splitlines()[-1].split()
        run = (int(rss), float(user) + float(system), float(wall))
        best = run if best is None or run[1] < best[1] else best
    return best


def run_elm_bench(bin_dir, tmp):
    env = dict(os.environ, ELM_SOURCE_DIR=str(ROOT), TMPDIR=tmp)
    out = subprocess.run([str(Path(bin_dir) / "elm-bench-ngram"), "--benchmark_format=json",
                          "--benchmark_min_time=0.5"], check=True, capture_output=True, text=True, env=env).stdout
    return {b["name"]: b for b in json.loads(out)["benchmarks"]}


def kenlm_numbers(arpa, test_lines, repeats=5):
    code = f"""
import json, sys, time, kenlm
lines = [l.rstrip('\\n') for l in open({str(test_lines)!r}, encoding='utf-8')]
t = time.process_time(); m = kenlm.Model({arpa!r}); load = time.process_time() - t
tokens = sum(len(l.split()) + 1 for l in lines)
best = None
for _ in range({repeats}):
    t = time.process_time(); s = 0.0
    for l in lines: s += m.score(l, bos=True, eos=True)
    dt = time.process_time() - t; best = dt if best is None else min(best, dt)
print(json.dumps({{"load": load, "tokens": tokens, "query": best}}))
"""
    return json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                     text=True).stdout)


def nltk_numbers(order, ngrams):
    code = f"""
import json, time
from nltk.lm import KneserNeyInterpolated
from nltk.lm.preprocessing import padded_everygram_pipeline
sents = [l.split() for l in open({str(DATA / 'train.txt')!r}, encoding='utf-8')]
t = time.process_time()
train, vocab = padded_everygram_pipeline({order}, sents)
lm = KneserNeyInterpolated({order}); lm.fit(train, vocab)
fit = time.process_time() - t
t = time.process_time(); k = 0
for s in [l.split() for l in open({str(DATA / 'test.txt')!r}, encoding='utf-8')][:20]:
    ctx = ['<s>'] * ({order} - 1)
    for w in s + ['</s>']:
        lm.logscore(w, ctx[len(ctx) - ({order} - 1):]); ctx.append(w); k += 1
per = (time.process_time() - t) / k
print(json.dumps({{"fit": fit, "per_score": per}}))
"""
    r = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    r["materialize"] = r["per_score"] * ngrams
    return r


def lmplz_log(reference, order):
    text = (Path(reference) / f"lmplz.o{order}.log").read_text()
    m = re.search(r"RSSMax:(\d+) kB\tuser:([\d.]+)\tsys:([\d.]+)\tCPU:[\d.]+\treal:([\d.]+)", text)
    return int(m.group(1)), float(m.group(2)) + float(m.group(3)), float(m.group(4))


def lmplz_run(lmplz, order, tmp, memory):
    return child_peak_rss_kb([lmplz, "-o", str(order), "-S", memory, "-T", tmp, "--text", str(DATA / "train.txt"),
                              "--arpa", f"{tmp}/lmplz.o{order}.arpa"])


def probing_bytes(reference, order, ngrams):
    text = (Path(reference) / f"lmplz.o{order}.log").read_text()
    kb = int(re.search(r"probing (\d+) assuming -p 1.5\n", text).group(1))
    return kb * 1024 / ngrams


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--reference", default="/work/shared/reference/kenlm")
    ap.add_argument("--lmplz", help="KenLM's lmplz, run on train.txt in the same run (else its logs are quoted)")
    args = ap.parse_args()
    import kenlm  # noqa: F401  (fail early when missing)
    import nltk

    tmp = tempfile.mkdtemp(prefix="elm-bench-ngram-")
    b = run_elm_bench(args.bin_dir, tmp)
    cpu = lambda name: b[name]["cpu_time"] / 1e3 if b[name]["time_unit"] == "ms" else b[name]["cpu_time"]
    rows = []
    print(f"# elm-bench-ngram + kenlm {getattr(kenlm, '__version__', '0.3.0')} + nltk {nltk.__version__}, "
          f"{'+ lmplz (' + args.lmplz + ') ' if args.lmplz else ''}{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| what | order | elm | peer | peer value | ratio (peer / elm time) |")
    print("|---|---|---|---|---|---|")
    for order in (3, 5):
        ngrams = b[f"BM_EstimateKneserNey/{order}"]["ngrams"]
        est = cpu(f"BM_EstimateKneserNey/{order}")
        count = cpu(f"BM_Count/{order}")
        nl = nltk_numbers(order, ngrams)
        rss, elm_cpu, elm_wall = child_peak_rss_kb([str(Path(args.bin_dir) / "elm-ngram"), "estimate", "-q", "-o",
                                                    str(order), "--text", str(DATA / "train.txt"), "--arpa",
                                                    f"{tmp}/o{order}.arpa"])
        if args.lmplz:
            lmplz = [(f"lmplz -S {m} (same run)", *lmplz_run(args.lmplz, order, tmp, m)) for m in ("1G", "50M")]
        else:
            lmplz = [("lmplz -S 1G (its log)", *lmplz_log(args.reference, order))]
        arpa = f"{tmp}/elm-bench-ngram.o{order}.arpa"
        k = kenlm_numbers(arpa, DATA / "test.txt")
        q_elm_arpa = b[f"BM_QueryArpaLoaded/{order}"]["items_per_second"]
        q_elm_bin = b[f"BM_QueryBinaryLoaded/{order}"]["items_per_second"]
        q_kenlm = k["tokens"] / k["query"]
        q_elm_text = b[f"BM_QuerySentences/{order}"]["items_per_second"]
        rows += [
            ("estimate, KN (count + probabilities)", order, f"{est * 1e3:.1f} ms", "NLTK fit (counting only)",
             f"{nl['fit'] * 1e3:.0f} ms", f"{nl['fit'] / est:.0f}x"),
            ("estimate, KN", order, f"{est * 1e3:.1f} ms", "NLTK fit + logscore of every n-gram (extrapolated)",
             f"{(nl['fit'] + nl['materialize']):.0f} s", f"{(nl['fit'] + nl['materialize']) / est:.0f}x"),
            ("counting only", order, f"{count * 1e3:.1f} ms", "NLTK fit", f"{nl['fit'] * 1e3:.0f} ms",
             f"{nl['fit'] / count:.0f}x"),
        ]
        for lmplz_name, lmplz_rss, lmplz_cpu, lmplz_wall in lmplz:
            rows += [
                ("estimate peak RSS (`elm-ngram estimate`, whole process)", order, f"{rss / 1024:.0f} MB",
                 lmplz_name, f"{lmplz_rss / 1024:.0f} MB", f"{lmplz_rss / rss:.1f}x (lmplz / elm memory)"),
                ("estimate CPU time, user + sys (`elm-ngram estimate`, with file I/O)", order, f"{elm_cpu:.2f} s",
                 lmplz_name, f"{lmplz_cpu:.2f} s", f"{lmplz_cpu / elm_cpu:.1f}x"),
                ("estimate wall time (`elm-ngram estimate`, 1 thread; lmplz several)", order, f"{elm_wall:.2f} s",
                 lmplz_name, f"{lmplz_wall:.2f} s", f"{lmplz_wall / elm_wall:.1f}x"),
            ]
        rows += [
            ("query sentences from text (split + vocabulary + scores), tokens/s", order,
             f"{q_elm_text / 1e6:.1f} M/s", "kenlm model.score(sentence)", f"{q_kenlm / 1e6:.2f} M/s",
             f"{q_elm_text / q_kenlm:.2f}x (elm / kenlm speed)"),
            ("query n-gram lookups (word ids, State API), ARPA-loaded", order, f"{q_elm_arpa / 1e6:.1f} M/s", "kenlm model.score",
             f"{q_kenlm / 1e6:.2f} M/s", f"{q_elm_arpa / q_kenlm:.2f}x (elm / kenlm speed)"),
            ("query n-gram lookups (word ids, State API), binary-loaded", order, f"{q_elm_bin / 1e6:.1f} M/s", "kenlm model.score",
             f"{q_kenlm / 1e6:.2f} M/s", f"{q_elm_bin / q_kenlm:.2f}x (elm / kenlm speed)"),
            ("load ARPA", order, f"{cpu(f'BM_LoadArpa/{order}') * 1e3:.0f} ms", "kenlm.Model(arpa)",
             f"{k['load'] * 1e3:.0f} ms", f"{k['load'] / cpu(f'BM_LoadArpa/{order}'):.1f}x"),
            ("load binary", order, f"{cpu(f'BM_LoadBinary/{order}') * 1e3:.1f} ms", "elm ARPA load",
             f"{cpu(f'BM_LoadArpa/{order}') * 1e3:.0f} ms",
             f"{cpu(f'BM_LoadArpa/{order}') / cpu(f'BM_LoadBinary/{order}'):.0f}x"),
            ("memory per n-gram", order, f"{b[f'BM_QueryArpaLoaded/{order}']['bytes_per_ngram']:.1f} B",
             "KenLM probing -p 1.5 (lmplz's log)", f"{probing_bytes(args.reference, order, ngrams):.1f} B", "-"),
        ]
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
