"""Omniglot (Lake et al. 2015): official download, content checks, processed cache, fixed splits.

Data layout looked for under ``DIR/omniglot/`` (``DIR`` = ``data_dir`` argument, else
``$REPSIM_DATA``, else ``$XDG_CACHE_HOME/repsim`` or ``~/.cache/repsim``), for each of the two
official parts ``images_background`` (964 characters) and ``images_evaluation`` (659):

- ``images_background.zip``: the official zip (md5 ``68d2efa1…``), or any repackaged zip holding
  the same tree; PNGs are read straight from the zip (``DIR`` may be read-only);
- or the extracted folder ``images_background/<Alphabet>/<characterNN>/<id>_<drawer>.png``.

A zip is preferred when both exist. Whatever the packaging, the content is verified before use:
964 / 659 characters, 20 PNGs each, every image 105x105. The sha256 content digest of the PNGs
(the recipe of ``shared/data/omniglot/SOURCE.md``) is compared with the official release, and a
warning is issued when a copy passes the structure checks but differs from it.

Preprocessing (learn2learn's convention): ``PIL.Image.open → convert("L") → resize to
image_size x image_size with LANCZOS → 255 - pixel``, so strokes are 255 (1.0 after sampling) and
the background 0. Decoding 32,460 PNGs takes several seconds, so the uint8 tensor of all 1623
characters is cached with ``torch.save`` in ``cache_dir`` (argument, else ``$REPSIM_CACHE``, else
``<user cache dir>/processed``), named by a fingerprint of the source (member paths, sizes and
CRC32s for zips; paths, sizes and mtimes for folders) and the image size.

Split (fixed, decided for repsim): the 1623 "Alphabet/characterNN" names are sorted, shuffled
with ``np.random.default_rng(1).permutation(1623)``; the first 1100 are ``train``, the next 100
``val``, the last 423 ``test`` (train + val = the paper's 1200 meta-training characters; the same
counts as learn2learn). Each split's classes are stored in sorted order. Every character at
0/90/180/270 degrees is its own class (``rotations=(0, 1, 2, 3)``), so train has 4400 classes.

(Slightly over the ~400-line guideline, mostly docstrings: finding, checking, decoding, caching
and downloading one dataset's files belong together.)
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
from repsim.data._download import fetch
from repsim.data.episodes import ClassPool

__all__ = ["OMNIGLOT_MD5", "OMNIGLOT_URL", "download_omniglot", "load_omniglot", "omniglot_split"]

OMNIGLOT_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
URL_ENV = "REPSIM_OMNIGLOT_URL"
PARTS = ("images_background", "images_evaluation")
OMNIGLOT_MD5 = {  # the official zips (as in torchvision's Omniglot.zips_md5)
    "images_background.zip": "68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation.zip": "6b91aef0f799c5bb55b94e3f2daec811",
}
# sha256 over "<sha256(png)>  <part>/<alphabet>/<character>/<file>\n", sorted by path: the PNG
# bytes of the official release, whatever zip or folder carries them (SOURCE.md).
OMNIGLOT_CONTENT_SHA256 = {
    "images_background": "deaa02f758afda524b3a045c7af40311f2d9ded3e2a39f715ece8470d474bc6a",
    "images_evaluation": "3d5e035f27423c362bf9a181af649b43cda64c1008f842177ddc5203269c901e",
}
EXPECTED_CHARACTERS = {"images_background": 964, "images_evaluation": 659}
DRAWINGS_PER_CHARACTER = 20
RAW_IMAGE_SIZE = (105, 105)
SPLIT_SEED = 1
SPLIT_SIZES = {"train": 1100, "val": 100, "test": 423}
ROTATIONS = (0, 1, 2, 3)
_CACHE_KIND = "repsim-omniglot-v1"  # bump when the preprocessing changes


@dataclass(frozen=True)
class _Source:
    """One part (background / evaluation), as a zip or a folder; ``members``: rel path → locator."""

    part: str
    path: Path
    kind: Literal["zip", "folder"]
    members: dict[str, str]  # "Alphabet/characterNN/file.png" -> zip member name or file path
    fingerprint: tuple[str, ...]  # sorted "rel<TAB>size<TAB>crc32|mtime" lines

    @contextmanager
    def reader(self) -> Iterator[Callable[[str], bytes]]:
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                yield lambda rel: _read_member(zf, self.path, self.members[rel])
        else:
            yield lambda rel: Path(self.members[rel]).read_bytes()


def _read_member(zf: zipfile.ZipFile, path: Path, member: str) -> bytes:
    """One member's bytes; a corrupt member (bad CRC, broken deflate stream) is a ValueError."""
    try:
        return zf.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(
            f"omniglot: {path} is corrupt: member {member} does not decompress ({exc}); delete "
            "the zip and fetch it again with --download (or load_omniglot(download=True))"
        ) from exc


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _index_zip(part: str, path: Path) -> _Source:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except PermissionError as exc:
        raise PermissionError(
            f"omniglot: cannot read {path}: permission denied; make it readable (chmod a+r) or "
            "point --data-dir / $REPSIM_DATA at a copy you can read"
        ) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(
            f"omniglot: {path} is not a readable zip ({exc}); delete it and fetch it again with "
            "--download (repsim train/eval/compare/ablate/reproduce) or "
            "load_omniglot(download=True)"
        ) from exc
    members: dict[str, str] = {}
    lines = []
    for info in infos:
        parts = info.filename.split("/")
        # Skip folders, macOS resource forks and anything that is not alphabet/character/x.png.
        if info.is_dir() or "__MACOSX" in parts or parts[-1].startswith("."):
            continue
        if not parts[-1].lower().endswith(".png") or len(parts) < 3:
            continue
        rel = "/".join(parts[-3:])
        if rel in members:
            raise ValueError(
                f"omniglot: {path} holds {rel} twice ({members[rel]}, {info.filename}); "
                "this is not the official layout"
            )
        members[rel] = info.filename
        lines.append(f"{rel}\t{info.file_size}\t{info.CRC:08x}")
    return _Source(part, path, "zip", members, tuple(sorted(lines)))


