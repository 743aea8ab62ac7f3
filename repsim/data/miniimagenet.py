"""MiniImageNet (Vinyals et al. 2016; Ravi & Larochelle 2017 split): a reader, never a download.

repsim cannot download MiniImageNet: it is derived from ImageNet, whose terms forbid
redistribution, and there is no official md5-checked source. Get it yourself in one of the two
formats users have, and put it in ``DIR/miniimagenet/`` (or ``DIR/mini-imagenet/``), where
``DIR`` is the ``data_dir`` argument, else ``$REPSIM_DATA``, else ``~/.cache/repsim``:

1. learn2learn-style pickles ``mini-imagenet-cache-{train,validation,test}.pkl``: a dict with
   ``image_data`` (N, 84, 84, 3) uint8 and ``class_dict`` {class name: [row indices]}.
   (learn2learn's ``MiniImagenet(root, download=True)`` writes these.) They are read with a
   restricted unpickler that only rebuilds numpy arrays and plain containers: a pickle that
   tries to run anything else is rejected.
2. Ravi & Larochelle's split (github.com/twitter/meta-learning-lstm): ``images/`` plus
   ``train.csv``, ``val.csv``, ``test.csv`` with columns ``filename,label``. Images of any size
   are converted to RGB and resized to 84x84 with LANCZOS (as in Finn et al.'s
   ``proc_images.py``); the decoded tensor is cached in ``cache_dir``. Pickles are loaded
   directly (no cache): their arrays are already decoded.

Pickles are used when both exist. The standard split has 64 / 16 / 20 classes of 600 images.
repsim's own tests use small generated files in both formats (the real set is not available
where the tests run); nothing here depends on the class count or images per class, but every
class of a split must have the same number of images.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from repsim._progress import tqdm
from repsim.data._common import (
    check_int,
    check_split,
    read_cache,
    resolve_cache_dir,
    resolve_data_dir,
    split_hash,
    write_cache,
)
from repsim.data.episodes import ClassPool

__all__ = ["load_miniimagenet"]

FOLDERS = ("miniimagenet", "mini-imagenet")
PICKLE_SPLIT = {"train": "train", "val": "validation", "test": "test"}
_CACHE_KIND = "repsim-miniimagenet-csv-v1"

# What a learn2learn cache pickle may reference: numpy's array reconstruction (old and new module
# paths), dtypes, and codecs used by protocol-2 pickles of bytes. Nothing else is importable.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a MiniImageNet cache pickle only holds numpy "
                "arrays, dicts and lists"
            )
        return super().find_class(module, name)


def _how_to_get(looked: list[str]) -> str:
    return (
        "MiniImageNet not found; looked in " + "; ".join(looked) + ". repsim never downloads "
        "MiniImageNet (ImageNet's terms forbid redistribution). Get either learn2learn's "
        "mini-imagenet-cache-{train,validation,test}.pkl (learn2learn.vision.datasets."
        "MiniImagenet(root, download=True)) or Ravi & Larochelle's images/ + train.csv, val.csv, "
        "test.csv (github.com/twitter/meta-learning-lstm), put them in DIR/miniimagenet/, and "
        "pass DIR as data_dir / --data-dir or set $REPSIM_DATA."
    )


def _pool(images: torch.Tensor, classes: list[str], split: str) -> ClassPool:
    # content_digest stays empty: hashing ~1 GB of pixels on every load is not worth it, and the
    # split hash already pins the classes.
    return ClassPool(
        images=images,
        rotations=(0,),
        name="miniimagenet",
        split=split,
        split_hash=split_hash("miniimagenet", classes, (0,)),
        class_names=tuple(classes),
    )


def _uniform_counts(counts: Mapping[str, int], where: str) -> int:
    distinct = sorted(set(counts.values()))
    if len(distinct) != 1 or distinct[0] == 0:
        example = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())[:4])
        raise ValueError(
            f"miniimagenet: {where}: every class must have the same number of images (the "
            f"standard split has 600); found counts {distinct} ({example}, ...)"
        )
    return distinct[0]


def _resize_rgb(arr: np.ndarray, image_size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 → (N, S, S, 3), LANCZOS (only when a pickle's size differs)."""
    out = np.empty((len(arr), image_size, image_size, 3), dtype=np.uint8)
    for i, img in enumerate(arr):
        small = Image.fromarray(img).resize((image_size, image_size), Image.Resampling.LANCZOS)
        out[i] = np.asarray(small)
    return out


def _load_pickle(path: Path, split: str, image_size: int) -> ClassPool:
    try:
        with path.open("rb") as fh:
            data = _RestrictedUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"miniimagenet: cannot read {path} as a learn2learn cache pickle ({exc}); it is "
            "corrupt, truncated or not that format"
        ) from exc
    if not isinstance(data, dict) or not {"image_data", "class_dict"} <= set(data):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"miniimagenet: {path} must hold a dict with 'image_data' and 'class_dict', found "
            f"{found}"
        )
    arr, class_dict = data["image_data"], data["class_dict"]
    if not (isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.ndim == 4):
        shape = getattr(arr, "shape", None)
        raise ValueError(
            f"miniimagenet: {path}: image_data must be a uint8 array (N, H, W, 3), got "
            f"{type(arr).__name__} {getattr(arr, 'dtype', '')} {shape}"
        )
    if arr.shape[-1] != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(
            f"miniimagenet: {path}: image_data must be (N, H, H, 3) RGB, got {arr.shape}"
        )
    classes = sorted(class_dict)
    rows = {c: np.asarray(class_dict[c], dtype=np.int64).reshape(-1) for c in classes}
    _uniform_counts({c: len(r) for c, r in rows.items()}, str(path))
    index = np.stack([rows[c] for c in classes])  # (n_classes, n_per)
    if index.min() < 0 or index.max() >= len(arr):
        raise ValueError(
            f"miniimagenet: {path}: class_dict indices must be in [0, {len(arr)}), found "
            f"{index.min()}..{index.max()}"
        )
    if arr.shape[1] != image_size:
        arr = _resize_rgb(arr, image_size)
    images = torch.from_numpy(arr)[torch.from_numpy(index)]  # (n_classes, n_per, S, S, 3)
    images = images.permute(0, 1, 4, 2, 3).contiguous()  # (n_classes, n_per, 3, S, S)
    return _pool(images, classes, split)


