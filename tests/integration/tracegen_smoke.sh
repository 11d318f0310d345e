#!/usr/bin/env bash
# tracegen end to end: usage: tracegen_smoke.sh OUT_DIR TRACEGEN SAMPLE_MODEL
# Generates a synthetic BurstGPT-format trace from the sample model, reads its statistics, fits a
# model to it, generates from that model, validates one against the other, bootstraps to JSONL,
# and generates a bandwidth series and a failure schedule; the same seed must give the same file.
set -euo pipefail
out=$1
tg=$2
sample=$3
rm -rf "$out"
mkdir -p "$out"
fail() { echo "tracegen_smoke: $*" >&2; exit 1; }
run() { "$tg" "$@" || fail "tracegen $* failed"; }

run generate --workload "$sample" --count 20000 --seed 3 --out "$out/a.csv" --summary "$out/a.json"
run generate --workload "$sample" --count 20000 --seed 3 --out "$out/a2.csv"
cmp -s "$out/a.csv" "$out/a2.csv" || fail "the same seed gave different files"
grep -q '"requests": 20000' "$out/a.json" || fail "summary.json does not count 20000 requests"
stats=$(run stats "$out/a.csv")
echo "$stats"
grep -q "20000 requests" <<<"$stats" || fail "stats does not count 20000 requests"
grep -q "inter-arrival: mean" <<<"$stats" || fail "stats has no inter-arrival line"
run fit "$out/a.csv" --out "$out/model.json"
grep -q '"meridian-workload-model"' "$out/model.json" || fail "no model file"
run generate --workload "$out/model.json" --count 20000 --seed 4 --out "$out/b.csv"
grep -q '"rescaled_inter_arrival": {' "$out/model.json" || fail "the fitted model has no rescaled gaps"
run generate --workload "$out/model.json" --count 20000 --seed 4 --stationary --out "$out/b_flat.csv"
cmp -s "$out/b.csv" "$out/b_flat.csv" && fail "--stationary gave the same stream as the windowed generator"
val=$(run validate "$out/a.csv" "$out/b.csv" --json "$out/cmp.json")
echo "$val"
grep -qi "request" <<<"$val" || fail "validate printed no request-length comparison"
[ -s "$out/cmp.json" ] || fail "validate --json wrote nothing"
run generate --trace "$out/a.csv" --mode bootstrap --count 5000 --rate 50 --out "$out/boot.jsonl"
[ "$(wc -l <"$out/boot.jsonl")" -eq 5000 ] || fail "bootstrap wrote $(wc -l <"$out/boot.jsonl") lines, expected 5000"
run stats "$out/boot.jsonl" | grep -q "5000 requests" || fail "the JSONL output does not read back"
run generate --kind bandwidth --mean 100Mbit --sigma 0.3 --duration 60 --out "$out/bw.csv"
[ "$(wc -l <"$out/bw.csv")" -eq 62 ] || fail "the bandwidth series has $(wc -l <"$out/bw.csv") lines, expected 61 samples + header"
run generate --kind bandwidth --mean 100Mbit --sigma 0.3 --rho 0.7 --step 5 --duration 20000 --out "$out/bw_long.csv"
run fit-bandwidth "$out/bw_long.csv" --out "$out/link.json"
grep -q '"meridian-link-model"' "$out/link.json" || fail "fit-bandwidth wrote no link model"
# from the fitted model with a chosen variability: its step (5 s) kept, sigma overridden
bw=$(run generate --kind bandwidth --link-model "$out/link.json" --sigma 0.05 --duration 100 --out "$out/bw_model.csv")
echo "$bw"
grep -q "sigma 0.05, rho 0\.[67]" <<<"$bw" || fail "generate --link-model did not take rho from the model and sigma from --sigma"
[ "$(wc -l <"$out/bw_model.csv")" -eq 22 ] || fail "the series from the link model has $(wc -l <"$out/bw_model.csv") lines, expected 21 samples + header"
run generate --kind failures --nodes 16 --mtbf-hours 24 --duration 864000 --step-time 10 --ranks-per-node 4 --out "$out/sched.txt"
grep -qE '^[0-9]+:[0-9]+:node$' "$out/sched.txt" || fail "no STEP:RANK:node line in the schedule"
run generate --kind failures --nodes 32 --mtbf-hours 10 --duration 3600000 --seed 5 --out "$out/failures.csv"
fit=$(run fit-failures "$out/failures.csv")
echo "$fit"
# 32 nodes x 1000 h / 10 h: ~3200 failures; the fitted MTBF within 10 % of 36000 s
mtbf=$(sed -n 's/^MTBF of one node: \([0-9.e+]*\) s.*/\1/p' <<<"$fit")
awk -v m="$mtbf" 'BEGIN { exit !(m > 32400 && m < 39600) }' || fail "fitted MTBF $mtbf s, expected about 36000 s"
echo "tracegen_smoke: OK"
