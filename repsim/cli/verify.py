"""``repsim verify-index``: re-derive the checkpoint index's values with today's code."""

from __future__ import annotations

import signal
import warnings
from pathlib import Path
from typing import Optional

import typer

from repsim.cli._common import Threads, console, err_console, friendly_errors, option, set_threads

OptInt = Optional[int]  # noqa: UP045 (typer needs Optional on 3.10)
OptStr = Optional[str]  # noqa: UP045
OptPath = Optional[Path]  # noqa: UP045

__all__ = ["register"]


def _one_line_version_warnings() -> None:
    """Library-version warnings as one ``warning:`` line; other warnings keep their format."""
    from repsim._io import VersionWarning

    default = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None):
        if issubclass(category, VersionWarning):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = fmt


def _render(check, shown: int) -> None:
    """The drifted numbers as a plain table (entry, figure, shipped, today, difference)."""
    drifted = check.drifted
    if not drifted.empty:
        lines = [f"drift beyond tolerance ({len(drifted)} numbers):",
                 f"{'entry':<44} {'figure':<52} {'shipped':>11} {'today':>11} {'difference':>11}"]
        for r in drifted.head(shown).itertuples():
            figure = r.figure + (" ci95" if r.field == "ci95" else "") + (
                f" [{r.note}]" if r.note else "")
            entry = str(r.path).removeprefix("checkpoints/")
            lines.append(f"{entry:<44} {figure:<52} {r.shipped:>11.6g} {r.today:>11.6g} "
                         f"{r.difference:>+11.3g}")
        if len(drifted) > shown:
            lines.append(f"... and {len(drifted) - shown} more (every row in --json)")
        console.print("\n".join(lines), highlight=False, soft_wrap=True)
    tol = ", ".join(f"{k} {v:g}" for k, v in vars(check.tolerance).items())
    verdict = "no drift" if check.ok else f"{len(drifted)} drifted"
    if check.stopped_early:
        verdict += ", STOPPED EARLY"
    console.print(f"checked {len(check.table)} numbers of {len(check.entries)} of "
                  f"{check.total_entries} entries: {verdict} (tolerance {tol}); "
                  f"{check.wall_s:.0f} s wall, {check.cpu_s:.0f} s CPU", highlight=False,
                  soft_wrap=True)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


@friendly_errors
def verify_index_command(
    index: option(Path, "The checkpoint index.", "--index") = Path("checkpoints/index.json"),
    sample: option(OptInt, "Check N entries drawn at random (--seed), in that order.",
                   "--sample") = None,
    seed: option(int, "Seed of the --sample draw.", "--seed") = 0,
    only: option(OptStr, "Comma-separated globs on entry paths, e.g. 'checkpoints/rl/*'.",
                 "--only") = None,
    tolerance: option(OptStr, "Absolute tolerance: one number, or per kind: "
                      "accuracy=1e-6,similarity=1e-6,rl_return=1e-4 (the defaults).",
                      "--tolerance") = None,
    data_dir: option(OptPath, "Folder holding omniglot/.", "--data-dir") = None,
    json_out: option(OptPath, "Write every checked number here (JSON).", "--json") = None,
    regenerate: option(OptStr, "Write today's values of the checked entries into the "
                       "index, with this reason (a known, stated change).",
                       "--regenerate") = None,
    threads: Threads = 1,
) -> None:
    """Re-derive every value of the checkpoint index from its checkpoint; exit 1 on drift."""
    from repsim._io import atomic_write_json
    from repsim.analyses.verify_index import Tolerance, regenerate_index, verify_index
    from repsim.cli._common import split_names

    tol = Tolerance.parse(tolerance)  # bad input fails before any work
    if json_out is not None and json_out.is_dir():
        raise ValueError(f"--json {json_out} is a directory; give a file path")
    set_threads(threads)
    _one_line_version_warnings()
    signal.signal(signal.SIGTERM, _stop)  # `kill PID` stops it like Ctrl-C: partial result kept
    check = verify_index(index, sample=sample, seed=seed, only=split_names(only) or None,
                         tolerance=tol, data_dir=data_dir,
                         log=lambda line: err_console.print(line, highlight=False,
                                                           soft_wrap=True))
    if json_out is not None:
        atomic_write_json(json_out, check.to_dict())
    _render(check, shown=40)
    if check.stopped_early:  # nothing is regenerated from a partial check
        raise ValueError(f"stopped after {len(check.entries)} of the entries asked for: a "
                         "partial check" + ("" if json_out is None else f" (in {json_out})"))
    if regenerate is not None:
        written = regenerate_index(index, check, reason=regenerate)
        console.print(f"regenerated {len(written)} entries of {index}", highlight=False)
        return
    if not check.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("verify-index")(verify_index_command)
