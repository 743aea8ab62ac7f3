"""Is a similarity real or noise? A shuffled-samples baseline and a bootstrap interval.

Both accept a measure by name (any of :data:`MEASURES`: the resamples then go through the
batched path, many at once) or any callable ``f(x, y)`` returning a float or a result object
(``float(result)`` is its value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from repsim.similarity import _validation as V
from repsim.similarity.batched import MEASURES, similarity_batch

MeasureArg = str | Callable[[Tensor, Tensor], object]


@dataclass(frozen=True)
class PermutationResult:
    """Observed value against values with the pairing of samples destroyed."""

    observed: float
    null: Tensor  # (n_permutations,) the measure with y's rows shuffled
    p_value: float  # (1 + #{null at least as extreme}) / (1 + n_permutations)
    alternative: str  # "greater": similarity; "less": distance (procrustes)
    measure: str

    @property
    def null_mean(self) -> float:
        """Mean of the null values: the level unrelated data reach at this n and d."""
        return float(self.null.mean())

    @property
    def null_std(self) -> float:
        """Standard deviation of the null values."""
        return float(self.null.std())


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile bootstrap interval over datapoints (rows resampled with replacement)."""

    value: float  # the measure on the full data
    low: float
    high: float
    level: float
    samples: Tensor  # (n_boot,)
    measure: str

    @property
    def bias(self) -> float:
        """Mean of the resamples minus ``value``: how much repeated rows shift the measure."""
        return float(self.samples.double().mean()) - self.value


def _evaluator(measure: MeasureArg, options: dict[str, object]) -> tuple[Callable, str]:
    """f(xs (B, n, dx), ys (B, n, dy)) -> Tensor (B,), and the measure's name."""
    if isinstance(measure, str):
        V.check_choice(measure, MEASURES, what="measure", measure="significance")

        def batched(xs: Tensor, ys: Tensor) -> Tensor:
            return similarity_batch(xs, ys, measures=(measure,), **options)[measure]

        return batched, measure
    if not callable(measure):
        raise TypeError(
            f"significance: measure must be a name from {MEASURES} or a callable f(x, y); got "
            f"{type(measure).__name__}."
        )
    if options:
        raise ValueError(
            f"significance: options {sorted(options)} only apply to named measures; bind them "
            "into the callable instead (functools.partial(cka, debiased=True))."
        )

    def looped(xs: Tensor, ys: Tensor) -> Tensor:
        return torch.tensor([float(measure(a, b)) for a, b in zip(xs, ys, strict=True)])

    return looped, getattr(measure, "__name__", "callable")


def _resampled(
    f: Callable, x: Tensor, y: Tensor, index: Tensor, *, shuffle_y_only: bool, batch_size: int
) -> Tensor:
    values = []
    for rows in index.split(batch_size):  # (B, n) row indices
        rows = rows.to(x.device)
        xs = x.expand(len(rows), *x.shape) if shuffle_y_only else x[rows]  # (B, n, dx)
        values.append(f(xs, y[rows]).cpu())  # (B,)
    return torch.cat(values)


def permutation_baseline(
    measure: MeasureArg,
    x: object,
    y: object,
    *,
    n_permutations: int = 200,
    seed: int = 0,
    alternative: Literal["greater", "less"] | None = None,
    batch_size: int = 64,
    **options: object,
) -> PermutationResult:
    """Shuffled-samples baseline: the measure when rows of y no longer match rows of x.

    Parameters
    ----------
    measure : str or callable
        A name from :data:`MEASURES` (batched) or ``f(x, y)`` returning a float-like result.
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
    n_permutations : int, default=200
    seed : int, default=0
    alternative : {"greater", "less"}, optional
        Direction of "more similar": "greater" for similarities, "less" for distances;
        by default "less" for "procrustes", else "greater".
    batch_size : int, default=64
        Permutations evaluated per batched call.
    **options
        Passed to :func:`similarity_batch` for named measures (keep, sigma, epsilon, dtype).

    Returns
    -------
    PermutationResult
        ``observed``, ``null`` (n_permutations,), ``p_value``, ``null_mean``, ``null_std``.

    Raises
    ------
    ValueError
        Bad inputs (as the measure would raise), unknown measure or alternative,
        n_permutations < 1.

    Notes
    -----
    The null keeps each side's own structure and breaks only the pairing, so it shows the level
    that unrelated data of this n and d reach (e.g. biased CKA ~0.88 at n=32, d=256). The
    smallest attainable p-value is 1 / (1 + n_permutations).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(60, 4, generator=g)
    >>> res = permutation_baseline("cka", x, x + 0.5 * torch.randn(60, 4, generator=g))
    >>> res.p_value < 0.01, res.null_mean < 0.2
    (True, True)
    """
    xt, yt = V.prepare_pair(x, y, measure="permutation_baseline")
    if n_permutations < 1:
        raise ValueError(
            f"permutation_baseline: n_permutations must be >= 1; got {n_permutations}. "
            "Use a few hundred for p-values near 0.01."
        )
    f, name = _evaluator(measure, options)
    alt = alternative or ("less" if name == "procrustes" else "greater")
    V.check_choice(alt, ("greater", "less"), what="alternative", measure="permutation_baseline")
    g = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    index = torch.stack([torch.randperm(n, generator=g) for _ in range(n_permutations)])
    observed = float(f(xt[None], yt[None])[0])
    null = _resampled(f, xt, yt, index, shuffle_y_only=True, batch_size=batch_size)
    extreme = null >= observed if alt == "greater" else null <= observed
    return PermutationResult(
        observed=observed,
        null=null,
        p_value=float((1 + extreme.sum()) / (1 + n_permutations)),
        alternative=alt,
        measure=name,
    )


def bootstrap_ci(
    measure: MeasureArg,
    x: object,
    y: object,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    batch_size: int = 64,
    **options: object,
) -> BootstrapResult:
    """Percentile bootstrap confidence interval, resampling datapoints (paired rows).

    Parameters
    ----------
    measure : str or callable
        As in :func:`permutation_baseline`.
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
    n_boot : int, default=200
    level : float, default=0.95
        Coverage of the interval, in (0, 1).
    seed : int, default=0
    batch_size : int, default=64
    **options
        Passed to :func:`similarity_batch` for named measures.

    Returns
    -------
    BootstrapResult
        ``value`` (full data), ``low``, ``high``, ``level``, ``samples`` (n_boot,).

    Raises
    ------
    ValueError
        Bad inputs, unknown measure, n_boot < 2, level outside (0, 1).

    Notes
    -----
    Resampling with replacement repeats rows, which lowers the effective number of samples:
    CCA-family values and biased CKA are biased upward on resamples when n is not much larger
    than d. Compare intervals across conditions with the same n and d.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 4, generator=g)
    >>> ci = bootstrap_ci("cka", x, x + torch.randn(200, 4, generator=g), n_boot=50)
    >>> ci.low <= ci.value <= ci.high
    True
    """
    xt, yt = V.prepare_pair(x, y, measure="bootstrap_ci")
    if n_boot < 2:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 2; got {n_boot}. Use 200 or more.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), e.g. 0.95; got {level}.")
    f, name = _evaluator(measure, options)
    g = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    index = torch.randint(n, (n_boot, n), generator=g)
    samples = _resampled(f, xt, yt, index, shuffle_y_only=False, batch_size=batch_size)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    lo, hi = torch.quantile(samples.double(), q)
    return BootstrapResult(
        value=float(f(xt[None], yt[None])[0]),
        low=float(lo),
        high=float(hi),
        level=float(level),
        samples=samples,
        measure=name,
    )
