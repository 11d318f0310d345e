#!/usr/bin/env bash
# expect_failure.sh REGEX COMMAND...: passes when COMMAND exits non-zero within 90 s and its output
# matches REGEX (extended, case-insensitive), and the error is said once (not by every rank).
set -u
regex="$1"; shift
out=$(timeout 90 "$@" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then echo "expected a non-zero exit, got 0. Output:"; echo "$out"; exit 1; fi
if [ "$rc" -eq 124 ]; then echo "timed out (hang). Output:"; echo "$out"; exit 1; fi
# Messages wrap over lines (CMake does): match against the output joined into one line, runs of blanks squeezed.
if ! tr -s '\n ' ' ' <<<"$out" | grep -qiE -e "$regex"; then echo "output does not match /$regex/. Output:"; echo "$out"; exit 1; fi
n=$(grep -ciE "^error:" <<<"$out")
if [ "$n" -gt 1 ]; then echo "the error was printed $n times (expected once, by rank 0). Output:"; echo "$out"; exit 1; fi
echo "exit $rc as expected:"; echo "$out" | head -n 5
