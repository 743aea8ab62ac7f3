"""Download one file over HTTP(S): streamed to a temp file, md5-checked, atomically renamed.

Nothing is left behind when anything fails (HTTP error, truncated body, wrong md5, Ctrl-C): the
partial file lives next to the target under a hidden ``.<name>.*.part`` name and is removed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from repsim._progress import tqdm

__all__ = ["fetch"]

_CHUNK = 1 << 20


def fetch(
    url: str, dest: Path, *, md5: str | None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest`` and check its md5.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` address.
    dest : Path
        Final path; its folder is created. Replaced atomically only after the md5 matched.
    md5 : str or None
        Expected md5 hex digest; None skips the check (not used by repsim's loaders).
    progress : bool, default=True
        Show a tqdm progress bar (on stderr; tqdm hides it when stderr is not a terminal).
    timeout : float, default=60.0
        Socket timeout in seconds.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        For a non-HTTP URL, a body shorter than the announced Content-Length, or a wrong md5
        (the message gives expected and actual digests; the download is deleted).
    FileNotFoundError
        When the server answers 404 (or 410).
    ConnectionError
        For other HTTP errors and when the server cannot be reached.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"download: only http(s) URLs are supported, got {url!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "repsim (python urllib)"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # scheme checked above
    except urllib.error.HTTPError as exc:
        msg = f"download failed: {url} answered HTTP {exc.code} {exc.reason}"
        if exc.code in (404, 410):
            raise FileNotFoundError(
                f"{msg}. The file is not at that address: check the URL, or download it by "
                f"hand and put it at {dest}"
            ) from exc
        raise ConnectionError(f"{msg}; try again later, or put the file at {dest} by hand") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"download failed: cannot reach {url} ({reason}). Check the network, or download "
            f"the file by hand and put it at {dest}"
        ) from exc

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with response, os.fdopen(fd, "wb") as fh:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=None if progress else True,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and size != total:
            raise ValueError(
                f"download of {url} is truncated: got {size} of {total} bytes; the partial file "
                "was deleted, try again"
            )
        actual = digest.hexdigest()
        if md5 is not None and actual != md5.lower():
            raise ValueError(
                f"md5 mismatch for {url}: expected {md5.lower()}, got {actual} ({size} bytes); "
                f"the download was deleted and nothing was written to {dest}. The server may "
                "have sent an error page or a different file: check the URL, or put a "
                "verified copy there by hand"
            )
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest
