"""Analyses of the paper, each returning a tidy DataFrame (columns in :mod:`.tables`).

- :func:`compare` (θ vs θ' per layer; a run's checkpoints; two models) and its three parts
  :func:`compare_adaptation`, :func:`compare_run`, :func:`compare_models`;
- :func:`ablate` / :func:`ablate_run`: freezing layers in the inner loop at test time (Table 1);
- :func:`seed_summary`, :func:`between_seeds`: statistics over training seeds (issue 9);
- :func:`evaluate_heads`, :func:`adaptation_profile`: body-training regimes and what the inner
  loop does for one model (Table 5, interpolation, medium shot, conv4).

Every frame carries its manifest in ``df.attrs["manifest"]``; write both with
:func:`repsim.analyses.tables.write_table`.
"""

from __future__ import annotations

from repsim.analyses.ablate import ablate, ablate_run, ablation_rows
from repsim.analyses.activations import inner_loop_activations
from repsim.analyses.compare import compare, compare_adaptation, compare_models, compare_run
from repsim.analyses.regimes import adaptation_profile, evaluate_heads, regime_name
from repsim.analyses.seeds import between_seeds, body_average, pair_summary, seed_summary
from repsim.analyses.tables import read_table, write_table

__all__ = [
    "ablate",
    "ablate_run",
    "ablation_rows",
    "adaptation_profile",
    "between_seeds",
    "body_average",
    "compare",
    "compare_adaptation",
    "compare_models",
    "compare_run",
    "evaluate_heads",
    "inner_loop_activations",
    "pair_summary",
    "read_table",
    "regime_name",
    "seed_summary",
    "write_table",
]
