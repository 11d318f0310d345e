#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ (AddressSanitizer and UBSan on) and runs
# them one after the other, SECONDS in all (default 30) split evenly between them:
#   fuzz_trace_readers  the trace readers of lib/trace
#   fuzz_inputs         the other parsers of user files and text: the link model's units and CSV files,
#                       the data-center map, token and IDX files, documents of a corpus, tracegen's JSON
#                       models (link and workload), and the name parsers (dtype, device, scheme, ...)
# Each starts from seeds made here (the sample files of traces/samples and small valid inputs, each
# prefixed with the byte that picks its parser) and from its past findings in
# tests/fuzz/regressions/<target>/. A crash, a sanitizer report, an exception other than
# meridian::InputError and a hang (10 s on one input) are findings, written to WORK_DIR as
# <target>-crash-* (or -timeout-*, -oom-*).
# Usage: tests/fuzz/run.sh [SECONDS] [WORK_DIR]
# Replaying inputs: MERIDIAN_FUZZ_SHOW=1 WORK_DIR/fuzz_inputs FILE... prints each one's InputError
# message or "parsed".
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
work=${2:-build/fuzz}
cxx=$(command -v clang++ || true)
[ -n "$cxx" ] || { echo "tests/fuzz/run.sh: needs clang++ (apt-get install clang)" >&2; exit 2; }
mpicxx=$(command -v mpicxx || true)
[ -n "$mpicxx" ] || { echo "tests/fuzz/run.sh: needs Open MPI's mpicxx (scripts/bootstrap)" >&2; exit 2; }
targets=(fuzz_trace_readers fuzz_inputs)
trace_sources=(kernels/common/error.cpp lib/trace/readers.cpp lib/trace/request_trace.cpp)
input_sources=(lib/comm/communicator.cpp lib/comm/link_model.cpp lib/comm/mesh_layout.cpp
  lib/core/dtype.cpp lib/core/log.cpp lib/core/rng.cpp lib/core/tensor.cpp lib/data/idx.cpp
  lib/data/tokens.cpp lib/dist/sim/simulator.cpp lib/trace/distributions.cpp lib/trace/fit.cpp
  lib/trace/generate.cpp)

# Every source compiled once, in parallel, one function (and datum) per section: tensor.cpp,
# tokens.cpp and communicator.cpp also hold code that needs the Kokkos kernels or MPI's library,
# which no target calls, so the linker drops it (-z start-stop-gc lets it drop that code's coverage
# tables as well); only mpi.h is needed.
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  -ffunction-sections -fdata-sections -I lib -I . -DOMPI_SKIP_MPICXX=1)
read -r -a mpi_flags <<<"$("$mpicxx" --showme:compile)"
sources=("${targets[@]/#/tests/fuzz/}")
sources=("${sources[@]/%/.cpp}" "${trace_sources[@]}" "${input_sources[@]}")
rm -rf "$work/obj"
for s in "${sources[@]}"; do mkdir -p "$work/obj/$(dirname "$s")"; done
printf '%s\n' "${sources[@]}" |
  xargs -P "$(nproc)" -I{} "$cxx" "${flags[@]}" "${mpi_flags[@]}" -c {} -o "$work/obj/{}.o"
objects() { for s in "$@"; do printf '%s\n' "$work/obj/$s.o"; done; }
link_target() {
  local target=$1; shift
  mapfile -t objs < <(objects "tests/fuzz/$target.cpp" "$@")
  "$cxx" -fsanitize=fuzzer,address,undefined -Wl,--gc-sections -Wl,-z,start-stop-gc "${objs[@]}" -lz \
    -o "$work/$target"
}
link_target fuzz_trace_readers "${trace_sources[@]}"
link_target fuzz_inputs "${trace_sources[@]}" "${input_sources[@]}"

