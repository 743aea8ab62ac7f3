"""Result types: frozen dataclasses, one per family, each with a float ``value``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class CCAResult:
    """Canonical correlations of a pair (``cca``, ``svcca`` or ``r2cca``).

    ``value`` is the summary the measure is named after: the mean of the coefficients for
    ``"cca"`` and ``"svcca"``, the mean of their squares for ``"r2cca"``.
    """

    coefficients: Tensor  # (k,) rho_1 >= ... >= rho_k in [0, 1], on the input's device
    measure: str  # "cca" | "svcca" | "r2cca"
    n_samples: int
    n_features: tuple[int, int]  # (dx, dy) as given (after conv_mode)
    dims: tuple[int, int]  # dims CCA ran in: constant features dropped / SVD directions kept
    epsilon: float = 0.0  # 0 = exact definition; > 0 = google/svcca regularisation
    keep: float | int | None = None  # svcca only
    conv_mode: str | None = None  # how conv maps became samples x features, if they did
    warnings: tuple[str, ...] = ()

    @property
    def mean(self) -> float:
        """Mean canonical correlation (1/k) sum_i rho_i."""
        return float(self.coefficients.mean())

    @property
    def value(self) -> float:
        """Mean rho for cca/svcca, mean rho^2 for r2cca."""
        if self.measure == "r2cca":
            return float((self.coefficients**2).mean())
        return self.mean

    def truncated_mean(self, fraction: float = 0.98) -> float:
        """google/svcca's ``mean``: average of the leading coefficients holding ``fraction``.

        The shortest prefix rho_1..rho_i with sum(rho_1..rho_i) >= fraction * sum(rho), as in
        ``cca_core.sum_threshold`` (the default of ``get_cca_similarity``, threshold 0.98).
        """
        if not 0.0 < fraction <= 1.0:
            raise ValueError(
                f"truncated_mean: fraction must be in (0, 1]; got {fraction}. "
                "google/svcca uses 0.98."
            )
        rho = self.coefficients.double().cpu()
        prefix = rho.cumsum(0) - rho  # sum of the i coefficients before index i
        reached = (prefix / rho.sum() >= fraction).nonzero()
        count = int(reached[0]) if len(reached) and int(reached[0]) > 0 else len(rho)
        return float(rho[:count].mean())

    def __float__(self) -> float:
        return self.value


@dataclass(frozen=True)
class PWCCAResult:
    """Projection-weighted CCA: sum_i w_i rho_i with w from the narrower side."""

    value: float
    weights: Tensor  # (k,) w_i >= 0, sum 1, on the input's device
    coefficients: Tensor  # (k,) rho_i, descending (zeros kept where a side is rank-deficient)
    side: str  # "x" or "y": the side (fewer neurons) whose directions gave the weights
    n_samples: int
    n_features: tuple[int, int]
    dims: tuple[int, int]
    epsilon: float = 0.0
    conv_mode: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def mean(self) -> float:
        """Same as ``value`` (the weighted mean)."""
        return self.value

    def __float__(self) -> float:
        return self.value


@dataclass(frozen=True)
class CKAResult:
    """Centred kernel alignment of a pair."""

    value: float
    kernel: str  # "linear" | "rbf"
    debiased: bool
    sigma: float | None  # RBF bandwidth as a fraction of the median distance; None for linear
    n_samples: int
    n_features: tuple[int, int]
    conv_mode: str | None = None
    warnings: tuple[str, ...] = ()

    def __float__(self) -> float:
        return self.value


@dataclass(frozen=True)
class ProcrustesResult:
    """Orthogonal Procrustes distance (0 = identical up to rotation and scale, 2 = maximal)."""

    value: float  # distance d = 2 - 2 * nuclear_norm
    nuclear_norm: float  # ||X^T Y||_* of the centred, unit-Frobenius data, in [0, 1]
    n_samples: int
    n_features: tuple[int, int]
    conv_mode: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def distance(self) -> float:
        """Same as ``value``."""
        return self.value

    def __float__(self) -> float:
        return self.value
