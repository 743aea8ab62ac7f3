"""What a loaded state_dict must hold before a network takes it: tensors, and finite ones.

Shared by every checkpoint loader (classification, learn2learn-style, RL), so a checkpoint
whose ``model`` holds a list, or NaN weights, is refused with one clear line instead of a
traceback or, worse, a confident answer (issue 21: NaN weights evaluated to 20% accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["check_state_values"]


def check_state_values(state: Mapping[str, Any], path: str | Path) -> None:
    """Refuse a state_dict entry that is not a tensor, or a float tensor with NaN/inf values.

    Raises
    ------
    TypeError
        An entry is not a tensor (e.g. a list); the message names the key and the type found.
    ValueError
        A floating-point entry holds NaN or infinite values; the message names the key and
        how many, and says the run diverged or the file was damaged.
    """
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{path}: weight {key!r} is a {type(value).__name__}, not a tensor; the "
                "checkpoint is damaged or was not written by torch's state_dict()"
            )
        if value.is_floating_point() or value.is_complex():
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise ValueError(
                    f"{path}: weight {key!r} holds {bad} non-finite value(s) (NaN or inf) of "
                    f"{value.numel()}; the run diverged or the file is damaged, so no result "
                    "from it would mean anything. Use an earlier checkpoint"
                )
