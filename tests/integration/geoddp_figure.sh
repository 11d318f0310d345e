#!/usr/bin/env bash
# geoddp_figure.sh WORK PYTHON ANALYSIS_SCRIPT MPIEXEC... : two short geoddp runs (two WAN
# bandwidths, the first with --sweep) into WORK/bw1g and WORK/bw300m, then analysis/geoddp.py on
# both: the three figures must appear and the table name every scheme; a directory that is not a
# results directory, and one with a malformed summary.json, must give exit 2 and one message.
set -euo pipefail
work="$1"; python="$2"; script="$3"; shift 3
rm -rf "$work"; mkdir -p "$work"
fail() { echo "geoddp_figure: $*" >&2; exit 1; }
run() {
  local out=$1; shift
  "$@" --threads 1 --model mlp --scheme ssgd,flsgd,dreamddp --H 4 --dcs 2 --latency 1ms --iterations 24 \
    --eval-every 8 --eval-samples 500 --profile-iters 2 --skip 4 --out "$out" >"$out.log" 2>&1 || {
    cat "$out.log"; fail "geoddp into $out failed"; }
}
run "$work/bw1g" "$@" --bandwidth 1Gbit --sweep
run "$work/bw300m" "$@" --bandwidth 300Mbit
test -s "$work/bw1g/sweep.csv" || fail "geoddp --sweep wrote no sweep.csv"

table=$("$python" "$script" "$work/bw1g" "$work/bw300m" --out "$work/fig/geo") || {
  echo "$table"; fail "the analysis script failed"; }
echo "$table"
for kind in accuracy iteration sweep; do
  png="$work/fig/geo-$kind.png"
  test -s "$png" || fail "no $png"
  "$python" -c "import sys; sys.exit(open(sys.argv[1], 'rb').read(8) != b'\x89PNG\r\n\x1a\n')" "$png" ||
    fail "$png is not a PNG file"
done
for s in ssgd flsgd dreamddp; do grep -q "^$s" <<<"$table" || fail "the table has no row for $s"; done
grep -q "bandwidth 300Mbit" <<<"$table" || fail "the table does not name the 300Mbit run"

# Bad input: exit 2 and one message naming the file.
expect_bad() {
  local regex=$1; shift
  local rc=0 log
  log=$("$python" "$script" "$@" --out "$work/fig/bad" 2>&1) || rc=$?
  [ "$rc" -eq 2 ] || { echo "$log"; fail "exit $rc (expected 2) for $*"; }
  grep -qE "$regex" <<<"$log" || { echo "$log"; fail "the message for $* does not match /$regex/"; }
  [ "$(grep -c '^error:' <<<"$log")" -eq 1 ] || { echo "$log"; fail "not exactly one error line for $*"; }
  echo "exit 2 as expected: $log"
}
mkdir -p "$work/empty"
expect_bad "empty/summary.json does not exist" "$work/empty"
expect_bad "not a directory" "$work/does_not_exist"
cp -r "$work/bw300m" "$work/broken"
echo '{"schemes": [' >"$work/broken/summary.json"
expect_bad "broken/summary.json is not valid JSON" "$work/bw1g" "$work/broken"
[ ! -e "$work/fig/bad-accuracy.png" ] || fail "a figure was written despite the bad directory"
echo "geoddp_figure: OK"