def _read_csv(path: Path) -> dict[str, list[str]]:
    """label → sorted filenames, from a ``filename,label`` csv."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"miniimagenet: {path} must have the header 'filename,label', found "
                f"{reader.fieldnames}"
            )
        by_label: dict[str, list[str]] = {}
        for row in reader:
            by_label.setdefault(row["label"], []).append(row["filename"])
    if not by_label:
        raise ValueError(f"miniimagenet: {path} lists no images")
    return {label: sorted(files) for label, files in sorted(by_label.items())}


def _decode_rgb(path: Path, image_size: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"miniimagenet: cannot decode {path} ({exc})") from exc
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)  # (3, S, S)


def _load_csv(root: Path, split: str, image_size: int, cache_dir: Path) -> ClassPool:
    csv_path = root / f"{split}.csv"
    by_label = _read_csv(csv_path)
    n_per = _uniform_counts({c: len(f) for c, f in by_label.items()}, str(csv_path))
    files = [root / "images" / f for fs in by_label.values() for f in fs]
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"miniimagenet: {len(missing)} of the {len(files)} images listed in {csv_path} are "
            f"not in {root / 'images'} (first: {missing[0].name}); the images/ folder is "
            "incomplete: get the whole set again"
        )
    # Cache key: the csv bytes, the size, and each image's size and mtime (cheap: no reads).
    h = hashlib.sha256(f"{_CACHE_KIND}\n{image_size}\n".encode() + csv_path.read_bytes())
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    key = h.hexdigest()
    cache_file = cache_dir / f"miniimagenet-{split}-{image_size}px-{key[:24]}.pt"
    payload = read_cache(cache_file, key=key, kind=_CACHE_KIND)
    if payload is None:
        out = np.empty((len(files), 3, image_size, image_size), dtype=np.uint8)
        for i, p in enumerate(tqdm(files, desc=f"decoding MiniImageNet {split}", disable=None)):
            out[i] = _decode_rgb(p, image_size)
        images = torch.from_numpy(out).view(len(by_label), n_per, 3, image_size, image_size)
        payload = {"kind": _CACHE_KIND, "key": key, "images": images, "classes": list(by_label)}
        write_cache(cache_file, payload)
    return _pool(payload["images"], list(payload["classes"]), split)


def load_miniimagenet(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split: Literal["train", "val", "test"] = "train",
    cache_dir: str | os.PathLike[str] | None = None,
    image_size: int = 84,
) -> ClassPool:
    """One split of MiniImageNet as a :class:`ClassPool` (see the module docstring for formats).

    Parameters
    ----------
    data_dir : str or Path, optional
        ``DIR`` holding ``miniimagenet/`` (or ``mini-imagenet/``); default ``$REPSIM_DATA``,
        else the user cache dir.
    split : {"train", "val", "test"}, default="train"
        64 / 16 / 20 classes in the standard split.
    cache_dir : str or Path, optional
        Where decoded csv-format images are cached; default ``$REPSIM_CACHE``, else
        ``<user cache dir>/processed``. (Pickles are loaded directly.)
    image_size : int, default=84
        Side of the returned images; images of another size (raw ImageNet JPEGs, a pickle made
        at another size) are resized with LANCZOS.

    Returns
    -------
    ClassPool
        ``images`` uint8 of shape (n_classes, n_per_class, 3, H, W) (standard: (64, 600, 3, 84,
        84) for train), ``rotations=(0,)``, ``class_names`` the sorted class (wnid) names.

    Raises
    ------
    FileNotFoundError
        Neither format found for this split (the message lists where it looked and how to get
        the data; repsim never downloads MiniImageNet), or images listed in a csv are missing.
    ValueError
        Unknown split, malformed files, or classes with different image counts.

    Examples
    --------
    >>> pool = load_miniimagenet("~/data", split="test")  # doctest: +SKIP
    >>> pool.n_classes, pool.image_shape  # doctest: +SKIP
    (20, (3, 84, 84))
    """
    check_split(split, dataset="miniimagenet")
    image_size = check_int(image_size, "image_size", minimum=1, context="load_miniimagenet")
    data_root, how = resolve_data_dir(data_dir)
    looked = []
    for folder in FOLDERS:
        root = data_root / folder
        pkl = root / f"mini-imagenet-cache-{PICKLE_SPLIT[split]}.pkl"
        if pkl.is_file():
            return _load_pickle(pkl, split, image_size)
        if (root / f"{split}.csv").is_file() and (root / "images").is_dir():
            return _load_csv(root, split, image_size, resolve_cache_dir(cache_dir))
        looked.append(f"{pkl} and {root / (split + '.csv')} + {root / 'images'}/")
    raise FileNotFoundError(_how_to_get(looked) + f" (data dir from {how})")
