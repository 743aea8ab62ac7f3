#!/usr/bin/env bash
# One prepared GPU session (device tool): CUDA correctness tests, CUDA timings, and the CUDA
# path end to end (train → eval → compare). Expects the Omniglot zips and decoded cache in
# .gpu/ (carried), writes everything under $OUT.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export REPSIM_DATA=$PWD/.gpu/data REPSIM_CACHE=$PWD/.gpu/cache REPSIM_TEST_DATA=$PWD/.gpu/data
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
nvidia-smi -L; python -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
echo "== CUDA tests"; timeout 120 python -m pytest -q -m gpu tests -p no:cacheprovider 2>&1 | tail -8
echo "== GPU check (20w1s MAML meta-iterations/min, CUDA graphs, compile, learn2learn)"; timeout 420 python benchmarks/gpu_check.py --seconds 45 --out "$OUT" 2>&1 | tail -8
echo "== CUDA training (MAML omniglot 5w1s, 60 s)"
timeout 100 python -m repsim train --algo maml --steps 100000 --max-minutes 1 --val-every 250 \
  --checkpoint-every 100000 --device cuda --out /tmp/gpu-maml 2>&1 | tail -c 400
cp /tmp/gpu-maml/metrics.csv "$OUT/gpu_maml_metrics.csv" 2>/dev/null
ck=$(ls /tmp/gpu-maml/checkpoints/*.pt | tail -1)
echo "== eval on cuda ($ck)"; timeout 60 python -m repsim eval "$ck" --device cuda --tasks 600 --json "$OUT/gpu_eval.json" 2>&1 | tail -3
echo "== compare on cuda"; s=$SECONDS; timeout 90 python -m repsim compare "$ck" --device cuda --tasks 100 --json "$OUT/gpu_compare.json" 2>&1 | tail -30; echo "compare wall $((SECONDS - s)) s"
