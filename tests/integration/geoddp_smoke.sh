#!/usr/bin/env bash
# geoddp end to end: usage: geoddp_smoke.sh OUT_DIR LAUNCHER... GEODDP --threads 1
# A short run of three schemes on the MLP; checks the comparison table, the step lines and every
# results file (per-scheme metrics.csv with an evaluation row, summary.json with a prediction).
set -euo pipefail
out=$1
shift
rm -rf "$out"
log=$("$@" --model mlp --scheme ssgd,flsgd,dreamddp --H 4 --dcs 2 --bandwidth 1Gbit --latency 1ms \
  --iterations 24 --eval-every 12 --eval-samples 1000 --profile-iters 2 --skip 4 --out "$out" 2>&1) || {
  echo "$log"
  exit 1
}
echo "$log"
fail() { echo "geoddp_smoke: $*" >&2; exit 1; }
grep -q "^step    24/24 | loss" <<<"$log" || fail "no final step line"
grep -q "^scheme .*iter_ms .*pred_ms" <<<"$log" || fail "no comparison table"
for s in ssgd flsgd dreamddp; do
  grep -q "^${s}" <<<"$log" || fail "no table row for $s"
  for f in run.json metrics.csv summary.json; do [ -s "$out/$s/$f" ] || fail "missing $out/$s/$f"; done
  rows=$(($(wc -l <"$out/$s/metrics.csv") - 1))
  [ "$rows" -eq 24 ] || fail "$s/metrics.csv has $rows rows, expected 24"
  grep -q '"predicted"' "$out/$s/summary.json" || fail "$s/summary.json has no prediction"
done
for f in run.json metrics.csv summary.json; do [ -s "$out/$f" ] || fail "missing $out/$f"; done
grep -q '"plan"' "$out/dreamddp/summary.json" || fail "dreamddp/summary.json has no plan"
echo "geoddp_smoke: OK"
