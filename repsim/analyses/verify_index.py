"""Provenance that regenerates: re-derive every value of ``checkpoints/index.json`` (issue 19).

:func:`verify_index` loads each indexed checkpoint and recomputes the numbers its entry reports
with today's code and the entry's own settings (tasks, test seed, heads, frozen layers, profile
quantities, RL inner-step settings), through the same library functions that produced them:

- older classification entries (``analysis/index_omniglot.py``): :func:`repsim.analyses.ablate`;
- Omniglot study entries (``analysis/ship_study.py`` via ``study_runs.checkpoint_index``): per
  ``source``, :func:`~repsim.analyses.regimes.evaluate_heads`,
  :func:`~repsim.analyses.regimes.adaptation_profile`, :func:`~repsim.analyses.ablate` and
  :func:`~repsim.analyses.budget.adaptation_budget` (the long tier's checkpoints along training
  too, with the profile settings kept in their ``analysis/step_XXXXXX/``);
- meta-RL entries (``analysis/rl_nav2d.py``, ``analysis/rl_inner_step_check.py``, the torchrun
  entry): :func:`repsim.rl.evaluate.evaluate_policy` with the figure's test tasks, seed, frozen
  layers and (where recorded) inner-step trajectories and learning rate.

Each checkpoint's analyses run once per source (or once per RL setting), never once per figure.
Both the ``value`` and the ``ci95`` of every figure are compared.

Tolerances (absolute, measured on this project's CPU; see :class:`Tolerance`):

- accuracies and their gap: 1e-6. They are means of per-task fractions (multiples of
  1/(ways·query)) computed in float32, so a rerun agrees to ~1e-7; one changed prediction
  moves a 600-task mean by >= 1/(600·ways·query) >= 1.7e-5 (20-way 5-query), far above it.
- similarities (CKA): 1e-6. Recomputing from the shipped checkpoints reproduced them to < 1e-9.
- RL returns: 1e-4. Rollouts are deterministic given the test seed: reruns, and 1 vs 2 torch
  threads, agree bit for bit. They are not portable across CPU kernels: on the same machine
  ``ATEN_CPU_CAPABILITY=default`` instead of AVX2/AVX512, or ``MKL_CBWR=COMPATIBLE``, moves
  a 2D-navigation return after adaptation (40 tasks) by 0.3-1.6 and a HalfCheetah-Dir one by
  0.9-5.3, so a value made on another CPU drifts; that is reported, never absorbed in the
  tolerance.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["IndexCheck", "Tolerance", "regenerate_index", "verify_index"]

ACCURACY_METRICS = ("accuracy", "head_only_accuracy", "head_only_gap", "nil_accuracy")
RL_COLUMNS = {"return_before": ("return_before", "ci95_before"),
              "return_after": ("return_after", "ci95_after"),
              "improvement": ("improvement", "ci95_improvement")}
COLUMNS = ("path", "figure", "field", "shipped", "today", "difference", "tolerance", "drifted",
           "note")


@dataclass(frozen=True)
class Tolerance:
    """Largest absolute difference that is float noise, per kind of figure (module notes)."""

    accuracy: float = 1e-6
    similarity: float = 1e-6
    rl_return: float = 1e-4

    def for_metric(self, metric: str) -> float:
        if metric in RL_COLUMNS:
            return self.rl_return
        if metric == "similarity":
            return self.similarity
        return self.accuracy

    @classmethod
    def parse(cls, text: str | None) -> Tolerance:
        """``"1e-6"`` (every kind) or ``"accuracy=1e-6,similarity=1e-5,rl_return=1e-3"``."""
        if text is None or not str(text).strip():
            return cls()
        names = [f.name for f in dataclasses.fields(cls)]
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        values: dict[str, float] = {}
        for part in parts:
            name, _, number = part.rpartition("=")
            try:
                value = float(number)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"tolerance {part!r}: expected a number >= 0 (e.g. 1e-6)")
            if not name:
                if len(parts) > 1:
                    raise ValueError(f"tolerance {text!r}: give one number, or name each kind "
                                     f"({', '.join(names)})")
                return cls(**dict.fromkeys(names, value))
            if name not in names:
                raise ValueError(f"tolerance {part!r}: unknown kind {name!r}; valid: "
                                 f"{', '.join(names)}")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class IndexCheck:
    """What :func:`verify_index` found.

    ``table`` has one row per checked number (:data:`COLUMNS`); ``today`` maps each checked
    entry's path to its figures with today's values (for :func:`regenerate_index`).
    """

    table: pd.DataFrame
    entries: tuple[str, ...]  # paths checked, in order
    total_entries: int  # entries in the index
    tolerance: Tolerance
    wall_s: float
    cpu_s: float
    today: Mapping[str, list[dict[str, Any]]]
    stopped_early: bool = False  # interrupted (Ctrl-C, SIGTERM): ``entries`` were checked

    @property
    def complete(self) -> bool:
        return not self.stopped_early

    @property
    def drifted(self) -> pd.DataFrame:
        return self.table[self.table["drifted"]]

    @property
    def ok(self) -> bool:
        return not bool(self.table["drifted"].any())

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "complete": self.complete, "entries": list(self.entries),
                "total_entries": self.total_entries,
                "tolerance": dataclasses.asdict(self.tolerance), "wall_s": self.wall_s,
                "cpu_s": self.cpu_s, "checked": len(self.table),
                "drifted": int(self.table["drifted"].sum()),
                "rows": self.table.to_dict("records")}


def describe_figure(fig: Mapping[str, Any]) -> str:
    """A figure in words: ``"profile similarity conv4 cka"``, ``"return_after fc1 frozen"``."""
    parts = [str(fig["source"])] if fig.get("source") else []
    parts.append(str(fig["metric"]))
    parts += [str(fig[k]) for k in ("layer", "measure") if fig.get(k)]
    if fig.get("source") != "profile":
        if fig.get("head") not in (None, "adapted", "own") or fig.get("source") == "heads":
            parts.append(f"head {fig['head']}")
        if fig.get("frozen"):
            parts.append(f"{','.join(_frozen(fig['frozen']))} frozen")
    if fig.get("inner_trajectories") is not None:
        parts.append(f"{fig['inner_trajectories']} traj lr {fig.get('inner_lr')}")
    parts.append(f"({fig.get('tasks')} tasks)")
    return " ".join(parts)


def _frozen(value: Any) -> tuple[str, ...]:
    """Frozen layers as a tuple: a list, ``"a,b"`` (read back from CSV), or nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    return tuple(value)


