#!/usr/bin/env bash
# Runs the unsafe code's tests under Miri (nightly):
#   1. with -Zmiri-strict-provenance over bumper (unit + integration tests), allocarrays'
#      allocator / array / autoscaling tests and arena-router's tests (their sizes shrink under
#      cfg(miri));
#   2. with -Zmiri-many-seeds over the tests where threads race (several schedules each).
#
# Usage: scripts/miri.sh [--quick]
#   --quick   a subset that fits a 2-core CI run: bumper's seed-behaviour and interop tests,
#             allocarrays' array tests and the router's tests with strict provenance, and the
#             allocator race tests over 4 seeds instead of 8.
# Exit status: 0 when every run passed, 1 when one failed, 2 when nightly Miri is not installed.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "miri.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "Miri: NOT RUN - the nightly toolchain with miri is not installed." >&2
    echo "      Install it with: rustup toolchain install nightly --component miri rust-src" >&2
    exit 2
fi
echo "Miri: $(cargo +nightly miri --version)"

strict="-Zmiri-strict-provenance"
failed=()
passed=0
start_all=$(date +%s)

# run NAME MIRIFLAGS cargo-miri-test-arguments...
run() {
    local name=$1 flags=$2
    shift 2
    local start=$(date +%s)
    echo
    echo "=== Miri: $name  (MIRIFLAGS=\"$flags\" cargo +nightly miri test $*)"
    if MIRIFLAGS="$flags" cargo +nightly miri test "$@"; then
        passed=$((passed + 1))
        echo "=== Miri: $name passed in $(( $(date +%s) - start )) s"
    else
        failed+=("$name")
        echo "=== Miri: $name FAILED after $(( $(date +%s) - start )) s"
    fi
}

if [ "$quick" = 1 ]; then
    run "bumper seed_behaviour + interop" "$strict" -p bumper --test seed_behaviour --test interop
    run "allocarrays arrays" "$strict" -p allocarrays --test arrays
    # The long random-operations test takes tens of minutes under Miri: the full run has it.
    run "arena-router routing" "$strict" -p arena-router --test routing -- \
        --skip random_allocations_frees_reallocs_and_resets_never_overlap
    run "arena-router scratch" "$strict" -p arena-router --test scratch
    run "allocarrays races, 4 seeds" "$strict -Zmiri-many-seeds=0..4" -p allocarrays --test allocators race_free
else
    run "bumper (lib + tests)" "$strict" -p bumper --lib --tests
    run "allocarrays (lib)" "$strict" -p allocarrays --lib
    run "allocarrays allocators" "$strict" -p allocarrays --test allocators
    run "allocarrays arrays" "$strict" -p allocarrays --test arrays
    run "allocarrays autoscaling" "$strict" -p allocarrays --test autoscaling
    run "arena-router (lib + routing + scratch)" "$strict" -p arena-router --lib --test routing \
        --test scratch --test scratch_without_router
    run "allocarrays bounded memory + reset under failure" "$strict" -p allocarrays \
        --test bounded_memory --test reset_alloc_failure
    run "allocarrays races, 8 seeds" "$strict -Zmiri-many-seeds=0..8" -p allocarrays --test allocators thread
    run "allocarrays threads, 8 seeds" "$strict -Zmiri-many-seeds=0..8" -p allocarrays --test threads
    run "arena-router threads, 8 seeds" "$strict -Zmiri-many-seeds=0..8" -p arena-router --test routing thread
fi

echo
echo "Miri: $passed run(s) passed, ${#failed[@]} failed, $(( $(date +%s) - start_all )) s in all"
if [ "${#failed[@]}" -ne 0 ]; then
    printf 'Miri: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
