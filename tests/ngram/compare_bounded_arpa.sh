#!/usr/bin/env bash
# Estimates an ARPA file with the counts in memory and with --memory (counting in parts spilled to sorted runs and
# merged), and requires the files to be identical byte for byte:
# compare_bounded_arpa.sh ELM_NGRAM ORDER WORK_DIR TEXT... (the texts are concatenated). BUDGETS (default "256K")
# lists the budgets to try. The runs' folder must be gone afterwards. The files stay in WORK_DIR only when they differ.
set -euo pipefail
ngram=$1
order=$2
work=$3
shift 3
rm -rf "$work"
mkdir -p "$work/runs"
cat "$@" >"$work/text.txt"
"$ngram" estimate --order "$order" --text "$work/text.txt" --arpa "$work/memory.arpa" --quiet
for budget in ${BUDGETS:-256K}; do
  "$ngram" estimate --order "$order" --text "$work/text.txt" --arpa "$work/bounded.arpa" --memory "$budget" \
    --temp-dir "$work/runs" --quiet
  cmp "$work/memory.arpa" "$work/bounded.arpa"
  if [ -n "$(ls -A "$work/runs")" ]; then
    echo "runs left in $work/runs" >&2
    exit 1
  fi
  echo "order $order, --memory $budget: $(wc -c <"$work/memory.arpa") bytes, identical to counting in memory"
  rm -f "$work/bounded.arpa"
done
rm -rf "$work"
