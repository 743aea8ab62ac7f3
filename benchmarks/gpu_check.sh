#!/usr/bin/env bash
# The prepared GPU check alone (device tool): expects the Omniglot zips in .gpu/data (carried),
# writes $OUT/gpu_check.json. Budget: ~6 min (six 45 s measurements plus start-up).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export REPSIM_DATA=$PWD/.gpu/data REPSIM_CACHE=$PWD/.gpu/cache REPSIM_TEST_DATA=$PWD/.gpu/data
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
nvidia-smi -L
timeout 540 python benchmarks/gpu_check.py --seconds 45 --data "$REPSIM_TEST_DATA" --out "$OUT"