# Seeds: each input with the selector byte of its parser (and any parameter byte after it).
for t in "${targets[@]}"; do mkdir -p "$work/corpus/$t"; done
n=0
put() { n=$((n + 1)); cat >"$work/corpus/$1/seed$n"; }           # put TARGET < the seed's bytes
seed() { put "$1" < <(printf '%b' "$2"; cat "$3"); }              # seed TARGET PREFIX FILE
text() { put "$1" < <(printf '%b' "$2"; printf '%s' "$3"); }      # text TARGET PREFIX TEXT
s=traces/samples
r=fuzz_trace_readers
seed $r '\x00' $s/burstgpt_v1.csv; seed $r '\x00' $s/burstgpt_v2.csv; seed $r '\x01' $s/azure_conv.csv
seed $r '\x02' $s/requests.jsonl; seed $r '\x03' $s/inter_region_throughput.csv
seed $r '\x04' $s/inter_region_rtt.csv; seed $r '\x05' $s/link_bandwidth.csv
seed $r '\x06' $s/node_failures.csv; seed $r '\x07' $s/jobs.csv
i=fuzz_inputs
for b in 100Mbit 2.5Gbps 1e9 800kbit/s; do text $i '\x00' "$b"; done
for d in 30ms 1.5s 0 250us; do text $i '\x01' "$d"; done
seed $i '\x02' <(grep -v ',0$' $s/link_bandwidth.csv)  # a BandwidthSeries has no outages (0 bit/s)
seed $i '\x03' $s/inter_region_throughput.csv; seed $i '\x04' $s/inter_region_rtt.csv
text $i '\x05\x03' '0,0,1,1'; text $i '\x05\x05' '0, 1, 2, 0, 1, 2'
# A token file: magic, version 1, vocabulary 257, 3 tokens, reserved 0; then 'h', 'i', end of text.
put $i < <(printf '\x06MRDNTOK\x00\x01\x00\x00\x00\x01\x01\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00'
  printf '\x00\x00\x00\x00\x00\x00\x00\x00h\x00i\x00\x00\x01')
text $i '\x07' $'%\nA fortune.\n%\nAnother one,\r\non two lines.\n'; text $i '\x07' $'\nOne document.\n'
# IDX: 3 labels, and 2 images of 2 x 2 (raw and gzip-compressed).
put $i < <(printf '\x08\x01\x00\x00\x08\x01\x00\x00\x00\x03\x07\x02\x01')
images='\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x10\x20\x30\x40\x50\x60\xff'
put $i < <(printf '\x08\x00'; printf '%b' "$images")
put $i < <(printf '\x08\x03'; printf '%b' "$images" | gzip -c -n)
text $i '\x09' '{"format": "meridian-link-model", "version": 1, "mean_bps": 5e8, "sigma": 0.3, "rho": 0.8,
 "step_s": 1, "samples": 30, "outages": 2}'
seed $i '\x0a' $s/synthetic_model.json
text $i '\x0a' '{"format": "meridian-workload-model", "version": 1, "duration_s": 10, "requests": 6,
 "group_by": "all", "classes": [{"model": "*", "log_type": "*", "requests": 6, "failures": 1,
 "failure_probability": 0.2, "arrival": {"rate_per_s": 0.6, "inter_arrival": {"family": "exponential",
 "rate": 0.6}, "zeros": "jitter", "zeros_dropped": 0, "window_s": 5, "window_counts": [4, 2, 0],
 "rescaled_inter_arrival": {"family": "gamma", "shape": 0.5, "scale": 2}},
 "request_tokens": {"family": "empirical", "values": [1, 7, 30], "counts": [1, 4, 1]},
 "response_tokens": {"family": "weibull", "shape": 0.8, "scale": 100},
 "joint": {"x": [1, 7, 30], "y": [5, 9, 2], "counts": [2, 2, 1]},
 "aic": {"inter_arrival": {"gamma": 3.5}}}],
 "skipped": [{"model": "m", "log_type": "api", "requests": 3, "reason": "too few"}]}'
for d in '{"family": "exponential", "rate": 2}' '{"family": "gamma", "shape": 0.5, "scale": 3}' \
  '{"family": "weibull", "shape": 0.7, "scale": 1}' '{"family": "lognormal", "mu": 5, "sigma": 1.2}' \
  '{"family": "zipf", "s": 1.1, "n_max": 1000}' \
  '{"family": "empirical", "values": [1, 2.5], "counts": [3, 1]}'; do
  text $i '\x0b' "$d"
done
names=(f32 cuda:1 dreamddp sum mpi info gamma model_and_log_type jsonl)
for k in "${!names[@]}"; do text $i "\\x0c\\x0$k" "${names[$k]}"; done
# Inputs that once found a defect, selector byte included: run first, every time.
for t in "${targets[@]}"; do
  [ ! -d "tests/fuzz/regressions/$t" ] ||
    find "tests/fuzz/regressions/$t" -type f -exec cp {} "$work/corpus/$t/" \;
done

trap 'rm -f "$work"/meridian_fuzz_*' EXIT
per_target=$(( seconds / ${#targets[@]} > 0 ? seconds / ${#targets[@]} : 1 ))
status=0
for t in "${targets[@]}"; do
  echo "=== $t: $per_target s"
  dict=()  # tests/fuzz/TARGET.dict: tokens the mutations insert (numbers at the edges of types, keys)
  [ ! -f "tests/fuzz/$t.dict" ] || dict=(-dict="tests/fuzz/$t.dict")
  MERIDIAN_FUZZ_SCRATCH=$work "$work/$t" -max_total_time="$per_target" -max_len=4096 -timeout=10 \
    "${dict[@]}" -print_final_stats=1 -artifact_prefix="$work/$t-" "$work/corpus/$t" || status=1
done
exit "$status"
