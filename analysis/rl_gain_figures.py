"""Draw the adaptation-gain figure for shipped RL results from their shipped training metrics.

    python analysis/rl_gain_figures.py [--envs nav2d,cheetah-dir]

`repsim reproduce rl-*` (and analysis/rl_nav2d.py) write ``rl_gain`` with every new study; this
adds it to studies shipped before the figure existed, from ``checkpoints/rl/ENV_ALGO_sSEED_
metrics.csv`` (the training metrics of the shipped checkpoints), and links it in the report.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="nav2d,cheetah-dir")
    args = parser.parse_args()
    from repsim.plots.style import save_figure
    from repsim.study_rl import GAIN_SENTENCE, gain_figure

    pattern = re.compile(r"^(?P<env>[a-z0-9-]+)_(?P<alg>maml|anil)_s(?P<seed>\d+)_metrics\.csv$")
    for env in args.envs.split(","):
        frames = []
        for path in sorted((ROOT / "checkpoints" / "rl").glob(f"{env}_*_metrics.csv")):
            m = pattern.match(path.name)
            if m is None:  # e.g. nav2d_maml_s0_500it: a separate run, not part of the study
                continue
            frames.append(pd.read_csv(path).assign(algorithm=m["alg"], seed=int(m["seed"])))
        if not frames:
            raise SystemExit(f"no shipped metrics for {env} in checkpoints/rl")
        curves = pd.concat(frames, ignore_index=True)
        out = ROOT / "figures" / f"rl-{env}"
        fig, caption = gain_figure(curves, env, "cpu",
                                   source=f"checkpoints/rl/{env}_ALGO_sSEED_metrics.csv")
        save_figure(fig, out / "rl_gain", caption=caption)
        report = out / "report.md"
        text = report.read_text()
        if "rl_gain.png" not in text:
            text = text.replace("![curves](rl_curves.png)", "![curves](rl_curves.png)\n\n"
                                f"{GAIN_SENTENCE}\n\n![gain](rl_gain.png)", 1)
            report.write_text(text)
        print(f"{env}: {out / 'rl_gain.png'} ({len(frames)} runs)")


if __name__ == "__main__":
    main()
