"""Omniglot loader: real data from ../shared/data (cached once per session) and tiny fakes."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import repsim.data.omniglot as omniglot_mod
from repsim.data import ClassPool, EpisodeSampler, load_omniglot, load_pool

from .conftest import TINY_SPLITS, tiny_omniglot_files, write_tiny_omniglot

# Regression constants (issue #3): the fixed split of the real Omniglot. A change here means every
# checkpoint's split hash changes: only on purpose, with a note in the changelog.
SPLIT_HASHES = {
    "train": "da3224e42c296ebcc213d733e457a2b0e17f4f1f0593978d3a9346950787ff51",
    "val": "152c5ece3f611053b0899f090fba7b83f3575fe12c7bed1cf46467c65c8c5bbb",
    "test": "04c0249208c5e034c930a8857f4d273f9803db82b683cae87f99955992e3b26e",
}
# From shared/data/omniglot/SOURCE.md ("Content digest"), computed there independently.
SOURCE_MD_DIGESTS = {
    "images_background": "deaa02f758afda524b3a045c7af40311f2d9ded3e2a39f715ece8470d474bc6a",
    "images_evaluation": "3d5e035f27423c362bf9a181af649b43cda64c1008f842177ddc5203269c901e",
}


# ---------------------------------------------------------------- real data
@pytest.mark.data
def test_real_split_counts_disjoint_and_complete(omniglot_pools: dict[str, ClassPool]) -> None:
    """1623 characters = 1100 + 100 + 423, disjoint; 20 drawings each; 4 rotations."""
    sizes = {s: p.n_base_classes for s, p in omniglot_pools.items()}
    assert sizes == {"train": 1100, "val": 100, "test": 423}
    names = [set(p.class_names) for p in omniglot_pools.values()]
    assert len(set().union(*names)) == 1623
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    train = omniglot_pools["train"]
    assert train.n_classes == 4400 and train.n_per_class == 20 and train.rotations == (0, 1, 2, 3)
    assert all(n.count("/") == 1 and "/character" in n for n in train.class_names)
    assert list(train.class_names) == sorted(train.class_names)


@pytest.mark.data
def test_real_split_hashes_are_pinned_and_stable(
    omniglot_pools: dict[str, ClassPool], shared_data_dir: Path, omniglot_cache_dir: Path
) -> None:
    """Issue #3 regression: the seeded split and its hash never drift."""
    assert {s: p.split_hash for s, p in omniglot_pools.items()} == SPLIT_HASHES
    again = load_pool(
        "omniglot", split="val", data_dir=shared_data_dir, cache_dir=omniglot_cache_dir
    )
    assert (
        again.split_hash == SPLIT_HASHES["val"]
        and again.class_names == omniglot_pools["val"].class_names
    )


@pytest.mark.data
def test_real_content_digest_matches_source_md(omniglot_pools: dict[str, ClassPool]) -> None:
    """The PNG-content digests computed while decoding equal the ones SOURCE.md documents."""
    expected = hashlib.sha256(
        "".join(f"{p}={d}\n" for p, d in SOURCE_MD_DIGESTS.items()).encode()
    ).hexdigest()
    assert omniglot_pools["test"].content_digest == expected


@pytest.mark.data
def test_real_images_shape_and_polarity(omniglot_pools: dict[str, ClassPool]) -> None:
    """uint8 28x28; strokes bright on a dark background (learn2learn's 1 - ToTensor)."""
    images = omniglot_pools["train"].images
    assert images.shape == (1100, 20, 1, 28, 28) and images.dtype == torch.uint8
    assert int(images.max()) == 255
    assert float(images.float().mean()) < 0.25 * 255  # mostly background (0)
    corners = images[..., [0, -1]][..., [0, -1], :]  # (..., 2, 2): the four corner pixels
    assert float(corners.float().mean()) < 10


def _independent_decode(zips: list[Path], name: str, drawing: int) -> np.ndarray:
    """The paper's recipe done by hand: read the PNG from the official-layout zip, resize,
    invert. ``drawing`` indexes the character's PNGs in file-name order."""
    for path in zips:
        with zipfile.ZipFile(path) as zf:
            prefix = f"{path.stem}/{name}/"
            members = sorted(m for m in zf.namelist() if m.startswith(prefix) and m.endswith("png"))
            if members:
                img = Image.open(io.BytesIO(zf.read(members[drawing]))).convert("L")
                small = img.resize((28, 28), Image.LANCZOS)
                return 1.0 - np.asarray(small, dtype=np.float32) / 255.0
    raise AssertionError(f"{name} not in {zips}")


