"""repsim.plots: figures and the report, drawn from saved result tables (nothing recomputed).

``make_figures(results_dir)`` writes every figure the results allow (PNG + PDF + caption);
``write_report(results_dir)`` writes ``report.md`` and a self-contained ``report.html``. The
figure functions (DataFrame in → Figure out) are in :mod:`repsim.plots.figures`.
"""

from __future__ import annotations

from repsim.plots.figures import (
    accuracy,
    freezing,
    freezing_checkpoints,
    similarity_between_models,
    similarity_checkpoints,
    similarity_inner_loop,
    timing,
    training_curves,
)
from repsim.plots.report import Results, load_results, make_figures, read_index, write_report
from repsim.plots.style import plot_style, save_figure

__all__ = [
    "Results",
    "accuracy",
    "freezing",
    "freezing_checkpoints",
    "load_results",
    "make_figures",
    "plot_style",
    "read_index",
    "save_figure",
    "similarity_between_models",
    "similarity_checkpoints",
    "similarity_inner_loop",
    "timing",
    "training_curves",
    "write_report",
]
