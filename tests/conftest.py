"""Shared fixtures: seeds, and the real-data location (skips with a reason where it is absent)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests run on 2 cores next to other work; one intra-op thread keeps them predictable.
torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _shared_data_dir() -> Path | None:
    """Where real datasets live for tests: $REPSIM_TEST_DATA (.ci/run sets it to ../shared/data)."""
    env = os.environ.get("REPSIM_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    for path in candidates:
        if (path / "omniglot").is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Directory holding ``omniglot/`` (real data); skip when it is not on this machine."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip(
            "real Omniglot not found: set REPSIM_TEST_DATA to a directory holding omniglot/ "
            "(CI points it at ../shared/data)"
        )
    return path


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for a child Python (torchrun ranks, the CLI): this checkout first on the
    path, one intra-op thread per process."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a torchrun rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
