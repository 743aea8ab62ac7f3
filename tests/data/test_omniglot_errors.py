"""Damaged or unreadable Omniglot zips: one clear error each, with and without a cache."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import repsim.data.omniglot as omniglot_mod
from repsim.data import load_omniglot

from .conftest import write_tiny_omniglot


def _damage_member(zip_path: Path) -> str:
    """Flip bytes inside the first PNG member's data; the central directory stays the same."""
    with zipfile.ZipFile(zip_path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".png"))
    raw = bytearray(zip_path.read_bytes())
    # local header: 30 bytes + name + extra field, then the member's (compressed) data
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 10, start + min(info.compress_size, 60)):
        raw[i] ^= 0xFF
    zip_path.write_bytes(bytes(raw))
    return info.filename


def _rezip(path: Path, compression: int) -> None:
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)


@pytest.mark.usefixtures("tiny_rules")
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupt_member_is_one_value_error(tmp_path: Path, tiny_files: dict,
                                           compression: int) -> None:
    paths = write_tiny_omniglot(tmp_path / "omniglot", tiny_files)
    _rezip(paths["images_background"], compression)
    member = _damage_member(paths["images_background"])
    with pytest.raises(ValueError, match=rf"is corrupt: member {member} does not decompress"):
        load_omniglot(tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.usefixtures("tiny_rules")
def test_corruption_after_caching_is_noticed(tmp_path: Path, tiny_files: dict) -> None:
    """The cache key (names, sizes, CRCs) cannot see damaged bytes; the stored zip md5 does."""
    paths = write_tiny_omniglot(tmp_path / "omniglot", tiny_files)
    _rezip(paths["images_background"], zipfile.ZIP_DEFLATED)
    with pytest.warns(UserWarning, match="differ from the official release"):
        load_omniglot(tmp_path, cache_dir=tmp_path / "cache")
    _damage_member(paths["images_background"])
    with pytest.raises(ValueError, match="is corrupt: member"):
        load_omniglot(tmp_path, cache_dir=tmp_path / "cache")


@pytest.mark.usefixtures("tiny_rules")
def test_intact_zip_still_hits_the_cache(tmp_path: Path, tiny_files: dict,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny_omniglot(tmp_path / "omniglot", tiny_files)
    with pytest.warns(UserWarning):
        first = load_omniglot(tmp_path, cache_dir=tmp_path / "cache")

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("cache was rebuilt")

    monkeypatch.setattr(omniglot_mod, "_build", no_rebuild)
    again = load_omniglot(tmp_path, cache_dir=tmp_path / "cache")
    assert again.class_names == first.class_names


@pytest.mark.usefixtures("tiny_rules")
def test_permission_denied_is_not_called_corrupt(tmp_path: Path, tiny_files: dict,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny_omniglot(tmp_path / "omniglot", tiny_files)

    class Unreadable:
        def __init__(self, path: object, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(omniglot_mod.zipfile, "ZipFile", Unreadable)
    with pytest.raises(PermissionError, match="permission denied; make it readable") as info:
        load_omniglot(tmp_path, cache_dir=tmp_path / "cache")
    assert "fetch it again" not in str(info.value)
