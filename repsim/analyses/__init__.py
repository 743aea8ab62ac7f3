"""Analyses of the paper, each returning a tidy DataFrame (columns in :mod:`.tables`).

- :func:`compare` (θ vs θ' per layer; a run's checkpoints; two models) and its three parts
  :func:`compare_adaptation`, :func:`compare_run`, :func:`compare_models`;
- :func:`ablate` / :func:`ablate_run`: freezing layers in the inner loop at test time (Table 1).

Every frame carries its manifest in ``df.attrs["manifest"]``; write both with
:func:`repsim.analyses.tables.write_table`.
"""

from __future__ import annotations

from repsim.analyses.ablate import ablate, ablate_run, ablation_rows
from repsim.analyses.activations import inner_loop_activations
from repsim.analyses.compare import compare, compare_adaptation, compare_models, compare_run
from repsim.analyses.tables import read_table, write_table

__all__ = [
    "ablate",
    "ablate_run",
    "ablation_rows",
    "compare",
    "compare_adaptation",
    "compare_models",
    "compare_run",
    "inner_loop_activations",
    "read_table",
    "write_table",
]
