"""load_pool: the by-name entry point used by the CLI and the training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import repsim.data as data
from repsim.data import load_omniglot, load_pool

from .conftest import write_tiny_omniglot


def test_unknown_dataset_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; valid .* 'omniglot', 'mini"):
        load_pool("cifar", split="train")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"use repsim.data.SinusoidTasks"):
        load_pool("sinusoid", split="train")  # type: ignore[arg-type]


@pytest.mark.usefixtures("tiny_rules")
@pytest.mark.filterwarnings("ignore:omniglot.*differ from the official release")
def test_omniglot_by_name_equals_the_direct_loader(tmp_path: Path, tiny_files: dict) -> None:
    write_tiny_omniglot(tmp_path / "omniglot", tiny_files)
    a = load_pool("omniglot", split="test", data_dir=tmp_path, cache_dir=tmp_path / "c")
    b = load_omniglot(tmp_path, split="test", cache_dir=tmp_path / "c")
    assert torch.equal(a.images, b.images) and a.split_hash == b.split_hash


def test_public_names() -> None:
    for name in (
        "Episode",
        "ClassPool",
        "EpisodeSampler",
        "load_omniglot",
        "load_miniimagenet",
        "SinusoidTasks",
        "load_pool",
    ):
        assert name in data.__all__ and hasattr(data, name)
