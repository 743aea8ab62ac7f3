"""The README's demo figure: ``repsim demo`` (sinusoid, offline) → ``figures/demo/``.

    python analysis/demo.py [--out demo-out]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from repsim.cli._common import set_threads
from repsim.study import run_study

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out")
    args = parser.parse_args()
    set_threads(1)  # one thread is fastest for these small networks on a shared CPU
    files = run_study("sinusoid", out_dir=args.out)
    target = ROOT / "figures" / "demo"
    shutil.copytree(args.out / "figures", target, dirs_exist_ok=True)
    # The report links figures as figures/NAME; beside the figures they are just NAME.
    report = files["report_md"].read_text().replace("](figures/", "](")
    (target / "report.md").write_text(report)
    print(f"figures in {target}")


if __name__ == "__main__":
    main()
