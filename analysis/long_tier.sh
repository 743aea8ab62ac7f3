#!/usr/bin/env bash
# Train study runs one after another, each resumable (the long tier of issue 19).
#   analysis/long_tier.sh "maml-5w1s-10k:0 maml-5w1s-10k:2"     # NAME:SEED ...
# One such process per core; each run resumes from its last checkpoint when restarted.
set -u
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for item in $1; do
  name=${item%:*}; seed=${item#*:}
  echo "$(date -u +%H:%M:%S) start $name seed $seed"
  python analysis/omniglot_study.py --root "${STUDY_ROOT:-runs/omniglot-study}" \
     --data-dir "${DATA_DIR:-../shared/data}" --only "$name" --seeds "$seed" --stage train \
     || echo "failed $name seed $seed"
  echo "$(date -u +%H:%M:%S) end $name seed $seed"
done
