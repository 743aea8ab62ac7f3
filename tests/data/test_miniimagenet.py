"""MiniImageNet reader on small generated files in both formats (the real set is not available
here; repsim never downloads it)."""

from __future__ import annotations

import csv
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import repsim.data.miniimagenet as mini_mod
from repsim.data import EpisodeSampler, load_miniimagenet, load_pool

N_CLASSES, N_PER, SIDE = 5, 6, 84


def fake_split(seed: int = 0, *, n_classes: int = N_CLASSES, side: int = SIDE) -> dict:
    """learn2learn layout: image_data (N, side, side, 3) uint8, class_dict {wnid: [rows]},
    with rows shuffled so a class's images are not contiguous."""
    rng = np.random.default_rng(seed)
    n = n_classes * N_PER
    image_data = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
    rows = rng.permutation(n)
    names = [f"n{seed:02d}{i:06d}" for i in range(n_classes)][::-1]  # stored unsorted
    class_dict = {c: rows[i * N_PER : (i + 1) * N_PER].tolist() for i, c in enumerate(names)}
    return {"image_data": image_data, "class_dict": class_dict}


def write_pickles(root: Path, splits: dict[str, dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    names = {"train": "train", "val": "validation", "test": "test"}
    for split, data in splits.items():
        with (root / f"mini-imagenet-cache-{names[split]}.pkl").open("wb") as fh:
            pickle.dump(data, fh, protocol=4)


def write_csv_format(root: Path, split: str, data: dict) -> None:
    """Ravi-Larochelle layout: images/<file>.png + <split>.csv (filename,label)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    with (root / f"{split}.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "label"])
        for label, rows in data["class_dict"].items():
            for j, r in enumerate(rows):
                name = f"{label}{j:08d}.png"  # file order = class_dict order
                Image.fromarray(data["image_data"][r]).save(root / "images" / name)
                writer.writerow([name, label])


def expected_images(data: dict) -> torch.Tensor:
    """(n_classes, n_per, 3, H, W) in sorted class order, from the raw dict by hand."""
    out = [
        [data["image_data"][r].transpose(2, 0, 1) for r in data["class_dict"][c]]
        for c in sorted(data["class_dict"])
    ]
    return torch.from_numpy(np.array(out))


def test_pickle_format(tmp_path: Path) -> None:
    """Every class's images, in class_dict order, channels first; sorted class names."""
    data = {s: fake_split(i) for i, s in enumerate(("train", "val", "test"))}
    write_pickles(tmp_path / "miniimagenet", data)
    for split in ("train", "val", "test"):
        pool = load_miniimagenet(tmp_path, split=split)
        assert torch.equal(pool.images, expected_images(data[split]))
        assert pool.class_names == tuple(sorted(data[split]["class_dict"]))
        assert pool.rotations == (0,) and pool.split == split and pool.name == "miniimagenet"


def test_csv_format_matches_the_pickle_of_the_same_data(tmp_path: Path) -> None:
    """The two formats of the same images give equal pools and split hashes."""
    data = fake_split(3)
    write_pickles(tmp_path / "a" / "miniimagenet", {"test": data})
    write_csv_format(tmp_path / "b" / "mini-imagenet", "test", data)
    a = load_miniimagenet(tmp_path / "a", split="test")
    b = load_miniimagenet(tmp_path / "b", split="test", cache_dir=tmp_path / "cache")
    assert torch.equal(a.images, b.images) and a.split_hash == b.split_hash
    ep = EpisodeSampler(b, ways=5, shots=1, query=5, seed=0).sample(0)
    assert ep.support_x.shape == (5, 3, 84, 84) and ep.query_x.shape == (25, 3, 84, 84)


def test_csv_images_of_another_size_are_resized_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raw-size images are resized with LANCZOS; the second load comes from the cache."""
    data = fake_split(4, side=40)
    root = tmp_path / "miniimagenet"
    write_csv_format(root, "val", data)
    pool = load_miniimagenet(tmp_path, split="val", image_size=20, cache_dir=tmp_path / "c")
    first_class = sorted(data["class_dict"])[0]
    src = data["image_data"][data["class_dict"][first_class][0]]
    ref = np.asarray(Image.fromarray(src).resize((20, 20), Image.LANCZOS)).transpose(2, 0, 1)
    assert pool.images.shape == (N_CLASSES, N_PER, 3, 20, 20)
    assert torch.equal(pool.images[0, 0], torch.from_numpy(np.ascontiguousarray(ref)))

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded although the cache was valid")

    monkeypatch.setattr(mini_mod, "_decode_rgb", no_decoding)
    again = load_miniimagenet(tmp_path, split="val", image_size=20, cache_dir=tmp_path / "c")
    assert torch.equal(again.images, pool.images)


def test_pickle_resized_when_image_size_differs(tmp_path: Path) -> None:
    data = fake_split(5, side=32)
    write_pickles(tmp_path / "miniimagenet", {"train": data})
    assert load_miniimagenet(tmp_path).image_shape == (3, 84, 84)
    assert load_miniimagenet(tmp_path, image_size=32).image_shape == (3, 32, 32)


def test_missing_data_says_where_it_looked_and_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"MiniImageNet not found") as info:
        load_pool("miniimagenet", split="val", data_dir=tmp_path, download=True)
    msg = str(info.value)
    assert str(tmp_path / "miniimagenet" / "mini-imagenet-cache-validation.pkl") in msg
    assert str(tmp_path / "mini-imagenet" / "val.csv") in msg
    assert "never downloads" in msg and "learn2learn" in msg and "meta-learning-lstm" in msg
    assert not any(tmp_path.iterdir())


def test_unequal_class_sizes_are_rejected(tmp_path: Path) -> None:
    data = fake_split(6)
    first = sorted(data["class_dict"])[0]
    data["class_dict"][first] = data["class_dict"][first][:-1]
    write_pickles(tmp_path / "miniimagenet", {"train": data})
    with pytest.raises(ValueError, match=r"same number of images .* found counts \[5, 6\]"):
        load_miniimagenet(tmp_path)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"image_data": np.zeros((2, 8, 8, 3), np.uint8)}, r"must hold a dict with 'image_data'"),
        ({"image_data": np.zeros((2, 8, 8), np.uint8), "class_dict": {}}, r"uint8 array \(N"),
        (
            {"image_data": np.zeros((2, 8, 8, 3), np.uint8), "class_dict": {"a": [0, 5]}},
            r"indices must be in \[0, 2\), found 0\.\.5",
        ),
    ],
)
def test_malformed_pickles(tmp_path: Path, payload: dict, match: str) -> None:
    write_pickles(tmp_path / "miniimagenet", {"train": payload})
    with pytest.raises(ValueError, match=match):
        load_miniimagenet(tmp_path, image_size=8)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    """Only numpy arrays and containers are rebuilt: a pickle calling a function is refused."""
    write_pickles(tmp_path / "miniimagenet", {"train": {"image_data": _Evil(), "class_dict": {}}})
    with pytest.raises(ValueError, match=r"refusing to load posix\.getcwd|refusing to load nt"):
        load_miniimagenet(tmp_path)


def test_csv_with_missing_images_and_bad_header(tmp_path: Path) -> None:
    data = fake_split(7)
    root = tmp_path / "miniimagenet"
    write_csv_format(root, "train", data)
    victim = sorted((root / "images").iterdir())[0]
    victim.unlink()
    with pytest.raises(
        FileNotFoundError, match=rf"1 of the 30 images .*first: {re.escape(victim.name)}"
    ):
        load_miniimagenet(tmp_path, cache_dir=tmp_path / "c")
    (root / "train.csv").write_text("file,class\nx.png,a\n")
    with pytest.raises(ValueError, match=r"header 'filename,label', found \['file', 'class'\]"):
        load_miniimagenet(tmp_path, cache_dir=tmp_path / "c")