@pytest.mark.data
def test_real_images_equal_an_independent_decode(
    omniglot_pools: dict[str, ClassPool], shared_data_dir: Path
) -> None:
    """Sampled images (float) equal 1 - ToTensor(resize(PNG)) decoded straight from the zip."""
    zips = sorted((shared_data_dir / "omniglot").glob("images_*.zip"))
    pool = omniglot_pools["test"]
    sampler = EpisodeSampler(pool, ways=5, shots=2, query=1, seed=11)
    ep, classes = sampler.sample(0), sampler.classes(0)
    rot = pool.rotations
    for label in (0, 3):
        base, turns = divmod(int(classes[label]), len(rot))[0], rot[int(classes[label]) % len(rot)]
        got = ep.support_x[label * 2, 0].numpy()
        # Which drawing it is: find it among the 20 stored ones (rotated back).
        stored = pool.images[base, :, 0].float().numpy() / 255
        unrotated = np.rot90(got, -turns)
        drawing = int(np.argmin(np.abs(stored - unrotated).sum(axis=(1, 2))))
        ref = _independent_decode(zips, pool.class_names[base], drawing)
        np.testing.assert_allclose(unrotated, ref, atol=1e-6)
    # and one stored image directly, uint8 against the same recipe
    ref = _independent_decode(zips, pool.class_names[17], 5)
    np.testing.assert_allclose(pool.images[17, 5, 0].numpy() / 255.0, ref, atol=1e-6)


