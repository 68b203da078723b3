#!/usr/bin/env bash
# Wall time of `elm-ngram estimate --order 5` on the Austen corpus (examples/data/austen, the six novels concatenated),
# in one process and counted sharded over 2 MPI processes on this machine, best and median of RUNS runs each.
#   tools/bench_ngram_sharded.sh BUILD_DIR [RUNS [PLAIN_BUILD_DIR]]
# BUILD_DIR: a Release build configured with -DELM_MPI=ON (build BUILD_DIR/bin/elm-ngram first); PLAIN_BUILD_DIR
# (optional): a Release build without MPI, for the row of the program as users without MPI run it. Columns: the whole
# job as the shell sees it (mpirun included), and what rank 0 reports: reading + counting (merge included), and the
# whole estimate without MPI's start and end. Every sharded ARPA file is compared with the one-process file.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1
runs=${2:-5}
plain=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat examples/data/austen/*.txt >"$work/austen.txt"
run() {  # label, program, then the command line before the program
  local label=$1 ngram=$2
  shift 2
  local walls=() counts=() totals=()
  for _ in $(seq "$runs"); do
    rm -f "$work/out.arpa"
    local start end
    start=$(date +%s%N)
    "$@" "$ngram" estimate --order 5 --text "$work/austen.txt" --arpa "$work/out.arpa" 2>"$work/log"
    end=$(date +%s%N)
    walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
    counts+=("$(sed -n 's/.*read and counted in \([0-9.]*\) s.*/\1/p' "$work/log")")
    totals+=("$(sed -n 's/.* n-grams in \([0-9.]*\) s.*/\1/p' "$work/log")")
    if [ -f "$work/one.arpa" ]; then cmp "$work/one.arpa" "$work/out.arpa"; else cp "$work/out.arpa" "$work/one.arpa"; fi
  done
  stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f / %.3f", v[1], v[int((NR + 1) / 2)] }'; }
  printf '| %s | %s | %s | %s |\n' "$label" "$(stats "${walls[@]}")" "$(stats "${counts[@]}")" "$(stats "${totals[@]}")"
}
here=$(pwd)
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| processes | job wall time, s (best / median) | rank 0: read + count, s | rank 0: estimate without MPI start/end, s |"
echo "|---|---|---|---|"
[ -z "$plain" ] || run "1, built without MPI" "$plain/bin/elm-ngram" env
run "1, built with MPI, no launcher (MPI starts as a singleton)" "$build/bin/elm-ngram" env
run "1, mpirun -np 1" "$build/bin/elm-ngram" "$here/tests/dist/mpirun.sh" 1
run "2, mpirun -np 2 --oversubscribe" "$build/bin/elm-ngram" "$here/tests/dist/mpirun.sh" 2
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
