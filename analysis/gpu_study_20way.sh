#!/usr/bin/env bash
# The study's MAML 20-way runs on a lent GPU (issue 9): MAML 20w5s costs ~39 CPU-s per step
# here, so it is a GPU run. One call of the device tool, resumable across calls and sessions:
#
#   mkdir -p .gpu/data && cp -r ../shared/data/omniglot .gpu/data/      # 14 MB, git-ignored
#   # earlier GPU progress, if any:  tar -C .gpu -xzf omniglot-study-gpu.tgz
#   # CPU progress, e.g. the capped 100-step MAML 20w5s runs (optimizer state included):
#   mkdir -p .gpu/omniglot-study && cp -r runs/omniglot-study/maml-20w5s-short .gpu/omniglot-study/
#   run(command="bash analysis/gpu_study_20way.sh", carry=[".gpu"], timeout_s=540)
#
# Trains maml-20w5s-short (then maml-20w1s-short, when time is left) at the study's length
# (1000 steps) for MINUTES minutes of training, then packs the run folders, optimizer state
# included, into $OUT/omniglot-study-gpu.tgz. Unpack it into runs/omniglot-study here
# (`tar -xzf ... --strip-components=1 -C runs/omniglot-study`): a finished run is analysed by
# the CPU queue like any other, an unfinished one resumes on the next GPU call.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
OUT=${OUT:-/tmp/gpu-out}; MINUTES=${MINUTES:-7}; SEEDS=${SEEDS:-0}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu MINUTES=2: a dry run of this script on a CPU machine
mkdir -p "$OUT" .gpu/omniglot-study
if [ "$DEVICE" = cuda ]; then
  nvidia-smi -L
  python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1
fi
start=$SECONDS
for run in maml-20w5s maml-20w1s; do
  left=$(( MINUTES * 60 - (SECONDS - start) ))
  [ "$left" -lt 60 ] && break
  python analysis/omniglot_study.py --root .gpu/omniglot-study --data-dir .gpu/data \
    --long-steps 1000 --short-steps 1000 --groups shots --only "$run" --seeds "$SEEDS" \
    --stage train --device "$DEVICE" --max-minutes "$(( left / 60 ))" 2>&1 | tail -n 20
done
for d in .gpu/omniglot-study/*/seed*; do
  echo "$d: latest checkpoint $(ls "$d/checkpoints" 2>/dev/null | tail -n 1)"
done
tar -C .gpu -czf "$OUT/omniglot-study-gpu.tgz" omniglot-study
