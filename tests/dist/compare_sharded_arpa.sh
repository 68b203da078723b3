#!/usr/bin/env bash
# Estimates an ARPA file in one process and sharded over MPI processes, and requires the files to be identical
# byte for byte: compare_sharded_arpa.sh ELM_NGRAM ORDER WORK_DIR TEXT... (the texts are concatenated).
# PROCESSES (default "2") lists the process counts to try. The files stay in WORK_DIR only when they differ.
set -euo pipefail
ngram=$1
order=$2
work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cat "$@" >"$work/text.txt"
"$ngram" estimate --order "$order" --text "$work/text.txt" --arpa "$work/one.arpa" --quiet
for n in ${PROCESSES:-2}; do
  rm -f "$work/sharded-$n.arpa"
  "$here/mpirun.sh" "$n" "$ngram" estimate --order "$order" --text "$work/text.txt" --arpa "$work/sharded-$n.arpa" --quiet
  cmp "$work/one.arpa" "$work/sharded-$n.arpa"
  echo "order $order, $n processes: $(wc -c <"$work/one.arpa") bytes, identical to one process"
  rm -f "$work/sharded-$n.arpa"
done
rm -f "$work/text.txt" "$work/one.arpa"
