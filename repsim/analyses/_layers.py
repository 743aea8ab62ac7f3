"""Per-layer similarity over a batch of tasks: sample layout, measure choice, noise baseline.

The compare analyses feed chunks of tasks' activations (``layer -> (T, n, ...)``) for two
conditions (θ vs θ', model A vs B) into a :class:`LayerSimilarity`, which turns each layer into
samples x features, picks the measures that mean something for that shape, computes them for
every task with the batched path (:func:`repsim.similarity.similarity_batch`), does the
same for the noise baseline, and finally summarises per layer and measure (mean over tasks with
95% CI) as tidy records.

Measure choice (:func:`select_measures`), with ``n`` samples and widths ``dx``, ``dy``:

- **CCA family** (``cca``, ``svcca``, ``pwcca``, ``r2cca``): computable only when
  max(dx, dy) < n − 1; otherwise every canonical correlation is 1 by construction (centred data
  of n samples span n − 1 dimensions) and the measure is refused. Picked by default only when
  dx + dy ≤ n − 1: beyond that, spans of dimensions dx and dy inside an (n − 1)-dimensional
  space must intersect, and dx + dy − (n − 1) correlations are 1 whatever the data (about the
  "n ≥ 2d" margin). ``r2cca`` (mean squared CCA) only on request.
- **Linear CKA, debiased CKA, Procrustes**: any n ≥ 4. Biased CKA reads high for unrelated data
  when n is small next to d; the debiased estimator does not, so read ``cka_debiased`` there.
- **RBF CKA**: builds n x n Grams per task, so by default only for n ≤ 500 (e.g. conv4 with
  spatial positions as samples, the head); on request up to the similarity package's limit.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from repsim.analyses import tables as C
from repsim.meta.evaluate import mean_ci95
from repsim.similarity import (
    CONV_MODES,
    MEASURES,
    SimilarityWarning,
    conv_to_samples,
    similarity_batch,
)
from repsim.similarity.cka import MAX_RBF_SAMPLES

__all__ = [
    "BASELINES",
    "DEFAULT_MEASURES",
    "MEASURE_INFO",
    "LayerSimilarity",
    "MeasurePlan",
    "select_measures",
    "to_samples",
]

DEFAULT_MEASURES: tuple[str, ...] = (
    "cca", "svcca", "pwcca", "cka", "cka_debiased", "cka_rbf", "procrustes")
CCA_FAMILY: tuple[str, ...] = ("cca", "svcca", "pwcca", "r2cca")
RBF_DEFAULT_MAX_SAMPLES = 500
# Below this many samples per task CKA is mostly noise: with 5 inputs (5-way 1-shot support
# images) two unrelated 5-d heads already score near their own shuffle baseline.
MIN_CKA_SAMPLES = 20
CKA_MEASURES = ("cka", "cka_debiased", "cka_rbf")
BASELINES: tuple[str, ...] = ("shuffle", "random-network")
DENSE = "dense"  # conv_mode recorded for layers that are already samples x features
MEASURE_INFO: dict[str, str] = {
    "cca": "mean canonical correlation (1 = same up to an invertible linear map)",
    "svcca": "mean CCA after keeping the SVD directions with 99% of the variance",
    "pwcca": "projection-weighted CCA (Morcos et al. 2018, google/svcca recipe)",
    "r2cca": "mean squared canonical correlation",
    "cka": "linear CKA (biased HSIC; reads high when n is small next to d)",
    "cka_debiased": "linear CKA with the unbiased HSIC estimator",
    "cka_rbf": "RBF-kernel CKA, sigma = 0.5 x median distance",
    "procrustes": "orthogonal Procrustes DISTANCE in [0, 2]: 0 = identical up to rotation",
}
BASELINE_INFO: dict[str, str] = {
    "shuffle": "the same measure between the first condition's activations and the second's "
               "with rows (samples) shuffled, an independent permutation per task and layer",
    "random-network": "the same measure between the first condition's activations and those of "
                      "a freshly initialised network of the same architecture (seeded)",
}


@dataclass(frozen=True)
class MeasurePlan:
    """Measures computed for one layer, why, and the requested ones refused (with reasons)."""

    measures: tuple[str, ...]
    reason: str
    skipped: tuple[tuple[str, str], ...] = ()  # (measure, reason)


def _check_requested(requested: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(requested))
    bad = [m for m in chosen if m not in MEASURES]
    if bad or not chosen:
        raise ValueError(
            f"unknown measure(s) {bad or '(none given)'}; valid measures are {', '.join(MEASURES)}"
        )
    return chosen


def select_measures(
    n_samples: int, n_features: tuple[int, int], requested: Sequence[str] | None = None
) -> MeasurePlan:
    """The measures to compute for one layer of ``n_samples`` x ``(dx, dy)`` (module docstring).

    Parameters
    ----------
    n_samples : int
    n_features : (int, int)
        Widths of the two sides.
    requested : sequence of str, optional
        Measures asked for; None picks the meaningful ones among :data:`DEFAULT_MEASURES`.

    Returns
    -------
    MeasurePlan
        ``measures``, the ``reason`` (a sentence), ``skipped`` requested measures with reasons.

    Raises
    ------
    ValueError
        An unknown measure name (the valid ones are listed).

    Examples
    --------
    >>> select_measures(75, (64, 64)).measures
    ('cka', 'cka_debiased', 'cka_rbf', 'procrustes')
    >>> select_measures(300, (64, 64)).measures
    ('cca', 'svcca', 'pwcca', 'cka', 'cka_debiased', 'cka_rbf', 'procrustes')
    """
    n, (dx, dy) = n_samples, n_features
    d = max(dx, dy)
    explicit = requested is not None
    candidates = _check_requested(requested) if explicit else DEFAULT_MEASURES
    rbf_limit = MAX_RBF_SAMPLES if explicit else RBF_DEFAULT_MAX_SAMPLES
    chosen, skipped = [], []
    refused: dict[str, list[str]] = {}  # reason -> measures
    for m in candidates:
        why = None
        if m in CCA_FAMILY and d >= n - 1:
            why = (f"n={n} <= d+1={d + 1}: every canonical correlation is 1 by construction "
                   "(centred data of n samples span n-1 dimensions)")
        elif m in CCA_FAMILY and not explicit and dx + dy > n - 1:
            why = (f"dx+dy={dx + dy} > n-1={n - 1}: {dx + dy - n + 1} canonical correlations are "
                   "1 whatever the data (the default needs dx+dy <= n-1)")
        elif n < 2 or (m == "cka_debiased" and n < 4):
            why = f"n={n} samples is too few (debiased HSIC divides by n-3; others need 2)"
        elif m == "cka_rbf" and n > rbf_limit:
            why = f"n={n} > {rbf_limit}: RBF CKA needs an n x n Gram per task"
        if why is None:
            chosen.append(m)
        else:
            skipped.append((m, why))
            refused.setdefault(why, []).append(m)
    notes = [f"no {', '.join(ms)}: {why}" for why, ms in refused.items()]
    if any(m in CCA_FAMILY for m in chosen):
        notes.insert(0, f"CCA family: dx+dy={dx + dy} <= n-1={n - 1}, no correlation is 1 by "
                     "construction" if dx + dy <= n - 1 else
                     f"CCA values are inflated: dx+dy={dx + dy} > n-1={n - 1}")
    if "cka_rbf" in chosen:
        notes.append(f"cka_rbf: n <= {rbf_limit}")
    reason = f"n={n} samples x d=({dx}, {dy}) features; " + "; ".join(notes)
    return MeasurePlan(tuple(chosen), reason, tuple(skipped) if explicit else ())


def to_samples(acts: Tensor, conv_mode: str) -> tuple[Tensor, str]:
    """``(T, n, ...)`` activations → ``(T, samples, features)`` and the layout recorded.

    Conv maps ``(T, N, C, H, W)`` follow ``conv_mode`` (:func:`conv_to_samples`); dense
    ``(T, n, d)`` stay as they are (layout ``"dense"``); other shapes are flattened per sample.
    """
    if conv_mode not in CONV_MODES:
        raise ValueError(f"conv_mode must be one of {CONV_MODES}; got {conv_mode!r}")
    if acts.dim() == 5:
        return conv_to_samples(acts, conv_mode), conv_mode  # (T, samples, features)
    if acts.dim() == 3:
        return acts, DENSE
    return acts.flatten(2), DENSE  # (T, n, prod(rest))


def _shuffled(y: Tensor, *, seed: int, first_task: int, layer_index: int) -> Tensor:
    """``y`` (T, n, d) with the rows of each task permuted independently (seeded per task)."""
    n = y.shape[1]
    perms = [np.random.default_rng([seed, first_task + t, layer_index, 7]).permutation(n)
             for t in range(y.shape[0])]
    index = torch.from_numpy(np.stack(perms)).to(y.device)  # (T, n)
    return torch.gather(y, 1, index[..., None].expand_as(y))


def _grouped(messages: Sequence[str]) -> list[str]:
    """One line per kind of warning: the first of those that differ only in their numbers."""
    groups: dict[str, list[str]] = {}
    for message in messages:
        groups.setdefault(re.sub(r"\d+", "#", message), []).append(message)
    return [group[0] if len(group) == 1 else
            f"{group[0]} (and {len(group) - 1} more like it for other chunks of tasks)"
            for group in groups.values()]


class LayerSimilarity:
    """Accumulates per-task similarities of each layer, chunk by chunk; then summarises."""

    def __init__(self, *, measures: Sequence[str] | None, conv_mode: str, baseline: str,
                 seed: int) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}; got {baseline!r}")
        if conv_mode not in CONV_MODES:
            raise ValueError(f"conv_mode must be one of {CONV_MODES}; got {conv_mode!r}")
        self.requested = None if measures is None else _check_requested(measures)
        self.conv_mode, self.baseline, self.seed = conv_mode, baseline, seed
        self.plans: dict[str, MeasurePlan] = {}
        self.shapes: dict[str, tuple[int, int, str]] = {}  # layer -> (n, d, layout)
        self.identical: dict[str, bool] = {}
        self.values: dict[tuple[str, str], list[Tensor]] = {}
        self.base: dict[tuple[str, str], list[Tensor]] = {}
        self.warnings: list[str] = []

    def add(
        self,
        x_acts: Mapping[str, Tensor],
        y_acts: Mapping[str, Tensor],
        *,
        first_task: int,
        random_acts: Mapping[str, Tensor] | None = None,
    ) -> None:
        """Add a chunk: ``layer -> (T, n, ...)`` under both conditions (and a random net's)."""
        for index, layer in enumerate(x_acts):
            x, layout = to_samples(x_acts[layer], self.conv_mode)  # (T, n, dx)
            y, _ = to_samples(y_acts[layer], self.conv_mode)  # (T, n, dy)
            n, dx, dy = x.shape[1], x.shape[2], y.shape[2]
            plan = self.plans.get(layer)
            if plan is None:
                plan = self.plans[layer] = select_measures(n, (dx, dy), self.requested)
                self.shapes[layer] = (n, max(dx, dy), layout)
                few = [m for m in plan.measures if m in CKA_MEASURES]
                if few and n < MIN_CKA_SAMPLES:
                    self.warnings.append(
                        f"{layer}: {', '.join(few)} from only n={n} samples per task is "
                        "dominated by noise (compare it with the baseline column); use more "
                        "inputs (--inputs both / query, --query) or --conv-mode spatial")
            self.identical[layer] = self.identical.get(layer, True) and torch.equal(x, y)
            if not plan.measures:
                continue
            if self.baseline == "shuffle":
                y_null = _shuffled(y, seed=self.seed, first_task=first_task, layer_index=index)
            else:
                if random_acts is None:
                    raise ValueError("the random-network baseline needs the random net's "
                                     "activations")
                y_null, _ = to_samples(random_acts[layer], self.conv_mode)
            for target, data in ((self.values, y), (self.base, y_null)):
                with warnings.catch_warnings():  # kept in the manifest instead
                    warnings.simplefilter("ignore", SimilarityWarning)
                    out = similarity_batch(x, data, measures=plan.measures)
                self.warnings.extend(f"{layer}: {w}" for w in out.warnings)
                for m in plan.measures:
                    target.setdefault((layer, m), []).append(out[m].double().cpu())

    def refused_everything(self) -> str | None:
        """A message when no layer got any measure (every requested one refused), else None."""
        if any(p.measures for p in self.plans.values()):
            return None
        reasons = "; ".join(f"{layer}: {p.reason}" for layer, p in self.plans.items())
        return (f"no requested measure can be computed for any layer ({reasons}). Ask for "
                "cka_debiased, use more inputs (--query, --inputs both) or --conv-mode spatial")

    def records(self, common: Mapping[str, object]) -> list[dict[str, object]]:
        """One record per (layer, measure): mean and 95% CI over tasks, and the baseline's."""
        rows = []
        for layer, plan in self.plans.items():
            n, d, layout = self.shapes[layer]
            for m in plan.measures:
                mean, ci = mean_ci95(torch.cat(self.values[layer, m]))
                b_mean, b_ci = mean_ci95(torch.cat(self.base[layer, m]))
                note = ("identical activations in both conditions (the inner loop leaves this "
                        "layer and those below it unchanged): by construction"
                        if self.identical[layer] else "")
                rows.append({C.LAYER: layer, C.MEASURE: m, C.MEAN: mean, C.CI95: ci,
                             C.BASELINE: b_mean, C.BASELINE_CI95: b_ci, C.N_SAMPLES: n,
                             C.N_FEATURES: d, C.CONV_MODE: layout, **common, "note": note})
        return rows

    def manifest(self) -> dict[str, object]:
        """Measure choice per layer, refused measures, warnings, what the baseline is."""
        return {
            "measure_choice": {layer: {"measures": list(p.measures), "reason": p.reason}
                               for layer, p in self.plans.items()},
            "skipped": [{"layer": layer, "measure": m, "reason": why}
                        for layer, p in self.plans.items() for m, why in p.skipped],
            "baseline": {"kind": self.baseline, "description": BASELINE_INFO[self.baseline]},
            "measure_info": {m: MEASURE_INFO[m] for m in
                             dict.fromkeys(m for p in self.plans.values() for m in p.measures)},
            "warnings": _grouped(self.warnings),
            "identical_layers": [layer for layer, same in self.identical.items() if same],
        }