def _index_folder(part: str, path: Path) -> _Source:
    members: dict[str, str] = {}
    lines = []
    for alphabet in sorted(p for p in path.iterdir() if p.is_dir()):
        for character in sorted(p for p in alphabet.iterdir() if p.is_dir()):
            with os.scandir(character) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.name.lower().endswith(".png"):
                        continue
                    rel = f"{alphabet.name}/{character.name}/{entry.name}"
                    st = entry.stat()
                    members[rel] = entry.path
                    lines.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")
    return _Source(part, path, "folder", members, tuple(sorted(lines)))


def _find_sources(root: Path, how: str) -> dict[str, _Source]:
    """Index every part under ``root``; FileNotFoundError saying where it looked when absent."""
    sources, missing = {}, []
    for part in PARTS:
        zip_path, folder = root / f"{part}.zip", root / part
        if zip_path.is_file():
            sources[part] = _index_zip(part, zip_path)
        elif folder.is_dir():
            sources[part] = _index_folder(part, folder)
        else:
            missing.append(part)
    if missing:
        looked = "; ".join(f"{root / p}.zip or {root / p}/" for p in missing)
        raise FileNotFoundError(
            f"Omniglot not found (data dir {root.parent}, from {how}): looked for {looked}. "
            f"Fetch it with --download (repsim train/eval/compare/ablate/reproduce) or "
            f"load_omniglot(download=True), which "
            f"downloads the official md5-checked zips from {OMNIGLOT_URL} into {root}; or put "
            "the official zips (or their extracted folders) there, or point --data-dir / "
            "$REPSIM_DATA at a directory that has omniglot/."
        )
    return sources


def _characters(src: _Source) -> dict[str, list[str]]:
    """ "Alphabet/characterNN" → its sorted PNG members, after checking the counts."""
    chars: dict[str, list[str]] = {}
    for rel in src.members:
        chars.setdefault(rel.rsplit("/", 1)[0], []).append(rel)
    expected = EXPECTED_CHARACTERS[src.part]
    where = f"omniglot: {src.kind} {src.path}"
    fix = (
        "It is truncated or not the official Omniglot: delete it and fetch it again with "
        "`repsim train ... --download` / load_omniglot(download=True)."
    )
    if len(chars) != expected:
        raise ValueError(
            f"{where} holds {len(chars)} characters with PNGs, expected {expected} for "
            f"{src.part}. {fix}"
        )
    wrong = {c: len(v) for c, v in chars.items() if len(v) != DRAWINGS_PER_CHARACTER}
    if wrong:
        example = ", ".join(f"{c}: {n}" for c, n in sorted(wrong.items())[:3])
        raise ValueError(
            f"{where}: {len(wrong)} characters do not have {DRAWINGS_PER_CHARACTER} PNGs "
            f"({example}). {fix}"
        )
    return {c: sorted(v) for c, v in sorted(chars.items())}


