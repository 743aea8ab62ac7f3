"""The meta-RL side of ``repsim train|eval|compare|ablate|reproduce``.

The classification commands hand over here when their input is RL (``--dataset nav2d`` …, an RL
checkpoint, a run directory of one, a ``rl-*`` preset). Each function parses nothing itself:
it makes one library call and renders the result, like the rest of the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.table import Table

from repsim.cli._common import console

__all__ = [
    "RL_DATASETS",
    "RL_PRESET_NAMES",
    "ablate_rl",
    "compare_rl",
    "eval_rl",
    "is_rl_source",
    "reproduce_rl",
    "require_rl",
    "train_rl_command",
]

RL_DATASETS = ("nav2d", "cheetah-vel", "cheetah-dir")
RL_PRESET_NAMES = ("rl-nav2d", "rl-cheetah-vel", "rl-cheetah-dir")


def require_rl() -> None:
    """Import ``repsim.rl`` or fail with one line naming the extra to install."""
    try:
        import repsim.rl  # noqa: F401
    except ImportError as exc:
        # repsim.rl's own message names the missing module and the extra: say it once
        raise ValueError(str(exc) if "repsim-maml[rl]" in str(exc) else
                         f"meta-RL needs the optional dependencies gymnasium and mujoco ({exc}); "
                         'install them with  pip install "repsim-maml[rl]"') from None


def _peek_kind(path: Path) -> str | None:
    from repsim._io import load_checkpoint

    payload = load_checkpoint(path)
    if payload.get("format") != "repsim-checkpoint":
        return None
    return str(payload.get("kind", "classification"))


def is_rl_source(path: str | Path) -> bool:
    """Whether ``path`` is an RL checkpoint, or a run directory of RL checkpoints."""
    path = Path(path)
    if path.is_dir():
        from repsim.meta.checkpoint import checkpoint_paths

        found = checkpoint_paths(path)
        return bool(found) and _peek_kind(found[-1][1]) == "rl"
    return path.is_file() and _peek_kind(path) == "rl"


def refuse_options(given: dict[str, Any], what: str) -> None:
    """Classification-only options given with RL input: one clear error listing them."""
    bad = sorted(k for k, v in given.items() if v)
    if "inner_steps" in bad:  # the one an RL user may well expect to work: say why not
        raise ValueError(
            f"--inner-steps: {what} adapts with exactly one inner step (MAML-TRPO's, as it was "
            "trained), so the number of inner steps cannot be changed; drop --inner-steps"
        )
    if bad:
        flags = ", ".join("--" + k.replace("_", "-") for k in bad)
        verb = "applies" if len(bad) == 1 else "apply"
        raise ValueError(f"{flags} {verb} to classification only, not to {what}")


def train_rl_command(*, algo: str, dataset: str, horizon: int | None, meta_batch: int | None,
                     steps: int | None, seed: int, scale: str | None, out: Path, resume: bool,
                     max_minutes: float | None, checkpoint_every: int | None = None) -> None:
    require_rl()
    from repsim.rl.config import rl_config
    from repsim.rl.train import train_rl

    cfg = rl_config(dataset, scale=scale or "paper", algorithm=algo, horizon=horizon,
                    meta_batch=meta_batch, steps=steps, seed=seed,
                    checkpoint_every=checkpoint_every)
    result = train_rl(cfg, out_dir=out, resume=resume,
                      max_seconds=None if max_minutes is None else 60 * max_minutes)
    if os.environ.get("RANK", "0") == "0":  # under torchrun: rank 0 speaks for all
        console.print(f"trained to iteration {result.step}; last checkpoint: "
                      f"{result.last_checkpoint}")
        console.print(f"metrics: {out / 'metrics.csv'}")


def eval_rl(checkpoint: Path, *, tasks: int | None, freeze: tuple[str, ...], seed: int,
            json_path: Path | None) -> dict[str, Any]:
    require_rl()
    from repsim._io import atomic_write_json, run_manifest
    from repsim.rl.checkpoint import load_rl
    from repsim.rl.config import rl_config_to_dict
    from repsim.rl.evaluate import evaluate_policy

    trained = load_rl(checkpoint)
    result = evaluate_policy(trained.params, trained.config, tasks=40 if tasks is None else tasks,
                             seed=seed, frozen=freeze, step=trained.step)
    record = result.to_dict()
    table = Table(title=f"{checkpoint.name}: {record['algorithm']} {record['env']} "
                  f"(horizon {record['horizon']}, {record['scale']} scale), iteration "
                  f"{record['step']}, frozen={','.join(freeze) or 'none'}")
    for col in ("", "average return", "95% CI"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("before adaptation", f"{record['return_before']:.2f}",
                  f"± {record['ci95_before']:.2f}")
    table.add_row("after one inner step", f"{record['return_after']:.2f}",
                  f"± {record['ci95_after']:.2f}")
    table.add_row("after − before", f"{record['improvement']:.2f}",
                  f"± {record['ci95_improvement']:.2f}")
    console.print(table)
    console.print(f"{record['tasks']} test tasks (seed {seed}), {record['trajectories']} "
                  "trajectories each")
    if json_path is not None:
        manifest = run_manifest(config=rl_config_to_dict(trained.config), seed=seed,
                                checkpoint=str(checkpoint))
        atomic_write_json(json_path, {"manifest": manifest, **record})
        console.print(f"wrote {json_path}")
    return record


def _write(frame, json_path: Path | None, csv_path: Path | None) -> None:
    from repsim._io import atomic_write_bytes
    from repsim.analyses.tables import write_table

    if json_path is not None:
        written = write_table(frame, json_path, manifest=frame.attrs["manifest"], csv=False)
        console.print(f"wrote {written}")
    if csv_path is not None:
        console.print(f"wrote {atomic_write_bytes(csv_path, frame.to_csv(index=False).encode())}")


def policy_layers(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The policy layers (``fc1, fc2, head``) that ``patterns`` name; an unknown name is refused."""
    from fnmatch import fnmatchcase

    from repsim.analyses.rl import POLICY_LAYERS

    chosen = []
    for pattern in patterns:
        hits = [name for name in POLICY_LAYERS if fnmatchcase(name, pattern)]
        if not hits:
            raise ValueError(f"--layers {pattern!r} names no layer of a policy; its layers are "
                             f"{', '.join(POLICY_LAYERS)} (conv1..conv4 are the image network's)")
        chosen += [h for h in hits if h not in chosen]
    return tuple(chosen)


