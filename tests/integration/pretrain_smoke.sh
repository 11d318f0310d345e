#!/usr/bin/env bash
# pretrain end to end: usage: pretrain_smoke.sh OUT_DIR TOKENIZE LAUNCHER... PRETRAIN --threads 1
# Tokenizes the default corpus (Debian's fortunes) with the tokenize tool, then trains a small GPT
# on it over 2 pipeline stages with 2 micro-batches for 6 steps; checks the step lines and every
# results file. Then the same model over 2 tensor-parallel ranks with fp32 and with bf16 matmuls:
# their losses stay within bf16's rounding of each other.
set -euo pipefail
out=$1
tokenize=$2
shift 2
rm -rf "$out"
"$tokenize" --out "$out/data" >/dev/null
log=$("$@" --pp 2 --micro-batches 2 --layers 2 --d-model 32 --heads 2 --seq 32 --batch 4 --steps 6 \
  --eval-every 3 --eval-batches 2 --data "$out/data" --out "$out/run" 2>&1) || {
  echo "$log"
  exit 1
}
echo "$log"
fail() { echo "pretrain_smoke: $*" >&2; exit 1; }
grep -q "^step 6/6 | loss [0-9.]* | lr .* ms | .* tok/s | MFU [0-9]*%" <<<"$log" || fail "no final step line"
grep -q "dp 1 x tp 1 x pp 2, 2 micro-batches" <<<"$log" || fail "the layout line is missing"
for f in run.json metrics.csv summary.json; do [ -s "$out/run/$f" ] || fail "missing $out/run/$f"; done
rows=$(($(wc -l <"$out/run/metrics.csv") - 1))
[ "$rows" -eq 6 ] || fail "metrics.csv has $rows rows, expected 6"
grep -q '"final_val_loss": [0-9]' "$out/run/summary.json" || fail "summary.json has no validation loss"
grep -q '"pp": 2' "$out/run/summary.json" || fail "summary.json does not record the layout"

# fp32 and bf16 (emulated) over tp 2: the final train losses within 0.2 % (bf16 keeps 8 significant
# bits of each matmul input; over 6 steps the losses were 3e-5 apart, relative).
loss_of() { grep -o '"final_train_loss": [0-9.e+-]*' "$1/summary.json" | awk '{print $2}'; }
for p in fp32 bf16; do
  log=$("$@" --tp 2 --layers 2 --d-model 32 --heads 2 --seq 32 --batch 4 --steps 6 --precision $p \
    --data "$out/data" --out "$out/tp_$p" 2>&1) || { echo "$log"; exit 1; }
  grep -q "matmuls $p" <<<"$log" || fail "the $p run does not say how its matmuls compute"
  grep -q "\"precision\": \"$p\"" "$out/tp_$p/summary.json" || fail "summary.json does not record precision $p"
done
l32=$(loss_of "$out/tp_fp32")
l16=$(loss_of "$out/tp_bf16")
echo "final train loss: fp32 $l32, bf16 $l16"
awk -v a="$l32" -v b="$l16" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.002 * a && a != b) }' ||
  fail "bf16 final loss $l16 is not within 0.2 % of fp32's $l32 (or is bit-identical: no rounding?)"
echo "pretrain_smoke: OK"
