"""Index the shipped Omniglot checkpoints in ``checkpoints/index.json``.

Every number the README and ``checkpoints/README.md`` publish for these files (own head, each
freezing setting, NIL head) is re-measured here on the 600 fixed test tasks that ``repsim eval``
uses, and written as one index entry per file with the test seed, so anyone can re-evaluate it.

    python analysis/index_omniglot.py --data-dir ../shared/data      # about 1-2 minutes on a CPU
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from repsim.analyses import ablate
from repsim.analyses.checkpoint_index import merge_index
from repsim.meta import load_trained
from repsim.meta.tasks import TEST_SEED

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("checkpoints/omniglot_5w1s_maml.pt", "checkpoints/omniglot_5w1s_anil.pt")


def entry(rel: str, *, tasks: int, data_dir: str | None) -> dict:
    trained = load_trained(ROOT / rel)
    cfg = trained.config
    table = ablate(trained, tasks=tasks, data_dir=data_dir)
    figures = []
    for row in table.to_dict("records"):
        frozen = row["frozen"]  # a list of layer names, or "a,b" once read back from JSON
        frozen = frozen.split(",") if isinstance(frozen, str) and frozen else list(frozen)
        figures.append({"metric": "accuracy", "label": row["label"], "head": row["head"],
                        "frozen": frozen, "value": float(row["accuracy"]),
                        "ci95": float(row["ci95"]), "tasks": int(row["tasks"]),
                        "test_seed": TEST_SEED})
    assert all(math.isfinite(f["value"]) for f in figures)
    return {"path": rel, "preset": f"omniglot-{cfg.ways}w{cfg.shots}s",
            "algorithm": cfg.algorithm, "seed": cfg.seed, "steps": int(trained.step),
            "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tasks", type=int, default=600)
    args = parser.parse_args()
    torch.set_num_threads(1)
    entries = [entry(rel, tasks=args.tasks, data_dir=args.data_dir) for rel in SHIPPED]
    for e in entries:
        print(e["path"], [(f["label"], round(100 * f["value"], 2)) for f in e["figures"]])
    merge_index(ROOT / "checkpoints" / "index.json", entries)


if __name__ == "__main__":
    main()