# --- today's values: one function per kind of entry; each returns (value, ci95) per figure ---

def _rl_values(path: Path, figures: list[dict]) -> list[tuple[float, float] | None]:
    from repsim.rl.checkpoint import load_rl
    from repsim.rl.evaluate import evaluate_policy

    trained = load_rl(path)
    done: dict[tuple, dict[str, Any]] = {}
    out = []
    for fig in figures:
        traj, lr = fig.get("inner_trajectories"), fig.get("inner_lr")
        key = (int(fig["tasks"]), int(fig["test_seed"]), _frozen(fig.get("frozen")), traj, lr)
        if key not in done:  # one evaluation per setting, shared by its figures
            changes = {"trajectories": int(traj)} if traj is not None else {}
            if lr is not None:
                changes["inner_lr"] = float(lr)
            config = dataclasses.replace(trained.config, **changes)
            done[key] = evaluate_policy(trained.params, config, tasks=key[0], seed=key[1],
                                        frozen=key[2], step=trained.step).to_dict()
        value, ci = RL_COLUMNS[fig["metric"]]
        out.append((done[key][value], done[key][ci]))
    return out


def _frame_rows(frame: pd.DataFrame, key: Callable[[dict], tuple], value: str
                ) -> dict[tuple, tuple[float, float]]:
    return {key(r): (r[value], r["ci95"]) for r in frame.to_dict("records")}


def _ablate_key(row: Mapping[str, Any]) -> tuple:
    return ("ablate", row.get("head"), _frozen(row.get("frozen")))


