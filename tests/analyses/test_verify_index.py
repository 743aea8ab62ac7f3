"""repsim verify-index (issue 19 item 4): a tiny index passes when its values are today's and
fails, naming the drifted figure, when one is tampered; a real sample of the shipped index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repsim.analyses.checkpoint_index import merge_index, read_index
from repsim.analyses.verify_index import Tolerance, regenerate_index, verify_index

ROOT = Path(__file__).resolve().parents[2]


def _rl_figures(path: Path, *, tasks: int = 3) -> list[dict]:
    """Figures of a tiny RL checkpoint computed by hand, as rl_nav2d.py and the inner-step
    check record them (before/after; fc1 frozen; another inner lr)."""
    import dataclasses

    from repsim.rl.checkpoint import load_rl
    from repsim.rl.evaluate import evaluate_policy

    trained = load_rl(path)
    common = {"head": "adapted", "tasks": tasks, "test_seed": 0}
    plain = evaluate_policy(trained.params, trained.config, tasks=tasks, seed=0).to_dict()
    frozen = evaluate_policy(trained.params, trained.config, tasks=tasks, seed=0,
                             frozen=("fc1",)).to_dict()
    other = evaluate_policy(trained.params, dataclasses.replace(trained.config, inner_lr=0.05),
                            tasks=tasks, seed=0).to_dict()
    return [
        {"metric": "return_before", "frozen": [], "value": plain["return_before"],
         "ci95": plain["ci95_before"], **common},
        {"metric": "return_after", "frozen": [], "value": plain["return_after"],
         "ci95": plain["ci95_after"], **common},
        {"metric": "return_after", "frozen": ["fc1"], "value": frozen["return_after"],
         "ci95": frozen["ci95_after"], **common},
        {"metric": "improvement", "frozen": [], "value": other["improvement"],
         "ci95": other["ci95_improvement"], "inner_lr": 0.05,
         "inner_trajectories": trained.config.trajectories, **common},
    ]


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ROOT/checkpoints/index.json`` with one tiny nav2d MAML checkpoint (1 iteration)."""
    pytest.importorskip("gymnasium")
    from repsim.rl.config import rl_config
    from repsim.rl.train import train_rl

    root = tmp_path_factory.mktemp("repo")
    cfg = rl_config("nav2d", algorithm="maml", steps=1, meta_batch=2, trajectories=3,
                    horizon=10, hidden=16)
    train_rl(cfg, out_dir=root / "run", log=None)
    ckpt = root / "checkpoints" / "rl" / "tiny_maml_s0.pt"
    ckpt.parent.mkdir(parents=True)
    shutil.copy(sorted((root / "run" / "checkpoints").glob("*.pt"))[-1], ckpt)
    merge_index(root / "checkpoints" / "index.json", [{
        "path": "checkpoints/rl/tiny_maml_s0.pt", "preset": "tiny", "algorithm": "maml",
        "seed": 0, "steps": 1, "figures": _rl_figures(ckpt)}])
    return root / "checkpoints" / "index.json"


def _tampered(index: Path, tmp_path: Path, *, figure: int, delta: float) -> Path:
    """A copy of the tiny repository whose index has one value moved by ``delta``."""
    root = tmp_path / "copy"
    shutil.copytree(index.parents[1], root)
    data = read_index(root / "checkpoints" / "index.json")
    data["checkpoints"][0]["figures"][figure]["value"] += delta
    (root / "checkpoints" / "index.json").write_text(json.dumps(data))
    return root / "checkpoints" / "index.json"


def test_values_made_by_hand_verify_exactly(tiny_index: Path) -> None:
    # the index was written from independent evaluate_policy calls: every number matches
    check = verify_index(tiny_index)
    assert check.ok and len(check.table) == 8  # 4 figures x (value, ci95)
    assert check.table["difference"].abs().max() == 0.0
    assert check.entries == ("checkpoints/rl/tiny_maml_s0.pt",)


def test_a_tampered_value_is_reported_with_both_numbers(tiny_index: Path, tmp_path: Path
                                                         ) -> None:
    index = _tampered(tiny_index, tmp_path, figure=2, delta=0.5)
    check = verify_index(index)
    assert not check.ok
    (row,) = check.drifted.to_dict("records")
    assert row["figure"] == "return_after fc1 frozen (3 tasks)" and row["field"] == "value"
    assert row["difference"] == pytest.approx(-0.5, abs=1e-9)
    assert row["today"] == pytest.approx(row["shipped"] - 0.5, abs=1e-9)
    # a drift inside a wider stated tolerance passes
    assert verify_index(index, tolerance="rl_return=0.6").ok


def test_cli_exits_1_and_prints_the_drift(tiny_index: Path, tmp_path: Path) -> None:
    from repsim.cli.main import app

    index = _tampered(tiny_index, tmp_path, figure=3, delta=-2.0)
    out = tmp_path / "check.json"
    result = CliRunner().invoke(app, ["verify-index", "--index", str(index), "--json",
                                      str(out)])
    assert result.exit_code == 1, result.output
    # the table's row: entry, figure, shipped, today, difference (today − shipped)
    line = next(ln for ln in result.output.splitlines() if ln.startswith("rl/tiny_maml_s0.pt"))
    assert "improvement" in line and line.split()[-1].startswith("+2")
    assert "1 drifted" in result.output and "Traceback" not in result.output
    saved = json.loads(out.read_text())
    assert saved["ok"] is False and saved["drifted"] == 1
    ok = CliRunner().invoke(app, ["verify-index", "--index", str(tiny_index)])
    assert ok.exit_code == 0 and "no drift" in ok.output


