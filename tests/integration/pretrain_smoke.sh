#!/usr/bin/env bash
# pretrain end to end: usage: pretrain_smoke.sh OUT_DIR TOKENIZE LAUNCHER... PRETRAIN --threads 1
# Tokenizes the default corpus (Debian's fortunes) with the tokenize tool, then trains a small GPT
# on it over 2 pipeline stages with 2 micro-batches for 6 steps; checks the step lines and every
# results file.
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
echo "pretrain_smoke: OK"
