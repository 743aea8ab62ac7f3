"""repsim: rapid learning or feature reuse? Representational similarity for meta-learning.

The notebook API. Sub-packages, in data-flow order: ``data`` → ``models`` → ``meta`` →
``capture`` → ``similarity`` → ``analyses`` → ``plots``; ``study`` runs them all; ``cli`` is
the ``repsim`` command.

>>> import repsim
>>> ckpt = "checkpoints/omniglot_5w1s_maml.pt"
>>> table = repsim.compare(ckpt, tasks=100)             # doctest: +SKIP
>>> acts = repsim.inner_loop_activations(ckpt, tasks=5)  # θ / θ' per layer  # doctest: +SKIP
>>> repsim.cka(x, y, debiased=True).value               # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from repsim._threads import set_threads
from repsim.analyses import ablate, compare, inner_loop_activations, read_table, write_table
from repsim.capture import adaptation_activations, capture, record
from repsim.data import EpisodeSampler, SinusoidTasks, load_pool
from repsim.meta import (
    PRESETS,
    TrainConfig,
    adapt,
    evaluate_checkpoint,
    load_trained,
    train,
)
from repsim.similarity import (
    MinibatchCKA,
    cca,
    cka,
    conv_to_samples,
    procrustes,
    pwcca,
    r2cca,
    similarity_batch,
    svcca,
)
from repsim.study import run_study

__all__ = [
    "PRESETS",
    "EpisodeSampler",
    "MinibatchCKA",
    "SinusoidTasks",
    "TrainConfig",
    "__version__",
    "ablate",
    "adapt",
    "adaptation_activations",
    "capture",
    "cca",
    "cka",
    "compare",
    "conv_to_samples",
    "evaluate_checkpoint",
    "inner_loop_activations",
    "load_pool",
    "load_trained",
    "procrustes",
    "pwcca",
    "r2cca",
    "read_table",
    "record",
    "run_study",
    "set_threads",
    "similarity_batch",
    "svcca",
    "train",
    "write_table",
]
