"""Progress output: plain periodic lines off a terminal, no TqdmWarning in Jupyter (issue 11)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import repsim._progress as progress


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_log_file_gets_whole_lines_every_interval(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(progress.std, "time", clock)  # tqdm reads it at construction
    log = io.StringIO()  # not a TTY
    bar = progress.tqdm(total=1000, desc="train", file=log)
    for i in range(1000):
        clock.now += 0.5  # 500 s in all: about 500 / LOG_INTERVAL lines
        bar.update(1)
        if i % 10 == 0:
            bar.set_postfix(loss=f"{i:.3f}")  # forces a redraw in tqdm: rate-limited here
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text
    assert all(line.startswith("train:") for line in lines)
    assert 500 / progress.LOG_INTERVAL - 2 <= len(lines) <= 500 / progress.LOG_INTERVAL + 3
    assert "1000/1000" in lines[-1] and "0/1000" in lines[0]


def test_terminal_keeps_tqdm_in_place(monkeypatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = progress.tqdm(range(3), desc="x", file=out, mininterval=0)
    list(bar)
    assert "\r" in out.getvalue() and type(bar) is progress.std.tqdm


def test_disabled_bar_prints_nothing() -> None:
    log = io.StringIO()
    list(progress.tqdm(range(5), file=log, disable=True))
    assert log.getvalue() == ""


def test_no_module_imports_tqdm_auto() -> None:
    """tqdm.auto warns (TqdmWarning) at import in a kernel without ipywidgets."""
    root = Path(__file__).resolve().parents[2] / "repsim"
    offenders = [str(p) for p in root.rglob("*.py")
                 if "tqdm.auto" in p.read_text() and p.name != "_progress.py"]
    assert offenders == []
    code = "import sys, repsim, repsim.cli.main; print('tqdm.auto' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(root.parent), "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"
