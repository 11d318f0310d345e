#!/usr/bin/env bash
# install_consumer.sh CMAKE BUILD_DIR CONSUMER_SRC WORK: installs the build into WORK/prefix, then
# configures, builds and runs a separate project that uses find_package(Meridian).
set -euo pipefail
cmake_bin="$1"; build="$2"; consumer="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work"
"$cmake_bin" --install "$build" --prefix "$work/prefix" >/dev/null
"$cmake_bin" -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
"$cmake_bin" --build "$work/build" >/dev/null
"$work/build/meridian_consumer"
test -x "$work/prefix/bin/comm_bench" || { echo "comm_bench was not installed"; exit 1; }
