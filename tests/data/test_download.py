"""Omniglot download against a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import repsim.data.omniglot as omniglot_mod
from repsim.data import download_omniglot, load_omniglot

from .conftest import md5_of, write_tiny_omniglot

PARTS = ("images_background.zip", "images_evaluation.zip")


@pytest.fixture
def served_zips(http_server: tuple, tiny_files: dict, tmp_path: Path) -> tuple[str, dict, list]:
    """The tiny fake zips on the local server: (base URL, {name: md5}, request log)."""
    base, folder, requests = http_server
    made = write_tiny_omniglot(tmp_path / "src", tiny_files)
    for path in made.values():
        shutil.copy(path, folder / path.name)
    return base, {name: md5_of(folder / name) for name in PARTS}, requests


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_with_matching_md5(served_zips: tuple, tmp_path: Path) -> None:
    """Both zips arrive byte-identical to what was served; no temporary file stays behind."""
    base, sums, requests = served_zips
    got = download_omniglot(tmp_path / "data", base_url=base, checksums=sums, progress=False)
    root = tmp_path / "data" / "omniglot"
    assert [p.name for p in got] == list(PARTS) and leftovers(root) == sorted(PARTS)
    assert {name: md5_of(root / name) for name in PARTS} == sums
    assert sorted(requests) == [f"/files/{n}" for n in PARTS]
    # already there: nothing is fetched again
    assert download_omniglot(tmp_path / "data", base_url=base, checksums=sums) == []
    assert len(requests) == 2


def test_md5_mismatch_is_rejected_and_nothing_is_left(served_zips: tuple, tmp_path: Path) -> None:
    base, sums, _ = served_zips
    wrong = dict(sums, **{"images_background.zip": "0" * 32})
    with pytest.raises(ValueError, match=r"md5 mismatch .* expected 0{32}, got [0-9a-f]{32}"):
        download_omniglot(tmp_path / "data", base_url=base, checksums=wrong, progress=False)
    assert leftovers(tmp_path / "data" / "omniglot") == []


def test_official_md5_table_rejects_a_foreign_zip(served_zips: tuple, tmp_path: Path) -> None:
    """Default checksums are the official ones: the fake zips do not match them."""
    base, _, _ = served_zips
    with pytest.raises(ValueError, match=omniglot_mod.OMNIGLOT_MD5["images_background.zip"]):
        download_omniglot(tmp_path / "data", base_url=base, progress=False)
    assert leftovers(tmp_path / "data" / "omniglot") == []


def test_server_404_gives_a_clear_error(http_server: tuple, tmp_path: Path) -> None:
    base, _, _ = http_server  # serves an empty folder
    with pytest.raises(FileNotFoundError, match=r"answered HTTP 404 .*images_background.zip"):
        download_omniglot(tmp_path / "data", base_url=base, progress=False)
    assert leftovers(tmp_path / "data" / "omniglot") == []


def test_unreachable_server_and_bad_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError, match=r"cannot reach http://127.0.0.1:1/"):
        download_omniglot(tmp_path, base_url="http://127.0.0.1:1", progress=False)
    with pytest.raises(ValueError, match=r"only http\(s\) URLs"):
        download_omniglot(tmp_path, base_url="ftp://127.0.0.1/x", progress=False)


@pytest.mark.usefixtures("tiny_rules")
@pytest.mark.filterwarnings("ignore:omniglot.*differ from the official release")
def test_load_with_download_uses_the_env_url(
    served_zips: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_omniglot(download=True) fetches from $REPSIM_OMNIGLOT_URL once, then loads locally."""
    base, sums, requests = served_zips
    monkeypatch.setenv("REPSIM_OMNIGLOT_URL", base)
    monkeypatch.setattr(omniglot_mod, "OMNIGLOT_MD5", sums)
    pool = load_omniglot(tmp_path / "data", split="train", download=True)
    assert pool.n_base_classes == 3 and len(requests) == 2
    again = load_omniglot(tmp_path / "data", split="train", download=True)
    assert again.split_hash == pool.split_hash and len(requests) == 2
