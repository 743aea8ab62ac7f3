"""The study over several training seeds: one full study per seed, then statistics across them.

``repsim reproduce PRESET --seeds 3`` calls :func:`run_seeds`: seed ``s`` runs the whole
single-seed study (:func:`repsim.study.run_study`, the preset with ``seed=s``) into
``OUT/seed{s}/`` (resumable, finished stages skipped), then :func:`aggregate_seeds` gathers
what the seeds share into ``OUT/``:

- ``{eval,ablate,compare}_seeds.json``: every seed's rows with a ``seed`` column;
- ``{eval,ablate,compare}_summary.json``: mean ± std over seeds per group, each seed's value
  and its 95% CI over tasks kept as lists (:func:`repsim.analyses.seeds.seed_summary`);
- ``between_seeds.json`` / ``between_seeds_summary.json``: MAML vs MAML, ANIL vs ANIL, MAML vs
  ANIL similarity per layer and body-averaged (:func:`repsim.analyses.seeds.between_seeds`);
- ``figures/``: the seed figures (per-seed points over mean ± std).

The two parts are separate functions so a sweep runner (local pool, Ray) can schedule the
per-seed studies itself and call :func:`aggregate_seeds` at the end. The test tasks are the
same for every seed (``TEST_SEED``): seeds vary the initialisation and the training tasks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from repsim._io import run_manifest
from repsim.analyses.seeds import between_seeds, body_average, pair_summary, seed_summary
from repsim.analyses.tables import read_table, write_table
from repsim.study import ALGORITHMS, StudyPreset, _get_preset, run_study

__all__ = ["aggregate_seeds", "is_seeds_folder", "parse_seeds", "redraw_seeds", "run_seeds",
           "seed_dir", "seed_preset"]

#: table stem -> the columns naming one summarised group, and the value summarised
SUMMARIES: dict[str, tuple[tuple[str, ...], str]] = {
    "eval": (("algorithm", "head"), "accuracy"),
    "ablate": (("algorithm", "label", "head"), "accuracy"),
    "compare": (("algorithm", "layer", "measure"), "mean"),
}


def parse_seeds(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """``3`` → (0, 1, 2); ``"0,2,5"`` → (0, 2, 5); a sequence is taken as the seeds.

    Raises
    ------
    ValueError
        Not a positive count or a comma-separated list of distinct seeds >= 0.
    """
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        seeds = tuple(int(s) for s in text)
    else:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"--seeds takes a count (3) or a list (0,1,2); got {text!r}") from None
        if len(numbers) == 1 and "," not in text:
            if numbers[0] < 1:
                raise ValueError(f"--seeds N needs N >= 1; got {numbers[0]}")
            seeds = tuple(range(numbers[0]))
        else:
            seeds = tuple(numbers)
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0; got {list(seeds)}")
    return seeds


def seed_dir(out_dir: str | Path, seed: int) -> Path:
    """Where seed ``seed``'s single-seed study lives inside a multi-seed study."""
    return Path(out_dir) / f"seed{seed}"


def seed_preset(preset: str | StudyPreset, seed: int) -> StudyPreset:
    """The study preset with training seed ``seed``."""
    spec = preset if isinstance(preset, StudyPreset) else _get_preset(preset)
    train = dataclasses.replace(spec.train, seed=seed)
    return dataclasses.replace(spec, train=train)


