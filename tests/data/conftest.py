"""Fixtures for repsim.data: hermetic env, real Omniglot cached once per session, tiny fakes."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import repsim.data.omniglot as omniglot_mod
from repsim.data import ClassPool, load_omniglot

TINY_CHARACTERS = {"images_background": 3, "images_evaluation": 2}
TINY_SPLITS = {"train": 3, "val": 1, "test": 1}


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads or writes the user's ~/.cache or follows a user's env settings."""
    monkeypatch.setenv("REPSIM_DATA", str(tmp_path / "env-data"))
    monkeypatch.setenv("REPSIM_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("REPSIM_OMNIGLOT_URL", raising=False)


# ---------------------------------------------------------------- real Omniglot (shared copy)
@pytest.fixture(scope="session")
def omniglot_cache_dir(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir holding the processed real Omniglot: decoded once per test session (~6 s)."""
    cache = tmp_path_factory.mktemp("omniglot-cache")
    load_omniglot(shared_data_dir, split="train", cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def omniglot_pools(shared_data_dir: Path, omniglot_cache_dir: Path) -> dict[str, ClassPool]:
    """The three real splits, loaded from the session cache."""
    return {
        s: load_omniglot(shared_data_dir, split=s, cache_dir=omniglot_cache_dir)
        for s in ("train", "val", "test")
    }


# ---------------------------------------------------------------- tiny fake Omniglot
def _png(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """A 1-bit PNG like Omniglot's: white background (1), a few black strokes (0)."""
    import io

    img = np.ones(size[::-1], dtype=bool)
    for _ in range(3):
        r, c = rng.integers(10, min(size) - 10, size=2)
        img[r - 8 : r + 8, c - 2 : c + 2] = False
        img[r - 2 : r + 2, c - 8 : c + 8] = False
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(buf, format="PNG")
    return buf.getvalue()


def tiny_omniglot_files(
    *, seed: int = 0, drawings: int = 20, size: tuple[int, int] = (105, 105)
) -> dict[str, dict[str, bytes]]:
    """part -> {"Alphabet/characterNN/ID_DD.png": png bytes}, with TINY_CHARACTERS characters."""
    rng = np.random.default_rng(seed)
    files: dict[str, dict[str, bytes]] = {}
    char_id = 0
    for part, n_chars in TINY_CHARACTERS.items():
        files[part] = {}
        for i in range(n_chars):
            char_id += 1
            alphabet = f"{part[7:].title()}_Alphabet_{i % 2}"
            for d in range(1, drawings + 1):
                rel = f"{alphabet}/character{i + 1:02d}/{char_id:04d}_{d:02d}.png"
                files[part][rel] = _png(rng, size)
    return files


def write_tiny_omniglot(
    root: Path, files: dict[str, dict[str, bytes]], *, kind: str = "zip"
) -> dict[str, Path]:
    """Write ``files`` under ``root`` (= DIR/omniglot) as zips or extracted folders."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, members in files.items():
        if kind == "zip":
            path = root / f"{part}.zip"
            with zipfile.ZipFile(path, "w") as zf:
                for rel, data in sorted(members.items()):
                    zf.writestr(f"{part}/{rel}", data)
        else:
            path = root / part
            for rel, data in members.items():
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_bytes(data)
        out[part] = path
    return out


@pytest.fixture
def tiny_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the Omniglot content checks and split sizes fit the tiny fake (3 + 2 characters)."""
    monkeypatch.setattr(omniglot_mod, "EXPECTED_CHARACTERS", dict(TINY_CHARACTERS))
    monkeypatch.setattr(omniglot_mod, "SPLIT_SIZES", dict(TINY_SPLITS))


@pytest.fixture
def tiny_files() -> dict[str, dict[str, bytes]]:
    return tiny_omniglot_files()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- local HTTP server
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL on 127.0.0.1, the folder it serves, the list of request paths it saw)."""
    served = tmp_path / "served"
    (served / "files").mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(served))
    )
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        base = f"http://{host}:{port}/files"
        yield base, served / "files", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