def _profile_key(row: Mapping[str, Any]) -> tuple:
    layer, measure = row.get("layer"), row.get("measure")
    return ("profile", row.get("quantity", row.get("metric")),
            None if layer != layer else layer, None if measure != measure else measure)


def _profile_settings(entry: Mapping[str, Any], root: Path, figures: list[dict]
                      ) -> dict[str, Any]:
    """Tasks, comparison tasks and comparison query of a study entry's profile.

    The query per class of the θ vs θ' comparison is not in the entry; ship_study keeps the
    profile's manifest in ``results/<study>/<run>/seed<s>/analysis/profile.json``.
    """
    from repsim.analyses.tables import read_table

    acc = [f for f in figures if f["metric"] != "similarity"]
    sim = [f for f in figures if f["metric"] == "similarity"]
    kept = (root / "results" / str(entry.get("study", "omniglot-study")) / str(entry["run"])
            / f"seed{entry['seed']}" / "analysis" / "profile.json")
    if entry.get("along_training"):  # a checkpoint of the long tier along training
        kept = kept.parent / f"step_{int(entry['steps']):06d}" / "profile.json"
    if not kept.is_file():
        raise ValueError(f"the profile settings of {entry['path']} (comparison query per "
                         f"class) are kept in {kept}, which is missing")
    manifest = read_table(kept)[1]
    return {"tasks": int(acc[0]["tasks"]) if acc else int(manifest["tasks"]),
            "compare_tasks": int(sim[0]["tasks"]) if sim else int(manifest["compare_tasks"]),
            "compare_query": manifest.get("compare_query"), "query": manifest.get("query")}


def _classification_values(entry: Mapping[str, Any], path: Path, root: Path,
                           data_dir: str | Path | None) -> list[tuple[float, float] | None]:
    from repsim.analyses.ablate import ablate
    from repsim.analyses.regimes import adaptation_profile, evaluate_heads
    from repsim.meta import load_trained
    from repsim.meta.tasks import TEST_SEED

    trained = load_trained(path)
    figures = list(entry["figures"])
    seeds = {int(f["test_seed"]) for f in figures}
    if len(seeds) != 1:
        raise ValueError(f"{entry['path']}: figures at several test seeds {sorted(seeds)}")
    seed = seeds.pop()
    found: dict[tuple, tuple[float, float]] = {}
    sources = {f.get("source", "ablate") for f in figures}
    if "heads" in sources:
        if seed != TEST_SEED:
            raise ValueError(f"{entry['path']}: heads were evaluated at test seed {TEST_SEED}; "
                             f"the entry says {seed}")
        tasks = {int(f["tasks"]) for f in figures if f.get("source") == "heads"}.pop()
        frame = evaluate_heads(trained, tasks=tasks, data_dir=data_dir)
        found.update(_frame_rows(frame, lambda r: ("heads", r["head"]), "accuracy"))
    if "profile" in sources:
        settings = _profile_settings(entry, root, [f for f in figures
                                                   if f.get("source") == "profile"])
        frame = adaptation_profile(trained, seed=seed, data_dir=data_dir, **settings)
        found.update(_frame_rows(frame, _profile_key, "value"))
    if "budget" in sources:
        from repsim.analyses.budget import adaptation_budget

        tasks = {int(f["tasks"]) for f in figures if f.get("source") == "budget"}.pop()
        frame = adaptation_budget(trained, tasks=tasks, seed=seed, data_dir=data_dir)
        found.update(_frame_rows(frame, lambda r: ("budget", r["quantity"]), "value"))
    if "ablate" in sources:
        for tasks in sorted({int(f["tasks"]) for f in figures
                             if f.get("source", "ablate") == "ablate"}):
            frame = ablate(trained, tasks=tasks, seed=seed, data_dir=data_dir)
            found.update(_frame_rows(frame.assign(tasks=tasks),
                                     lambda r: (*_ablate_key(r), r["tasks"]), "accuracy"))
    out = []
    for fig in figures:
        source = fig.get("source", "ablate")
        key = {"heads": lambda f: ("heads", f["head"]),
               "budget": lambda f: ("budget", f["metric"]),
               "profile": _profile_key,
               "ablate": lambda f: (*_ablate_key(f), int(f["tasks"]))}[source](fig)
        out.append(found.get(key))
    return out


