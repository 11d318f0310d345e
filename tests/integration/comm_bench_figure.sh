#!/usr/bin/env bash
# comm_bench_figure.sh WORK PYTHON ANALYSIS_SCRIPT MPIEXEC... : runs comm_bench into WORK/out,
# checks the results directory, then draws the figure with analysis/comm_bench.py.
set -euo pipefail
work="$1"; python="$2"; script="$3"; shift 3
rm -rf "$work"; mkdir -p "$work"
"$@" --threads 1 -b 1K -e 1M -f 32 -n 3 -w 1 -o all --out "$work/out"
for f in run.json metrics.csv summary.json; do
  test -s "$work/out/$f" || { echo "comm_bench wrote no $f"; exit 1; }
done
"$python" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['world_size']==2 and len(r['ranks'])==2 and r['git_sha'] and r['libraries']['mpi'], r" "$work/out/run.json"
"$python" "$script" "$work/out" --out "$work/figure.png"
test -s "$work/figure.png"
