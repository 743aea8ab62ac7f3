"""Independent references for the similarity tests.

Textbook float64 numpy implementations written from the definitions (QR-based CCA,
Kornblith et al.'s demo functions, google/svcca's numpy algorithm), and the stored google/svcca
reference outputs. Nothing here imports repsim.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """Like tests/conftest.py does for torch: numpy's BLAS on one thread (the CPU path of
    repsim.similarity runs its products through numpy; oversubscribed BLAS threads on a busy
    2-core machine make a 2000 x 32 product take 80 ms instead of 0.1 ms)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(1):
        yield


def _reference_dir() -> Path | None:
    env = os.environ.get("REPSIM_TEST_REFERENCE")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "reference")
    for path in candidates:
        if (path / "svcca_google_cases.npz").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def reference_cases() -> dict[str, dict[str, np.ndarray]]:
    """{case: {key: array}} from both google/svcca reference files (google's layout)."""
    path = _reference_dir()
    if path is None:
        pytest.skip(
            "google/svcca reference outputs not found: set REPSIM_TEST_REFERENCE to a directory "
            "holding svcca_google_cases.npz (CI: ../shared/reference)"
        )
    cases: dict[str, dict[str, np.ndarray]] = {}
    for name in ("svcca_google_cases.npz", "svcca_google_tutorial_activations.npz"):
        with np.load(path / name) as data:
            for key in data.files:
                case, field = key.split("__", 1)
                cases.setdefault(case, {})[field] = data[key]
    return cases


# ------------------------------------------------------------------ textbook CCA (QR + SVD)
def textbook_cca(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Canonical correlations = singular values of Q_x^T Q_y (centred data), float64."""
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


# ------------------------------------------------------------------ google/svcca, plain numpy
def google_cca(a1: np.ndarray, a2: np.ndarray, epsilon: float = 0.0) -> dict:
    """google/svcca ``get_cca_similarity`` (neurons x datapoints)."""
    n1 = a1.shape[0]
    cov = np.cov(a1, a2)
    sxx, sxy, syy = cov[:n1, :n1], cov[:n1, n1:], cov[n1:, n1:]
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    xi, yi = np.abs(np.diag(sxx)) >= epsilon, np.abs(np.diag(syy)) >= epsilon
    sxx, syy, sxy = sxx[xi][:, xi], syy[yi][:, yi], sxy[xi][:, yi]
    sxx = sxx + epsilon * np.eye(len(sxx))
    syy = syy + epsilon * np.eye(len(syy))

    def sqrtm(a: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(a)
        return v @ np.diag(np.sqrt(w)) @ v.T

    u, s, v = np.linalg.svd(sqrtm(np.linalg.pinv(sxx)) @ sxy @ sqrtm(np.linalg.pinv(syy)))
    return {"u": u, "s": np.abs(s), "v": v, "xi": xi, "yi": yi}


def google_pwcca(a1: np.ndarray, a2: np.ndarray, epsilon: float = 0.0) -> float:
    """google/svcca ``compute_pwcca`` with the 2019 acts1 -> acts2 indexing bug fixed."""
    r = google_cca(a1, a2, epsilon)
    if r["xi"].sum() <= r["yi"].sum():
        acts, coef = a1[r["xi"]], r["u"].T
    else:
        acts, coef = a2[r["yi"]], r["v"]
    m = acts.mean(axis=1, keepdims=True)
    p, _ = np.linalg.qr((coef @ (acts - m) + m).T)
    w = np.sum(np.abs(p.T @ acts.T), axis=1)
    return float(np.sum(w / w.sum() * r["s"]))


# ------------------------------------------------------------------ Kornblith et al. demo
def gram_linear(x: np.ndarray) -> np.ndarray:
    return x @ x.T


def gram_rbf(x: np.ndarray, threshold: float = 1.0) -> np.ndarray:
    dot = x @ x.T
    sq = np.diag(dot)
    d2 = -2 * dot + sq[:, None] + sq[None, :]
    return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))


def center_gram(gram: np.ndarray, unbiased: bool = False) -> np.ndarray:
    gram = gram.copy()
    if unbiased:
        n = gram.shape[0]
        np.fill_diagonal(gram, 0)
        means = np.sum(gram, 0) / (n - 2)
        means -= np.sum(means) / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0)
    else:
        means = np.mean(gram, 0)
        means -= np.mean(means) / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def gram_cka(k: np.ndarray, l_: np.ndarray, debiased: bool = False) -> float:
    kc, lc = center_gram(k, debiased), center_gram(l_, debiased)
    return float(kc.ravel() @ lc.ravel() / (np.linalg.norm(kc) * np.linalg.norm(lc)))


def procrustes_textbook(x: np.ndarray, y: np.ndarray) -> float:
    """min_Q ||X - Y Q||_F^2 over orthogonal Q, centred unit-norm data (scipy's solver)."""
    from scipy.linalg import orthogonal_procrustes

    x = x - x.mean(0)
    y = y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    width = max(x.shape[1], y.shape[1])  # zero-pad the narrower side
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    q, _ = orthogonal_procrustes(y, x)
    return float(np.linalg.norm(x - y @ q) ** 2)


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    """The reference implementations above, as one namespace."""
    return SimpleNamespace(
        textbook_cca=textbook_cca,
        google_cca=google_cca,
        google_pwcca=google_pwcca,
        gram_linear=gram_linear,
        gram_rbf=gram_rbf,
        gram_cka=gram_cka,
        procrustes=procrustes_textbook,
        related=related,
    )


@pytest.fixture(scope="session")
def kornblith_xy() -> tuple[np.ndarray, np.ndarray]:
    """The demo data of Kornblith et al.: legacy seed 1337, X ~ N(0,1)^(100x10), Y = X + noise."""
    state = np.random.RandomState(1337)
    x = state.randn(100, 10)
    y = state.randn(100, 10) + x
    return x, y


def related(rng: np.random.Generator, n: int, dx: int, dy: int, noise: float = 1.0):
    """x and a noisy linear map of it (float64), a generic pair with correlations in (0, 1)."""
    x = rng.standard_normal((n, dx))
    y = x @ rng.standard_normal((dx, dy)) + noise * rng.standard_normal((n, dy))
    return x, y


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A related pair of unequal widths, n >> d."""
    return related(rng, 400, 6, 9)
