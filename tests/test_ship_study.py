"""analysis/ship_study.py: a long-tier run shipped while still training resumes exactly on a
fresh machine, and its checkpoints along training are indexed."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import torch

from repsim.meta import TrainConfig
from repsim.meta.checkpoint import checkpoint_paths
from repsim.study_runs import StudyRun, analyse_steps, run_dir, train_run

SCRIPT = Path(__file__).resolve().parents[1] / "analysis" / "ship_study.py"
CFG = TrainConfig(steps=4, meta_batch=2, val_tasks=4, val_every=2, checkpoint_every=1)


def _ship():
    spec = importlib.util.spec_from_file_location("ship_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_unfinished_long_run_ships_its_state_and_resumes_exactly(tmp_path, shared_data_dir):
    ship = _ship()
    run = StudyRun("maml-long", CFG, ("length",), "baseline", tasks=3, compare_tasks=2)
    short = dataclasses.replace(run, config=dataclasses.replace(CFG, steps=2))
    root, out, results = tmp_path / "root", tmp_path / "ckpts", tmp_path / "results"
    train_run(short, root, data_dir=shared_data_dir)  # "the session ended" at step 2 of 4
    (run_dir(root, run) / "config.json").write_text(json.dumps(  # the plan says 4 steps
        {**json.loads((run_dir(root, run) / "config.json").read_text()), "steps": 4}))
    analyse_steps(run, root, steps=(1,), data_dir=shared_data_dir)
    index = tmp_path / "index.json"
    ship.main(["--root", str(root), "--out", str(out), "--index", str(index),
               "--results", str(results)])
    entries = json.loads(index.read_text())["checkpoints"]
    assert [(e["steps"], e.get("along_training")) for e in entries] == [(1, True)]
    assert Path(entries[0]["path"]).is_file() and entries[0]["figures"]
    assert (out / "resume" / "maml-long_s0.pt").is_file()
    shipped = Path(entries[0]["path"]).stat().st_mtime_ns
    ship.main(["--root", str(root), "--out", str(out), "--index", str(index),
               "--results", str(results)])
    assert Path(entries[0]["path"]).stat().st_mtime_ns == shipped  # same weights: left alone

    fresh = tmp_path / "fresh"
    ship.restore(results, out, fresh)
    assert [s for s, _ in checkpoint_paths(run_dir(fresh, run))] == [1, 2]
    resumed = train_run(run, fresh, data_dir=shared_data_dir)
    straight = train_run(run, tmp_path / "straight", data_dir=shared_data_dir)
    a = torch.load(resumed, weights_only=True)["model"]
    b = torch.load(straight, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in b)  # bit-exact: optimizer and RNG travelled
