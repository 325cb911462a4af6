#!/usr/bin/env bash
# Stress runs (release build): 8 threads sharing one BumperAllocator (over an autoscaling buffer,
# then over slabs), and 8 threads in one HeapArena under the router; every value is
# pattern-checked, and the allocator's memory must stay bounded. Each test runs for STRESS_SECS
# seconds (default here: 120). Runs every test, then exits non-zero if any failed.
#
# Usage: scripts/stress.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
export STRESS_SECS="${1:-${STRESS_SECS:-120}}"
echo "Stress: ${STRESS_SECS} s per test"
failed=0
# One test at a time, so each gets the whole machine.
cargo test --release -p allocarrays --test stress -- --ignored --nocapture --test-threads=1 || failed=1
cargo test --release -p arena-router --test stress -- --ignored --nocapture --test-threads=1 || failed=1
if [ "$failed" -ne 0 ]; then
    echo "Stress: FAILED"
    exit 1
fi
echo "Stress: passed"