@pytest.mark.data
def test_real_rotation_classes_differ(omniglot_pools: dict[str, ClassPool]) -> None:
    """The four rotations of a character are four different images (so four classes)."""
    img = omniglot_pools["train"].images[:50, 0, 0]  # (50, 28, 28)
    turned = [torch.rot90(img, k, dims=(-2, -1)) for k in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            differs = (turned[a] != turned[b]).flatten(1).any(dim=1)
            assert bool(differs.all()), (a, b)


@pytest.mark.data
def test_real_cache_hit_reuses_the_file(
    shared_data_dir: Path, omniglot_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second load reads the cached tensor: nothing is decoded and the file is not rewritten."""
    (cache_file,) = omniglot_cache_dir.glob("omniglot-28px-*.pt")
    before = cache_file.stat().st_mtime_ns

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded although the cache was valid")

    monkeypatch.setattr(omniglot_mod, "_build", no_decoding)
    pool = load_omniglot(shared_data_dir, split="test", cache_dir=omniglot_cache_dir)
    assert pool.n_base_classes == 423 and cache_file.stat().st_mtime_ns == before
    assert sorted(p.name for p in omniglot_cache_dir.iterdir()) == [cache_file.name]


# ---------------------------------------------------------------- tiny fakes
@pytest.mark.usefixtures("tiny_rules")
def test_zip_and_folder_give_the_same_pool(tmp_path: Path, tiny_files: dict) -> None:
    """Packaging does not matter: a zip and the extracted tree load to identical pools."""
    write_tiny_omniglot(tmp_path / "a" / "omniglot", tiny_files, kind="zip")
    write_tiny_omniglot(tmp_path / "b" / "omniglot", tiny_files, kind="folder")
    with pytest.warns(UserWarning, match="differ from the official release"):
        a = load_omniglot(tmp_path / "a", split="train", cache_dir=tmp_path / "ca")
    with pytest.warns(UserWarning, match="differ from the official release"):
        b = load_omniglot(tmp_path / "b", split="train", cache_dir=tmp_path / "cb")
    assert a.n_base_classes == TINY_SPLITS["train"]
    assert torch.equal(a.images, b.images) and a.class_names == b.class_names
    assert a.split_hash == b.split_hash and a.content_digest == b.content_digest


@pytest.mark.usefixtures("tiny_rules")
def test_stored_pixels_follow_the_recipe(tmp_path: Path, tiny_files: dict) -> None:
    """image_size is honoured and each image is 255 - LANCZOS(convert("L")) of its PNG."""
    write_tiny_omniglot(tmp_path / "omniglot", tiny_files)
    with pytest.warns(UserWarning):
        pool = load_omniglot(tmp_path, split="val", image_size=14, cache_dir=tmp_path / "c")
    name = pool.class_names[0]
    part = next(p for p, m in tiny_files.items() if any(r.startswith(name + "/") for r in m))
    first = sorted(r for r in tiny_files[part] if r.startswith(name + "/"))[0]
    img = (
        Image.open(io.BytesIO(tiny_files[part][first])).convert("L").resize((14, 14), Image.LANCZOS)
    )
    assert pool.images.shape == (1, 20, 1, 14, 14)
    assert torch.equal(pool.images[0, 0, 0], torch.from_numpy(255 - np.asarray(img)))


@pytest.mark.usefixtures("tiny_rules")
@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        ("drop_character", r"holds 2 characters with PNGs, expected 3 for images_background"),
        ("drop_drawing", r"1 characters do not have 20 PNGs \(.*: 19\)"),
        ("small_image", r"is 100x100, expected 105x105"),
        ("not_png", r"cannot decode .* as PNG"),
    ],
)
def test_content_checks_reject_bad_copies(tmp_path: Path, mutate: str, match: str) -> None:
    files = tiny_omniglot_files()
    bg = files["images_background"]
    first = sorted(bg)[0]
    if mutate == "drop_character":
        char = first.rsplit("/", 1)[0]
        files["images_background"] = {r: d for r, d in bg.items() if not r.startswith(char)}
    elif mutate == "drop_drawing":
        del bg[first]
    elif mutate == "small_image":
        bg[first] = tiny_omniglot_files(size=(100, 100), drawings=1)["images_background"][
            sorted(tiny_omniglot_files(drawings=1)["images_background"])[0]
        ]
    else:
        bg[first] = b"this is not a png"
    write_tiny_omniglot(tmp_path / "omniglot", files)
    with pytest.raises(ValueError, match=match):
        load_omniglot(tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.usefixtures("tiny_rules")
def test_data_dir_is_never_written(tmp_path: Path, tiny_files: dict) -> None:
    """DIR may be read-only (the shared copy is): loading adds nothing to it."""
    write_tiny_omniglot(tmp_path / "data" / "omniglot", tiny_files)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))
    with pytest.warns(UserWarning):
        load_omniglot(tmp_path / "data", split="test", cache_dir=tmp_path / "cache")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*")) == before


@pytest.mark.usefixtures("tiny_rules")
@pytest.mark.filterwarnings("ignore:omniglot.*differ from the official release")
def test_env_dirs_are_used_and_corrupt_cache_is_rebuilt(
    tmp_path: Path, tiny_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$REPSIM_DATA and $REPSIM_CACHE are used; a garbage cache file is rebuilt, with a warning."""
    write_tiny_omniglot(tmp_path / "d" / "omniglot", tiny_files)
    monkeypatch.setenv("REPSIM_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("REPSIM_CACHE", str(tmp_path / "c"))
    first = load_omniglot(split="train")
    (cache_file,) = (tmp_path / "c").iterdir()
    cache_file.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="ignoring unreadable cache file"):
        again = load_omniglot(split="train")
    assert torch.equal(first.images, again.images) and cache_file.stat().st_size > 1000


def test_missing_data_says_where_it_looked_and_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Omniglot not found") as info:
        load_omniglot(tmp_path / "nowhere")
    msg = str(info.value)
    assert str(tmp_path / "nowhere" / "omniglot" / "images_background.zip") in msg
    assert "--download" in msg and "load_omniglot(download=True)" in msg
    with pytest.raises(FileNotFoundError, match=r"from \$REPSIM_DATA"):
        load_omniglot()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"unknown split 'training'; valid splits are 'train'"):
        load_omniglot(split="training")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"image_size must be >= 1, got 0"):
        load_omniglot(image_size=0)


def test_user_cache_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No argument, no env: data under $XDG_CACHE_HOME/repsim (else ~/.cache/repsim)."""
    from repsim.data._common import resolve_cache_dir, resolve_data_dir

    monkeypatch.delenv("REPSIM_DATA")
    monkeypatch.delenv("REPSIM_CACHE")
    assert resolve_data_dir(None)[0] == tmp_path / "xdg" / "repsim"
    assert resolve_cache_dir(None) == tmp_path / "xdg" / "repsim" / "processed"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_data_dir(None)[0] == Path(os.path.expanduser("~")) / ".cache" / "repsim"