def _decode(data: bytes, image_size: int, where: str) -> np.ndarray:
    """PNG bytes → (image_size, image_size) uint8, strokes 255 and background 0."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != RAW_IMAGE_SIZE:
                raise ValueError(
                    f"omniglot: {where} is {im.size[0]}x{im.size[1]}, expected "
                    f"{RAW_IMAGE_SIZE[0]}x{RAW_IMAGE_SIZE[1]}; this is not the official Omniglot"
                )
            grey = im.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"omniglot: cannot decode {where} as PNG ({exc})") from exc
    small = grey.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return 255 - np.asarray(small, dtype=np.uint8)  # invert: strokes 1, background 0


def _build(sources: dict[str, _Source], image_size: int, key: str) -> dict:
    """Decode and verify every PNG; the cache payload (all 1623 characters, sorted by name)."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    content: dict[str, str] = {}
    zip_md5: dict[str, str] = {}
    grouped = {part: _characters(src) for part, src in sources.items()}
    total = sum(len(m) for chars in grouped.values() for m in chars.values())
    with tqdm(total=total, desc="decoding Omniglot PNGs", unit="img", disable=None) as bar:
        for part, src in sources.items():
            lines = []
            with src.reader() as read:
                for char, rels in grouped[part].items():
                    drawings = []
                    for rel in rels:
                        data = read(rel)
                        lines.append((f"{part}/{rel}", hashlib.sha256(data).hexdigest()))
                        drawings.append(_decode(data, image_size, f"{src.path}: {rel}"))
                    names.append(char)
                    arrays.append(np.stack(drawings))  # (20, S, S)
                    bar.update(len(rels))
            text = "".join(f"{h}  {p}\n" for p, h in sorted(lines))
            content[part] = hashlib.sha256(text.encode()).hexdigest()
            if src.kind == "zip":
                zip_md5[part] = _file_md5(src.path)
    if len(set(names)) != len(names):
        raise ValueError(
            "omniglot: the same Alphabet/character name occurs in both images_background and "
            "images_evaluation; this is not the official Omniglot layout"
        )
    order = np.argsort(names, kind="stable")
    images = np.stack(arrays)[order][:, :, None]  # (1623, 20, 1, S, S), sorted by name
    return {
        "kind": _CACHE_KIND,
        "key": key,
        "image_size": image_size,
        "images": torch.from_numpy(np.ascontiguousarray(images)),
        "class_names": [names[i] for i in order],
        "content_sha256": content,
        "zip_md5": zip_md5,
    }


def _check_content(payload: dict, sources: dict[str, _Source]) -> None:
    for part, digest in payload["content_sha256"].items():
        md5 = payload["zip_md5"].get(part)
        official_zip = md5 is not None and md5 == OMNIGLOT_MD5[f"{part}.zip"]
        if digest != OMNIGLOT_CONTENT_SHA256[part] and not official_zip:
            warnings.warn(
                f"omniglot: {sources[part].path} passed the structure checks but its PNGs differ "
                f"from the official release (content sha256 {digest[:16]}…, official "
                f"{OMNIGLOT_CONTENT_SHA256[part][:16]}…); results may not be comparable with the "
                "paper's. Use the official zips (load_omniglot(download=True)) to be sure.",
                stacklevel=3,
            )


def _zips_changed(payload: dict, sources: dict[str, _Source]) -> bool:
    """Whether a zip's md5 (~30 ms for both) differs from the one the cache was built from."""
    stored = payload.get("zip_md5", {})
    return any(
        src.kind == "zip" and stored.get(part) != _file_md5(src.path)
        for part, src in sources.items()
    )


def _payload_ok(payload: dict, image_size: int) -> bool:
    images, names = payload.get("images"), payload.get("class_names")
    n = sum(EXPECTED_CHARACTERS.values())
    shape = (n, DRAWINGS_PER_CHARACTER, 1, image_size, image_size)
    return (
        isinstance(images, torch.Tensor)
        and images.dtype == torch.uint8
        and tuple(images.shape) == shape
        and isinstance(names, list)
        and len(names) == n
        and names == sorted(names)
        and set(payload.get("content_sha256", {})) == set(PARTS)
    )


def omniglot_split(class_names: list[str] | tuple[str, ...], split: str) -> np.ndarray:
    """Indices (sorted) of the characters of ``split`` among all 1623, given sorted names.

    ``perm = np.random.default_rng(1).permutation(1623)``: train = ``perm[:1100]``, val =
    ``perm[1100:1200]``, test = ``perm[1200:]``.
    """
    check_split(split, dataset="omniglot")
    n = len(class_names)
    if n != sum(SPLIT_SIZES.values()):
        raise ValueError(f"omniglot_split: expected {sum(SPLIT_SIZES.values())} names, got {n}")
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    a, b = SPLIT_SIZES["train"], SPLIT_SIZES["train"] + SPLIT_SIZES["val"]
    chosen = {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}[split]
    return np.sort(chosen)