def test_regenerate_writes_todays_values_and_versions(tiny_index: Path, tmp_path: Path) -> None:
    index = _tampered(tiny_index, tmp_path, figure=0, delta=1.0)
    check = verify_index(index)
    with pytest.raises(ValueError, match="needs a reason"):
        regenerate_index(index, check, reason=" ")
    assert regenerate_index(index, check, reason="test") == ["checkpoints/rl/tiny_maml_s0.pt"]
    entry = read_index(index)["checkpoints"][0]
    assert entry["regenerated"]["reason"] == "test"
    assert set(entry["versions"]) >= {"torch", "numpy", "mujoco", "gymnasium", "ray"}
    assert verify_index(index).ok


def test_missing_checkpoint_and_bad_options(tiny_index: Path, tmp_path: Path) -> None:
    index = _tampered(tiny_index, tmp_path, figure=0, delta=0.0)
    (index.parent / "rl" / "tiny_maml_s0.pt").unlink()
    check = verify_index(index)
    assert not check.ok and "missing" in check.drifted["note"].iloc[0]
    with pytest.raises(ValueError, match="no index entry matches"):
        verify_index(tiny_index, only=["nothing/*"])
    with pytest.raises(ValueError, match="sample must be an integer >= 1"):
        verify_index(tiny_index, sample=0)
    with pytest.raises(ValueError, match="unknown kind 'loss'"):
        Tolerance.parse("loss=1")
    with pytest.raises(ValueError, match="expected a number >= 0"):
        Tolerance.parse("accuracy=-1")
    assert Tolerance.parse("1e-3") == Tolerance(1e-3, 1e-3, 1e-3)
    from repsim.cli.main import app

    bad = CliRunner().invoke(app, ["verify-index", "--index", str(tiny_index),
                                   "--tolerance", "x=1"])
    assert bad.exit_code == 1 and "unknown kind 'x'" in bad.output
    assert "Traceback" not in bad.output


def test_sample_is_a_seeded_subset() -> None:
    index = ROOT / "checkpoints" / "index.json"
    from repsim.analyses.verify_index import _select

    entries = read_index(index)["checkpoints"]
    a = _select(list(entries), sample=3, seed=5, only=None)
    assert a == _select(list(entries), sample=3, seed=5, only=None) and len(a) == 3
    assert a != _select(list(entries), sample=3, seed=6, only=None)
    assert all(e in entries for e in a)
    every = _select(list(entries), sample=len(entries) + 5, seed=1, only=None)
    assert sorted(e["path"] for e in every) == sorted(e["path"] for e in entries)  # each once
    assert every != entries  # in the seeded draw's order, so a cut-short run is a random subset


@pytest.mark.data
def test_a_real_sample_of_the_shipped_index_reproduces(shared_data_dir: Path) -> None:
    # two cheap entries of the shipped index (one figure each, 600 tasks), drawn by seed
    cheap = ["checkpoints/study/random-5w1s_*", "checkpoints/study/nil-5w1s_*"]
    check = verify_index(ROOT / "checkpoints" / "index.json", only=cheap, sample=2, seed=0,
                         data_dir=shared_data_dir)
    assert len(check.entries) == 2 and len(check.table) == 4
    assert check.ok, check.drifted.to_string()
    assert check.table["today"].notna().all()


def test_a_stopped_check_keeps_what_it_checked(tiny_index: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from repsim.analyses import verify_index as V

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(V, "_today", interrupted)
    check = V.verify_index(tiny_index)
    assert check.stopped_early and check.entries == () and check.ok is True
    from repsim.cli.main import app

    before = tiny_index.read_text()
    result = CliRunner().invoke(app, ["verify-index", "--index", str(tiny_index),
                                      "--regenerate", "a reason"])
    assert result.exit_code == 1 and "STOPPED EARLY" in result.output
    assert "partial check" in result.output and "Traceback" not in result.output
    assert tiny_index.read_text() == before  # nothing regenerated from a partial check


@pytest.mark.data
def test_budget_figures_verify_and_a_tampered_one_drifts(shared_data_dir: Path, tmp_path: Path
                                                        ) -> None:
    from repsim.analyses.budget import adaptation_budget
    from repsim.study_runs import _budget_reader

    root = tmp_path / "repo"
    ckpt = root / "checkpoints" / "study" / "random-5w1s_s0.pt"
    ckpt.parent.mkdir(parents=True)
    shutil.copy(ROOT / "checkpoints" / "study" / "random-5w1s_s0.pt", ckpt)
    frame = adaptation_budget(ckpt, tasks=4, data_dir=shared_data_dir)
    figures = [{"source": "budget", "metric": r["quantity"], "value": r["value"],
                "ci95": r["ci95"], "tasks": 4, "test_seed": 0, "detail": r["detail"],
                **_budget_reader(r["quantity"])} for r in frame.to_dict("records")]
    entry = {"path": "checkpoints/study/random-5w1s_s0.pt", "preset": "omniglot-5w1s",
             "algorithm": "random", "seed": 0, "steps": 0, "run": "random-5w1s",
             "study": "omniglot-study", "figures": figures}
    merge_index(root / "checkpoints" / "index.json", [entry])
    check = verify_index(root / "checkpoints" / "index.json", data_dir=shared_data_dir)
    assert check.ok and len(check.table) == 2 * len(figures) == 8, check.drifted.to_string()
    figures[2]["value"] += 0.25  # the probe's accuracy
    merge_index(root / "checkpoints" / "index.json", [{**entry, "figures": figures}])
    check = verify_index(root / "checkpoints" / "index.json", data_dir=shared_data_dir)
    assert not check.ok and len(check.drifted) == 1
    assert "probe" in check.drifted["figure"].iloc[0]