def compare_rl(sources: list[Path], *, tasks: int | None, measures: tuple[str, ...],
               baseline: str, state: str, seed: int, json_path: Path | None,
               csv_path: Path | None, layers: tuple[str, ...] = ()) -> None:
    require_rl()
    from repsim.analyses.rl import compare_policy, compare_policy_models, compare_policy_run
    from repsim.cli.analyses import _compare_table, _render_notes

    chosen = policy_layers(layers)  # before the work: a bad name fails at once
    opts = dict(tasks=20 if tasks is None else tasks, seed=seed, baseline=baseline,
                measures=measures or None)
    if len(sources) == 2:
        frame = compare_policy_models(sources[0], sources[1], state=state, **opts)
    elif len(sources) != 1:
        raise ValueError(f"compare takes one checkpoint, one run directory, or two checkpoints; "
                         f"got {len(sources)} paths")
    elif state != "before":
        raise ValueError("--state after applies to a comparison of two models only")
    elif sources[0].is_dir():
        frame = compare_policy_run(sources[0], **opts)
    else:
        frame = compare_policy(sources[0], **opts)
    if chosen:  # every layer is captured in one pass; keep the rows of those asked for
        attrs = frame.attrs
        frame = frame[frame["layer"].isin(chosen)].reset_index(drop=True)
        frame.attrs = attrs
    frame.attrs["manifest"].setdefault("model", frame.attrs["manifest"].get("model", "policy"))
    console.print(_compare_table(frame))
    _render_notes(frame.attrs["manifest"])
    console.print(f"[dim]{frame.attrs['manifest'].get('inputs_description', '')}[/]",
                  highlight=False)
    _write(frame, json_path, csv_path)


def ablate_rl(source: Path, *, tasks: int | None, seed: int, json_path: Path | None,
              csv_path: Path | None) -> None:
    require_rl()
    from repsim.analyses.rl import ablate_policy

    if source.is_dir():
        raise ValueError(f"{source} is a directory; ablate takes one RL checkpoint file")
    frame = ablate_policy(source, tasks=40 if tasks is None else tasks, seed=seed)
    m = frame.attrs["manifest"]
    table = Table(title=f"inner-loop freezing: {m['env']} {frame['algorithm'].iloc[0]}, "
                  f"{frame['tasks'].iloc[0]} tasks",
                  caption="frozen = layers held at θ in the inner loop; return after one step")
    for col in ("frozen", "return after", "return before"):
        table.add_column(col, justify="left" if col == "frozen" else "right")
    for r in frame.to_dict("records"):
        table.add_row(r["label"], f"{r['return']:.2f} ± {r['ci95']:.2f}",
                      f"{r['return_before']:.2f} ± {r['ci95_before']:.2f}")
    console.print(table)
    for note in m.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    _write(frame, json_path, csv_path)


def reproduce_rl(preset: str, *, scale: str, seeds: int, out: Path | None,
                 steps: int | None) -> None:
    """The meta-RL study; the caller has refused the classification-only options (issue 21:
    ``--data-dir`` was silently ignored)."""
    require_rl()
    from repsim.study_rl import run_rl_study

    files = run_rl_study(preset, scale=scale, seeds=seeds, out_dir=out or Path(f"study-{preset}"),
                         steps=steps, log=console.print)
    console.print(f"report: {files['report_md']}")
