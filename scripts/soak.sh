#!/usr/bin/env bash
# Soak: the DigitsModel loop for BATCHES batches (default 100000) of BATCH_SIZE images (default
# 4), under with_allocator and under a HeapArena: resident memory flat after warm-up, no
# allocator call after warm-up, outputs equal to the heap reference. Exits non-zero otherwise.
#
# Usage: scripts/soak.sh [BATCHES] [BATCH_SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -p allocarrays-demo --example soak -- "${1:-100000}" "${2:-4}"