def run_seeds(
    preset: str | StudyPreset,
    seeds: Sequence[int],
    *,
    out_dir: str | Path,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    download: bool = False,
    steps: int | None = None,
    between_tasks: int | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Run (or resume) the study of ``preset`` for every seed, then aggregate; return files."""
    seeds = parse_seeds(seeds)
    say = console or Console()
    for seed in seeds:
        say.print(f"[bold]seed {seed}[/] ({seeds.index(seed) + 1} of {len(seeds)})")
        run_study(seed_preset(preset, seed), out_dir=seed_dir(out_dir, seed), device=device,
                  data_dir=data_dir, download=download, steps=steps, console=say,
                  progress=progress)
    return aggregate_seeds(out_dir, seeds, data_dir=data_dir, device=device,
                           between_tasks=between_tasks, console=say, progress=progress)


def gather(out_dir: str | Path, seeds: Sequence[int], stem: str) -> pd.DataFrame:
    """Every seed's ``stem.json`` rows with a ``seed`` column (seeds lacking it are skipped)."""
    frames = []
    for seed in seeds:
        path = seed_dir(out_dir, seed) / f"{stem}.json"
        if path.exists():
            frames.append(read_table(path)[0].assign(seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def final_checkpoints(out_dir: str | Path, seeds: Sequence[int]) -> dict[tuple[str, int], Path]:
    """(algorithm, seed) → the last checkpoint of that seed's training run."""
    from repsim.meta.checkpoint import checkpoint_paths

    found = {}
    for seed in seeds:
        for algorithm in ALGORITHMS:
            paths = checkpoint_paths(seed_dir(out_dir, seed) / "runs" / algorithm)
            if paths:
                found[(algorithm, seed)] = paths[-1][1]
    return found


def aggregate_seeds(
    out_dir: str | Path,
    seeds: Sequence[int],
    *,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    between_tasks: int | None = None,
    console: Console | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """Gather the per-seed studies in ``out_dir`` into seed tables, summaries and figures.

    Between-seed similarity is computed once (``between_seeds.json`` is kept and reused: delete
    it to recompute) on ``between_tasks`` tasks (default: the seeds' compare task count).
    """
    out, say = Path(out_dir), console or Console()
    seeds = parse_seeds(seeds)
    manifest = run_manifest(seed=None, device=device, seeds=list(seeds))
    files: dict[str, Path] = {}
    for stem, (by, value) in SUMMARIES.items():
        frame = gather(out, seeds, stem)
        value = value if value in frame else "mse"  # regression studies (sinusoid)
        if frame.empty or value not in frame:
            continue
        files[f"{stem}_seeds"] = write_table(frame, out / f"{stem}_seeds", manifest=manifest)
        summary = seed_summary(frame, by=list(by), value=value)
        files[f"{stem}_summary"] = write_table(summary, out / f"{stem}_summary", manifest=manifest)
    checkpoints = final_checkpoints(out, seeds)
    between = out / "between_seeds.json"
    if len(checkpoints) >= 2 and not between.exists():
        tasks = between_tasks or int(_compare_tasks(out, seeds))
        say.print(f"[cyan]between-seed similarity[/]: {len(checkpoints)} models, {tasks} tasks")
        frame = between_seeds(checkpoints, tasks=tasks, data_dir=data_dir, device=device,
                              progress=progress)
        write_table(frame, between, manifest={**manifest, **frame.attrs["manifest"]})
    if between.exists():
        frame, _ = read_table(between)
        averaged = body_average(frame)
        files["between_seeds"] = between
        files["between_seeds_body"] = write_table(averaged, out / "between_seeds_body",
                                                  manifest=manifest)
        summary = pair_summary(averaged)
        files["between_seeds_summary"] = write_table(summary, out / "between_seeds_summary",
                                                     manifest=manifest)
    from repsim.plots.seeds import make_seed_figures

    files.update(make_seed_figures(out, out / "figures"))
    say.print(f"[bold green]seeds aggregated[/]: {len(seeds)} seeds → {out}")
    return files


def _compare_tasks(out: Path, seeds: Sequence[int]) -> Any:
    frame = gather(out, seeds, "compare")
    return frame["tasks"].max() if "tasks" in frame and not frame.empty else 100


def is_seeds_folder(results_dir: str | Path) -> bool:
    """Whether ``results_dir`` is a ``repsim reproduce PRESET --seeds N`` folder (``seed<k>/``
    single-seed studies; a sweep folder, which has ``sweep.json``, is not one)."""
    root = Path(results_dir)
    if not root.is_dir() or (root / "sweep.json").is_file():
        return False
    return any(p.is_dir() and p.name[4:].isdigit() and (p / "eval.json").is_file()
               for p in root.glob("seed*"))


def redraw_seeds(results_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """``repsim figures`` on a multi-seed study: the seed figures again, from its summaries.

    Returns ``{"kind": "seeds", "files": [...], "skipped": [...]}``.

    Raises
    ------
    FileNotFoundError
        The folder has no seed summaries yet (the seeds were never aggregated): the message
        says which command writes them.
    """
    from repsim.plots.seeds import make_seed_figures

    root = Path(results_dir)
    made = make_seed_figures(root, Path(out_dir) if out_dir is not None else root / "figures")
    if not made:
        raise FileNotFoundError(
            f"{root} is a multi-seed study without its seed summaries (eval_summary.json, "
            "between_seeds_summary.json); rerun `repsim reproduce PRESET --seeds N --out "
            f"{root}` (finished seeds are skipped) to write them, or draw one seed with "
            f"`repsim figures {root}/seed0`")
    return {"kind": "seeds", "files": list(made.values()), "skipped": []}
