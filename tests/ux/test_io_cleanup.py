"""Temporaries left by a writer killed mid-write are removed by the next write (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from repsim._io import atomic_write_json, remove_stale_temps


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_next_write_removes_stale_temps(tmp_path: Path) -> None:
    target = tmp_path / "table.json"
    dead = tmp_path / f".table.json.{_dead_pid()}.k3j2h1gf.tmp"
    live = tmp_path / f".table.json.{os.getpid()}.a1b2c3d4.tmp"  # a writer still running
    old_legacy = tmp_path / ".table.json.zz99yy88.tmp"
    new_legacy = tmp_path / ".table.json.qq11ww22.tmp"
    other = tmp_path / f".other.json.{_dead_pid()}.abcdefgh.tmp"  # another file's: not ours
    for path in (dead, live, old_legacy, new_legacy, other):
        path.write_bytes(b"half a write")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_legacy, (day_ago, day_ago))
    atomic_write_json(target, {"ok": True})
    assert target.read_text().strip().startswith("{")
    assert not dead.exists() and not old_legacy.exists()
    assert live.exists() and new_legacy.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob(".table.json.*.tmp")) == sorted(
        [live.name, new_legacy.name])


def test_kill_during_a_write_then_write_again(tmp_path: Path) -> None:
    """A real writer SIGKILLed while its temporary exists; the next write cleans up after it."""
    target = tmp_path / "big.bin"
    script = (
        "import os, sys, time, repsim._io as io\n"
        "real = os.replace\n"
        "def stall(*a):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "os.replace = stall\n"
        f"io.atomic_write_bytes({str(target)!r}, b'x' * 1000)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait(timeout=30)
    orphans = list(tmp_path.glob(".big.bin.*.tmp"))
    assert len(orphans) == 1 and not target.exists()
    assert remove_stale_temps(target) == orphans
    assert not list(tmp_path.glob("*.tmp"))