def _entry_kind(entry: Mapping[str, Any]) -> str:
    metrics = {f["metric"] for f in entry["figures"]}
    return "rl" if metrics & set(RL_COLUMNS) else "classification"


def _today(entry: Mapping[str, Any], root: Path, data_dir: str | Path | None
           ) -> list[tuple[float, float] | None]:
    path = root / entry["path"]
    if not path.is_file():
        raise ValueError(f"checkpoint {entry['path']} is listed in the index but missing")
    if _entry_kind(entry) == "rl":
        return _rl_values(path, list(entry["figures"]))
    return _classification_values(entry, path, root, data_dir)


def _number(x: Any) -> float:
    return math.nan if x is None else float(x)


def _compare(entry: Mapping[str, Any], today: list[tuple[float, float] | None],
             tolerance: Tolerance) -> list[dict[str, Any]]:
    rows = []
    for fig, now in zip(entry["figures"], today, strict=True):
        tol = tolerance.for_metric(fig["metric"])
        for i, field in enumerate(("value", "ci95")):
            shipped = _number(fig.get(field))
            value = math.nan if now is None else _number(now[i])
            both_missing = math.isnan(shipped) and math.isnan(value)
            diff = 0.0 if both_missing else value - shipped
            drifted = not both_missing and not abs(diff) <= tol  # NaN counts as drift
            note = "not produced by today's code" if now is None else ""
            rows.append({"path": entry["path"], "figure": describe_figure(fig), "field": field,
                         "shipped": shipped, "today": value, "difference": diff,
                         "tolerance": tol, "drifted": drifted, "note": note})
    return rows


def _select(entries: list[dict], *, sample: int | None, seed: int,
            only: Sequence[str] | None) -> list[dict]:
    if only:
        entries = [e for e in entries if any(fnmatch.fnmatch(e["path"], p) for p in only)]
        if not entries:
            raise ValueError(f"no index entry matches {list(only)}")
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise ValueError(f"sample must be an integer >= 1; got {sample!r}")
        # in the seeded draw's order: a run stopped early has still checked a random subset
        entries = random.Random(seed).sample(entries, min(sample, len(entries)))
    return entries


