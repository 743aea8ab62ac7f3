"""The shipped Omniglot 5-way 1-shot study: checkpoints, figures and report.

    python analysis/omniglot_5w1s.py --data-dir ../shared/data --out runs/study-omniglot

Runs (or resumes) ``repsim reproduce omniglot-5w1s`` (MAML and ANIL, 8000 meta-iterations each,
paper settings: inner lr 0.4, 1 inner step in training, 3 at test, meta-batch 32, 1 query per
class), then copies what the repository ships: ``checkpoints/omniglot_5w1s_{maml,anil}.pt``
(without optimizer state) with their training curves, and ``figures/omniglot-5w1s/``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from repsim.cli._common import set_threads
from repsim.meta.checkpoint import export_checkpoint
from repsim.study import STUDY_PRESETS, run_study

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "study-omniglot")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    set_threads(1)  # one thread is fastest for these small networks on a shared CPU
    files = run_study("omniglot-5w1s", out_dir=args.out, data_dir=args.data_dir,
                      device=args.device)
    steps = STUDY_PRESETS["omniglot-5w1s"].train.steps
    for algorithm in ("maml", "anil"):
        export_checkpoint(files[f"checkpoint_{algorithm}"],
                          ROOT / "checkpoints" / f"omniglot_5w1s_{algorithm}.pt")
        shutil.copy(args.out / "runs" / algorithm / "metrics.csv",
                    ROOT / "checkpoints" / f"omniglot_5w1s_{algorithm}_metrics.csv")
    figures = ROOT / "figures" / "omniglot-5w1s"
    shutil.copytree(args.out / "figures", figures, dirs_exist_ok=True)
    # The report links figures as figures/NAME; beside the figures they are just NAME.
    report = files["report_md"].read_text().replace("](figures/", "](")
    (figures / "report.md").write_text(report)
    print(f"shipped step-{steps} checkpoints and {figures}")


if __name__ == "__main__":
    main()
