#!/usr/bin/env bash
# elm-gpt train and elm-lstm-lm train under mpirun, as a user runs them: train_on_two_processes.sh ELM_GPT ELM_LSTM_LM
# DIR. Each trains a tiny model on a tiny corpus with 2 processes and with 1, the same global --batch; the losses of
# every step (loss.csv, 6 decimals) must agree within 1e-5 (float rounding: the gradient is summed in another
# order). A --batch that the processes do not divide must fail with the batch rule.
set -euo pipefail
gpt=$1 lstm=$2 dir=$3
mpirun_sh="$(dirname "$0")/mpirun.sh"
rm -rf "$dir"
mkdir -p "$dir/data"
subjects=("The cat" "A dog" "The bird") verbs=(sees likes finds) objects=("the mat" "a log" "the tree" "a house")
for i in $(seq 0 199); do
  echo "${subjects[$((i % 3))]} ${verbs[$((i / 3 % 3))]} ${objects[$((i / 9 % 4))]}."
done > "$dir/data/tiny.txt"

same_losses() {  # loss.csv of two runs: the same steps, losses within 1e-5
  paste -d, "$1/loss.csv" "$2/loss.csv" | awk -F, 'NR > 1 { d = $2 - $5; if (d < 0) d = -d; if (d > m) m = d; n++ }
    END { printf "%d steps, losses within %g\n", n, m; exit !(n > 0 && m <= 1e-5) }'
}

export OMP_NUM_THREADS=1
gpt_args=(train --task tang --data "$dir/data" --layers 1 --width 16 --heads 2 --context 16 --steps 6 --seconds 0
  --warmup 2 --samples 0 --eval-units 5 --quiet)
"$mpirun_sh" 2 "$gpt" "${gpt_args[@]}" --batch 8 --out "$dir/gpt-2" | tee "$dir/gpt-2.log"
grep -q "2 processes: .* of training in the allreduces" "$dir/gpt-2.log"
"$gpt" "${gpt_args[@]}" --batch 8 --out "$dir/gpt-1" > /dev/null
echo -n "elm-gpt train, 2 processes against 1: " && same_losses "$dir/gpt-2" "$dir/gpt-1"

lstm_args=(train --data "$dir/data" --level char --embedding 8 --hidden 16 --batch 4 --seq-len 16 --steps 6
  --seconds 0 --no-ngram --samples 0 --quiet)
"$mpirun_sh" 2 "$lstm" "${lstm_args[@]}" --out "$dir/lstm-2" > /dev/null
"$lstm" "${lstm_args[@]}" --out "$dir/lstm-1" > /dev/null
echo -n "elm-lstm-lm train, 2 processes against 1: " && same_losses "$dir/lstm-2" "$dir/lstm-1"

if "$mpirun_sh" 2 "$gpt" "${gpt_args[@]}" --batch 7 --out "$dir/gpt-odd" > "$dir/odd.log" 2>&1; then
  echo "FAILED: --batch 7 on 2 processes succeeded"
  exit 1
fi
grep -q -- "--batch 7 does not divide among 2 processes" "$dir/odd.log"
echo "--batch 7 on 2 processes: refused with the batch rule"
