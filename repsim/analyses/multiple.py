"""Many readings, one correction: p-values of a report's comparisons, adjusted by Holm.

A study report makes dozens of "separated / not separated" readings at a few seeds each; read
one at a time, some will be separated by chance. Each comparison registers its p-value with
:func:`mark`, which returns a placeholder; :func:`collecting` gathers every mark made inside it,
and :meth:`Collector.resolve` replaces each placeholder by the p-value and its Holm-adjusted
verdict over *all* readings of the report (Holm 1979: step-down, controls the family-wise
error rate at α without assuming independence). Outside :func:`collecting` a mark renders its
raw p-value, said to be uncorrected.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ALPHA", "Collector", "collecting", "holm", "mark"]

ALPHA = 0.05
_ACTIVE: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("holm", default=None)
_TOKEN = re.compile(r"⟦p(\d+)⟧")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values: sort ascending, p_(i) · (m − i + 1), running maximum, cap at 1."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"holm needs p-values in [0, 1]; got {list(pvalues)}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def _p(value: float) -> str:
    """``"= 0.043"`` or ``"< 0.001"``: what follows a ``p``."""
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


@dataclass
class Collector:
    """The p-values of one report, in the order they were marked, with their sections."""

    pvalues: list[float] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    section: str = ""

    def add(self, p: float) -> str:
        self.pvalues.append(p)
        self.sections.append(self.section)
        return f"⟦p{len(self.pvalues) - 1}⟧"

    def adjusted(self) -> np.ndarray:
        return holm(self.pvalues) if self.pvalues else np.empty(0)

    def resolve(self, text: str) -> str:
        """``text`` with every placeholder replaced by its p-value and Holm verdict."""
        adjusted, m = self.adjusted(), len(self.pvalues)

        def one(match: re.Match) -> str:
            i = int(match.group(1))
            holds = adjusted[i] < ALPHA
            return (f"p {_p(self.pvalues[i])}; Holm-adjusted over the report's {m} readings "
                    f"p {_p(adjusted[i])}: {'holds' if holds else 'does not hold'} "
                    "after correction")

        return _TOKEN.sub(one, text)

    def table(self, texts: Sequence[str] = ()) -> pd.DataFrame:
        """One row per reading: its section, what it compares (the sentence it sits in,
        from ``texts``), p, Holm-adjusted p and the verdict at α = 0.05."""
        where: dict[int, str] = {}
        for text in texts:
            for sentence in re.split(r"(?<=\.) ", text):  # a decimal point has no space after
                for match in _TOKEN.finditer(sentence):
                    clean = _TOKEN.sub("…", sentence).removeprefix("**Reading.** ")
                    where.setdefault(int(match.group(1)), clean[:220])
        adjusted = self.adjusted()
        return pd.DataFrame({
            "reading": range(1, len(self.pvalues) + 1), "section": self.sections,
            "comparison": [where.get(i, "") for i in range(len(self.pvalues))],
            "p": self.pvalues, "p_holm": adjusted,
            "verdict": ["holds" if a < ALPHA else "does not hold" for a in adjusted]})


@contextlib.contextmanager
def collecting() -> Iterator[Collector]:
    """Gather the marks made inside the block (one report's readings)."""
    collector = Collector()
    token = _ACTIVE.set(collector)
    try:
        yield collector
    finally:
        _ACTIVE.reset(token)


def mark(p: float) -> str:
    """A reading's p-value: a placeholder inside :func:`collecting`, else the raw value."""
    if not 0 <= p <= 1 or math.isnan(p):
        raise ValueError(f"a p-value must be in [0, 1]; got {p}")
    collector = _ACTIVE.get()
    if collector is None:
        return f"p {_p(p)}, not corrected for the report's other readings"
    return collector.add(float(p))
