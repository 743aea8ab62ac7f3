"""``repsim reproduce PRESET`` and ``repsim demo``: the whole study in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repsim.cli._common import Threads, check_device, console, friendly_errors, option, set_threads

__all__ = ["register"]



def _rl_seed_count(seeds: str | None) -> int:
    """RL studies train seeds 0..N-1: ``--seeds`` is a count there (default 3)."""
    if seeds is None:
        return 3
    if not seeds.strip().isdigit():
        raise ValueError(f"--seeds for RL presets is a count (e.g. 3); got {seeds!r}")
    return int(seeds)


@friendly_errors
def reproduce_command(
    preset: Annotated[
        str,
        typer.Argument(
            help="sinusoid | omniglot-5w1s | omniglot-20w1s | miniimagenet-5w1s | "
            "miniimagenet-5w5s | rl-nav2d | rl-cheetah-vel | rl-cheetah-dir",
            metavar="PRESET",
        ),
    ],
    out: option(Path | None, "Study directory (default: study-PRESET).", "--out") = None,
    device: option(str, "cpu | cuda") = "cpu",
    data_dir: option(
        Path | None, "Dataset root holding omniglot/ or miniimagenet/.", "--data-dir"
    ) = None,
    download: option(bool, "Fetch Omniglot if missing.", "--download") = False,
    steps: option(int | None, "Override the number of training iterations.") = None,
    threads: Threads = 1,
    scale: option(str, "RL presets: cpu | paper.") = "cpu",
    seeds: option(
        str | None, "Training seeds: a count (3 = 0,1,2) or a list (0,4,7); mean ± std over them "
        "(RL presets: a count, default 3)."
    ) = None,
) -> None:
    """Run the whole study: train MAML+ANIL, evaluate MAML/ANIL/NIL, compare, ablate, report."""
    from repsim.cli.rl import RL_PRESET_NAMES, reproduce_rl

    check_device(device)
    set_threads(threads)
    if preset in RL_PRESET_NAMES:
        from repsim.cli.rl import refuse_options

        refuse_options(dict(data_dir=data_dir, download=download, device=device != "cpu"),
                       f"{preset} (its tasks are simulated, on the CPU)")
        reproduce_rl(preset, scale=scale, seeds=_rl_seed_count(seeds), out=out, steps=steps)
        return
    if seeds is not None:
        from repsim.study_seeds import parse_seeds, run_seeds

        files = run_seeds(preset, parse_seeds(seeds), out_dir=out or Path(f"study-{preset}"),
                          device=device, data_dir=data_dir, download=download, steps=steps,
                          console=console)
        console.print(f"seed summaries: {', '.join(str(p) for p in files.values())}")
        return
    from repsim.study import run_study

    files = run_study(
        preset,
        out_dir=out or Path(f"study-{preset}"),
        device=device,
        data_dir=data_dir,
        download=download,
        steps=steps,
        console=console,
    )
    console.print(f"report: {files['report_md']}")


@friendly_errors
def demo_command(
    out: option(Path, "Where the demo study goes.", "--out") = Path("demo-out"),
    device: option(str, "cpu | cuda") = "cpu",
    threads: Threads = 1,
) -> None:
    """The offline demo: the sinusoid study end to end (2 CPU cores: 1 min idle, 7-8 min busy)."""
    from repsim.study import run_study

    check_device(device)
    set_threads(threads)
    files = run_study("sinusoid", out_dir=out, device=device, console=console)
    console.print(f"open {files['report_html']} (figures in {out / 'figures'})")
    console.print("next: repsim reproduce omniglot-5w1s --data-dir DIR (or --download)")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_command)
    app.command("demo")(demo_command)
