#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ (AddressSanitizer and UBSan on) and runs
# each for SECONDS (default 30), starting from the sample traces of traces/samples (prefixed with the
# byte that picks their reader) and from the past findings in tests/fuzz/regressions.
# Usage: tests/fuzz/run.sh [SECONDS] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
work=${2:-build/fuzz}
cxx=$(command -v clang++ || true)
[ -n "$cxx" ] || { echo "tests/fuzz/run.sh: needs clang++ (apt-get install clang)" >&2; exit 2; }
mkdir -p "$work/corpus"
"$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I lib -I . \
  tests/fuzz/fuzz_trace_readers.cpp lib/trace/readers.cpp lib/trace/request_trace.cpp kernels/common/error.cpp \
  -o "$work/fuzz_trace_readers"
# Seeds: each sample with the selector byte of its reader.
seed() { { printf "\\x$(printf %02x "$1")"; cat "$2"; } >"$work/corpus/$(basename "$2").$1"; }
s=traces/samples
seed 0 "$s/burstgpt_v1.csv"; seed 0 "$s/burstgpt_v2.csv"; seed 1 "$s/azure_conv.csv"; seed 2 "$s/requests.jsonl"
seed 3 "$s/inter_region_throughput.csv"; seed 4 "$s/inter_region_rtt.csv"; seed 5 "$s/link_bandwidth.csv"
seed 6 "$s/node_failures.csv"; seed 7 "$s/jobs.csv"
# Inputs that once found a defect, selector byte included: run first, every time.
cp tests/fuzz/regressions/* "$work/corpus/"
trap 'rm -f "$work"/meridian_fuzz_trace_*' EXIT
MERIDIAN_FUZZ_SCRATCH=$work "$work/fuzz_trace_readers" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  "$work/corpus"
