"""repsim.similarity: representational similarity measures (pure math; torch/numpy only).

Inputs are (n_samples, n_features) numpy arrays or torch tensors (CPU or CUDA); results live on
the input's device; computation is in float64 unless ``dtype=`` says otherwise.

- :func:`cca`, :func:`svcca`, :func:`pwcca`, :func:`r2cca` -- the CCA family
- :func:`cka` (linear / RBF, biased / debiased), :class:`MinibatchCKA` (streaming)
- :func:`procrustes` -- orthogonal Procrustes distance
- :func:`similarity_batch` -- all of them for T stacked pairs, shared work done once
- :func:`conv_to_samples` -- conv maps -> samples x features ("spatial", "pool", "flatten")
- :func:`permutation_baseline`, :func:`bootstrap_ci` -- noise level and confidence interval
"""

from __future__ import annotations

from repsim.similarity._results import CCAResult, CKAResult, ProcrustesResult, PWCCAResult
from repsim.similarity._validation import SimilarityWarning
from repsim.similarity.batched import (
    MEASURES,
    MeasureAdvice,
    SimilarityBatch,
    meaningful_measures,
    similarity_batch,
)
from repsim.similarity.cca import cca, r2cca
from repsim.similarity.cka import MinibatchCKA, cka
from repsim.similarity.conv import CONV_MODES, ConvMode, conv_to_samples
from repsim.similarity.procrustes import procrustes
from repsim.similarity.pwcca import pwcca
from repsim.similarity.stats import (
    BootstrapResult,
    PermutationResult,
    bootstrap_ci,
    permutation_baseline,
)
from repsim.similarity.svcca import svcca

__all__ = [
    "CONV_MODES",
    "MEASURES",
    "BootstrapResult",
    "CCAResult",
    "CKAResult",
    "ConvMode",
    "MeasureAdvice",
    "MinibatchCKA",
    "PWCCAResult",
    "PermutationResult",
    "ProcrustesResult",
    "SimilarityBatch",
    "SimilarityWarning",
    "bootstrap_ci",
    "cca",
    "cka",
    "conv_to_samples",
    "meaningful_measures",
    "permutation_baseline",
    "procrustes",
    "pwcca",
    "r2cca",
    "similarity_batch",
    "svcca",
]