def download_omniglot(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the official Omniglot zips that are missing from ``DIR/omniglot/``.

    Parameters
    ----------
    data_dir : str or Path, optional
        ``DIR``; default ``$REPSIM_DATA``, else the user cache dir.
    base_url : str, optional
        Folder URL holding ``images_background.zip`` and ``images_evaluation.zip``; default
        ``$REPSIM_OMNIGLOT_URL``, else :data:`OMNIGLOT_URL` (github, brendenlake/omniglot).
    checksums : dict of str to str, optional
        Expected md5 per file name; default :data:`OMNIGLOT_MD5` (the official zips).
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    list of Path
        The zips downloaded now (parts already present as a zip or folder are skipped).

    Raises
    ------
    ValueError
        md5 mismatch (the download is deleted; message gives expected and actual).
    FileNotFoundError
        The server answered 404.
    ConnectionError
        The server cannot be reached.
    PermissionError
        ``DIR/omniglot`` is not writable.
    """
    root = resolve_data_dir(data_dir)[0] / "omniglot"
    base = (base_url or os.environ.get(URL_ENV) or OMNIGLOT_URL).rstrip("/")
    sums = OMNIGLOT_MD5 if checksums is None else checksums
    fetched = []
    for part in PARTS:
        name = f"{part}.zip"
        if (root / name).is_file() or (root / part).is_dir():
            continue
        try:
            fetched.append(fetch(f"{base}/{name}", root / name, md5=sums[name], progress=progress))
        except PermissionError as exc:
            raise PermissionError(
                f"cannot write the Omniglot download into {root} ({exc}); pass a writable "
                "--data-dir / data_dir or set $REPSIM_DATA"
            ) from exc
    return fetched


def load_omniglot(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split: Literal["train", "val", "test"] = "train",
    download: bool = False,
    image_size: int = 28,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
) -> ClassPool:
    """One split of Omniglot as a :class:`ClassPool` (see the module docstring for the details).

    Parameters
    ----------
    data_dir : str or Path, optional
        ``DIR`` holding ``omniglot/``; default ``$REPSIM_DATA``, else the user cache dir.
    split : {"train", "val", "test"}, default="train"
        1100 / 100 / 423 characters (fixed, seeded split).
    download : bool, default=False
        Fetch missing official zips (md5-checked) into ``DIR/omniglot/`` first.
    image_size : int, default=28
        Side of the resized images (the paper's protocol: 28).
    cache_dir : str or Path, optional
        Where the processed tensor is cached; default ``$REPSIM_CACHE``, else
        ``<user cache dir>/processed``.
    base_url : str, optional
        Download location override (see :func:`download_omniglot`).

    Returns
    -------
    ClassPool
        ``images`` uint8 of shape (n_characters, 20, 1, image_size, image_size), ``rotations``
        (0, 1, 2, 3), ``class_names`` "Alphabet/characterNN" (sorted), ``split_hash``.

    Raises
    ------
    FileNotFoundError
        No data under ``DIR/omniglot/`` and ``download=False`` (the message says where it
        looked and how to fetch it).
    ValueError
        Unknown split, bad image_size, or data failing the content checks.

    Examples
    --------
    >>> pool = load_omniglot(split="test", download=True)  # doctest: +SKIP
    >>> pool.n_classes, pool.image_shape  # doctest: +SKIP
    (1692, (1, 28, 28))
    """
    check_split(split, dataset="omniglot")
    image_size = check_int(image_size, "image_size", minimum=1, context="load_omniglot")
    data_root, how = resolve_data_dir(data_dir)
    if download:
        download_omniglot(data_root, base_url=base_url)
    sources = _find_sources(data_root / "omniglot", how)
    fingerprint = "\n".join(
        f"[{part} {src.kind}]\n" + "\n".join(src.fingerprint) for part, src in sources.items()
    )
    key = hashlib.sha256(f"{_CACHE_KIND}\n{image_size}\n{fingerprint}".encode()).hexdigest()
    cache_file = resolve_cache_dir(cache_dir) / f"omniglot-{image_size}px-{key[:24]}.pt"
    payload = read_cache(cache_file, key=key, kind=_CACHE_KIND)
    if payload is not None and not _payload_ok(payload, image_size):
        warnings.warn(f"ignoring malformed Omniglot cache {cache_file}; rebuilding", stacklevel=2)
        payload = None
    if payload is not None and _zips_changed(payload, sources):
        # Same member list, sizes and CRCs, different bytes: the member data were damaged
        # after the cache was built. Rebuilding re-reads (and CRC-checks) every member.
        payload = None
    if payload is None:
        payload = _build(sources, image_size, key)
        _check_content(payload, sources)
        write_cache(cache_file, payload)
    names = list(payload["class_names"])
    idx = omniglot_split(names, split)
    digest = hashlib.sha256(
        "".join(f"{p}={payload['content_sha256'][p]}\n" for p in PARTS).encode()
    ).hexdigest()
    split_names = tuple(names[i] for i in idx)
    return ClassPool(
        images=payload["images"][torch.from_numpy(idx)],  # (n_split, 20, 1, S, S) uint8
        rotations=ROTATIONS,
        name="omniglot",
        split=split,
        split_hash=split_hash("omniglot", split_names, ROTATIONS),
        class_names=split_names,
        content_digest=digest,
    )