def verify_index(
    index: str | Path = "checkpoints/index.json",
    *,
    sample: int | None = None,
    seed: int = 0,
    only: Sequence[str] | None = None,
    tolerance: Tolerance | str | None = None,
    data_dir: str | Path | None = None,
    root: str | Path | None = None,
    log: Callable[[str], Any] | None = None,
) -> IndexCheck:
    """Recompute every figure of the checkpoint index from its checkpoint; compare.

    Parameters
    ----------
    index : path, default="checkpoints/index.json"
    sample : int, optional
        Check ``sample`` entries drawn at random (``seed``), in the draw's order, instead of
        all of them in index order (``sample`` >= the number of entries: all, shuffled).
    seed : int, default=0
        Seed of that draw.
    only : sequence of str, optional
        Glob patterns on entry paths (``"checkpoints/rl/*"``): check those entries only.
    tolerance : Tolerance or str, optional
        Largest absolute difference taken as float noise (default: :class:`Tolerance`).
    data_dir : path, optional
        Where ``omniglot/`` lives (classification entries).
    root : path, optional
        Directory the entries' paths are relative to (default: the index's folder's parent).
    log : callable, optional
        Called with one line per entry as it is checked.

    Returns
    -------
    IndexCheck
        ``table`` (one row per figure value and CI: shipped, today, difference, drifted),
        ``ok``, ``drifted``, the entries checked, wall and CPU seconds.

    Notes
    -----
    An entry whose checkpoint is missing or cannot be evaluated counts as drifted (its note
    says why), so the check never passes silently. Ctrl-C (KeyboardInterrupt) stops the check
    after the entries done so far: the result says ``stopped_early``. A warning names any
    library whose version differs from the one an entry records (``versions``).
    """
    from repsim._io import check_versions
    from repsim.analyses.checkpoint_index import read_index

    index = Path(index)
    if not index.is_file():
        raise FileNotFoundError(f"no checkpoint index at {index}")
    tol = tolerance if isinstance(tolerance, Tolerance) else Tolerance.parse(tolerance)
    base = Path(root) if root is not None else index.resolve().parent.parent
    entries = read_index(index)["checkpoints"]
    chosen = _select(list(entries), sample=sample, seed=seed, only=only)
    start, cpu_start = time.perf_counter(), time.process_time()
    rows: list[dict[str, Any]] = []
    today: dict[str, list[dict[str, Any]]] = {}
    done: list[str] = []
    stopped = False
    for n, entry in enumerate(chosen, 1):
        t0 = time.perf_counter()
        check_versions(entry.get("versions"), source=entry["path"])
        try:
            values = _today(entry, base, data_dir)
        except KeyboardInterrupt:  # keep what was checked; the caller reports it as partial
            stopped = True
            break
        except (ValueError, OSError, KeyError) as exc:
            done.append(entry["path"])
            rows.append({"path": entry["path"], "figure": "(entry)", "field": "value",
                         "shipped": math.nan, "today": math.nan, "difference": math.nan,
                         "tolerance": math.nan, "drifted": True,
                         "note": " ".join(str(exc).split()) or type(exc).__name__})
            if log:
                log(f"[{n}/{len(chosen)}] {entry['path']}: cannot check: {rows[-1]['note']}")
            continue
        done.append(entry["path"])
        checked = _compare(entry, values, tol)
        rows += checked
        today[entry["path"]] = [
            {**fig, "value": None if now is None else float(now[0]),
             "ci95": None if now is None or now[1] != now[1] else float(now[1])}
            for fig, now in zip(entry["figures"], values, strict=True)]
        if log:
            bad = [r for r in checked if r["drifted"]]
            worst = max((abs(r["difference"]) for r in checked), default=0.0)
            log(f"[{n}/{len(chosen)}] {entry['path']}: {len(checked)} numbers, {len(bad)} "
                f"drifted, largest |difference| {worst:.2g} ({time.perf_counter() - t0:.0f} s)")
            for r in bad:
                log(f"    drift: {r['figure']} {r['field']}: shipped {r['shipped']:.6g}, today "
                    f"{r['today']:.6g} ({r['difference']:+.3g}) {r['note']}".rstrip())
    table = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    table["drifted"] = table["drifted"].astype(bool)
    return IndexCheck(table=table, entries=tuple(done), total_entries=len(entries),
                      tolerance=tol, wall_s=time.perf_counter() - start,
                      cpu_s=time.process_time() - cpu_start, today=today,
                      stopped_early=stopped)


def regenerate_index(index: str | Path, check: IndexCheck, *, reason: str) -> list[str]:
    """Write today's values of the entries ``check`` recomputed into the index.

    For a deliberate regeneration after a change whose cause is known and stated in ``reason``
    (kept in each entry's ``regenerated`` record with the date, git sha and library versions).
    Entries that could not be checked are left alone. Returns the paths rewritten.
    """
    from repsim._io import run_manifest
    from repsim.analyses.checkpoint_index import merge_index, read_index

    if not str(reason).strip():
        raise ValueError("regenerating index values needs a reason (what changed, and why)")
    manifest = run_manifest()
    stamp = {"created": manifest["created"], "git_sha": manifest["git_sha"],
             "platform": manifest["platform"], "cpu": manifest.get("cpu"),
             "reason": str(reason)}
    current = {e["path"]: e for e in read_index(index)["checkpoints"]}
    entries = []
    for path, figures in check.today.items():
        if path not in current or any(f["value"] is None for f in figures):
            continue
        entries.append({**current[path], "figures": figures,
                        "versions": manifest["versions"], "regenerated": stamp})
    merge_index(index, entries)
    return [e["path"] for e in entries]
