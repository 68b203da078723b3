#!/usr/bin/env bash
# Peak RSS (GNU time's maximum resident set size, the kernel's VmHWM) and time of `elm-ngram estimate --order ORDER`
# with the counts in memory and with --memory BUDGET (counting in parts spilled to sorted runs), and of lmplz with the
# same -S budget, on ten concatenated copies of the bundled corpora (tests/data/ngram/train.txt and the six Austen
# novels), written to build/tmp (never committed). Every ARPA file is compared with the in-memory one. Ten copies of
# one text hold no n-gram seen once, so the closed-form discounts do not exist: all estimates use the fallback
# discounts (--discount-fallback, lmplz --discount_fallback), which changes neither memory nor time.
#   tools/bench_ngram_memory.sh ELM_NGRAM [ORDER [BUDGETS [LMPLZ]]]     e.g. build-bench/bin/elm-ngram 5 "64M 16M"
set -euo pipefail
cd "$(dirname "$0")/.."
ngram=$1
order=${2:-5}
budgets=${3:-64M}
lmplz=${4:-}
work=build/tmp/bench-ngram-memory
mkdir -p "$work"
corpus=$work/corpus10.txt
if [ ! -f "$corpus" ]; then
  for _ in $(seq 10); do cat tests/data/ngram/train.txt examples/data/austen/*.txt; done >"$corpus"
fi
echo "corpus: $(wc -l <"$corpus") lines, $(wc -w <"$corpus") words, $(du -m "$corpus" | cut -f1) MB"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| program | budget | peak RSS, MB | peak RSS when counted, MB | wall, s | user + sys, s | ARPA |"
echo "|---|---|---|---|---|---|---|"
measure() {  # label, budget, output ARPA, command...
  local label=$1 budget=$2 out=$3
  shift 3
  rm -f "$out"
  if ! /usr/bin/time -f "%M %e %U %S" -o "$work/time" "$@" >"$work/log" 2>&1; then
    echo "| $label | $budget | failed: $(grep -v -e '^Command exited' -e '^ *$' "$work/log" | tail -1) | | | | |"
    return
  fi
  local same="reference"
  if [ "$out" != "$work/memory.arpa" ]; then
    if cmp -s "$work/memory.arpa" "$out"; then same="identical"; else same="differs"; fi
  fi
  read -r kb wall user sys <"$work/time"
  local counted  # elm-ngram's report after counting (lmplz: none)
  counted=$(sed -n 's/.*read and counted in .* (peak RSS \([0-9]*\) MB).*/\1/p' "$work/log")
  awk -v l="$label" -v b="$budget" -v kb="$kb" -v c="${counted:--}" -v w="$wall" -v u="$user" -v s="$sys" -v a="$same" \
    'BEGIN { printf "| %s | %s | %.0f | %s | %.2f | %.2f | %s |\n", l, b, kb / 1024, c, w, u + s, a }'
}
measure "elm-ngram estimate" "in memory" "$work/memory.arpa" \
  "$ngram" estimate --order "$order" --text "$corpus" --arpa "$work/memory.arpa" --discount-fallback
for budget in $budgets; do
  measure "elm-ngram estimate --memory" "$budget" "$work/bounded.arpa" \
    "$ngram" estimate --order "$order" --text "$corpus" --arpa "$work/bounded.arpa" --memory "$budget" \
    --temp-dir "$work" --discount-fallback
  if [ -n "$lmplz" ]; then
    measure "lmplz -S" "$budget" "$work/lmplz.arpa" \
      "$lmplz" -o "$order" -S "$budget" -T "$work/" --text "$corpus" --arpa "$work/lmplz.arpa" --discount_fallback
  fi
done
grep -c . "$work/memory.arpa" | awk '{ print "ARPA lines: " $1 }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
