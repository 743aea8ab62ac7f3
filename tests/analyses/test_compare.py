"""repsim.analyses.compare: θ vs θ' per layer, model A vs B, a run's checkpoints; bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from repsim.analyses import compare, compare_adaptation, compare_models, compare_run
from repsim.analyses._layers import select_measures
from repsim.analyses.tables import COMPARE_COLUMNS
from repsim.meta import checkpoint_paths

SIMILARITIES = ("cca", "svcca", "pwcca", "r2cca", "cka", "cka_debiased", "cka_rbf")


def _means(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(r.layer, r.measure): r.mean for r in frame.itertuples()}


def test_zero_inner_lr_gives_similarity_one_in_every_layer(sinusoid):
    """lr = 0: θ' = θ, so every similarity is 1 and the Procrustes distance 0, in every layer."""
    frame = compare_adaptation(sinusoid(lr=0.0), tasks=8)
    assert set(frame["layer"]) == {"fc1", "fc2", "head"}
    for (layer, measure), value in _means(frame).items():
        target = 0.0 if measure == "procrustes" else 1.0
        assert value == pytest.approx(target, abs=1e-6), (layer, measure)


def test_head_only_inner_loop_keeps_the_body(fixed_body_model):
    """Hand-built net whose only parameters are the head's: body = 1 exactly, head clearly < 1."""
    frame = compare_adaptation(fixed_body_model, tasks=8, layers=["fc*", "head"])
    assert frame.attrs["manifest"]["capture_path"] == "hooks"
    for r in frame.itertuples():
        if r.measure not in SIMILARITIES:
            continue
        if r.layer == "head":
            assert r.mean < 0.95 and r.note == "", r
        else:
            assert r.mean == pytest.approx(1.0, abs=1e-9) and "by construction" in r.note, r
    assert frame.attrs["manifest"]["identical_layers"] == ["fc1", "fc2"]


def test_deterministic_for_a_seed(sinusoid):
    model = sinusoid()
    a = compare_adaptation(model, tasks=6, seed=3)
    b = compare_adaptation(model, tasks=6, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = compare_adaptation(model, tasks=6, seed=4)
    assert not np.allclose(a["mean"], c["mean"])


def test_columns_and_manifest(sinusoid):
    frame = compare_adaptation(sinusoid(), tasks=5, query=7)
    assert list(frame.columns[: len(COMPARE_COLUMNS)]) == list(COMPARE_COLUMNS)
    assert set(frame["n_samples"]) == {7} and set(frame["conv_mode"]) == {"dense"}
    assert set(frame["tasks"]) == {5} and set(frame["algorithm"]) == {"maml"}
    m = frame.attrs["manifest"]
    assert m["kind"] == "compare-adaptation" and m["inner_steps"] == 2
    assert m["baseline"]["kind"] == "shuffle" and "batch statistics" in m["batchnorm"]
    assert set(m["measure_choice"]) == {"fc1", "fc2", "head"}


def test_default_measures_follow_the_sample_rule(sinusoid):
    """CCA family only where dx+dy <= n-1 (n=15 query points: head d=1 yes, fc d=40 no)."""
    frame = compare_adaptation(sinusoid(), tasks=4)
    by_layer = frame.groupby("layer")["measure"].apply(set).to_dict()
    assert "cca" in by_layer["head"] and "cca" not in by_layer["fc1"]
    assert {"cka", "cka_debiased"} <= by_layer["fc1"]
    reason = frame.attrs["manifest"]["measure_choice"]["fc1"]["reason"]
    assert "every canonical correlation is 1 by construction" in reason


@pytest.mark.parametrize(("n", "d", "cca"), [(129, 64, True), (128, 64, False),
                                             (14700, 64, True), (75, 5, True)])
def test_cca_default_needs_dx_plus_dy_at_most_n_minus_1(n, d, cca):
    """Two spans of dims dx, dy in R^(n-1) intersect iff dx+dy > n-1 (the rule's edge)."""
    assert ("cca" in select_measures(n, (d, d)).measures) is cca


def test_explicit_measure_refused_where_meaningless(sinusoid):
    frame = compare_adaptation(sinusoid(), tasks=4, measures=["cca", "cka_debiased"])
    assert set(frame.loc[frame.layer == "fc1", "measure"]) == {"cka_debiased"}
    assert set(frame.loc[frame.layer == "head", "measure"]) == {"cca", "cka_debiased"}
    skipped = frame.attrs["manifest"]["skipped"]
    assert {(s["layer"], s["measure"]) for s in skipped} == {("fc1", "cca"), ("fc2", "cca")}
    with pytest.raises(ValueError, match="no requested measure can be computed for any layer"):
        compare_adaptation(sinusoid(), tasks=4, measures=["cca"], layers=["fc1"])


def test_baselines_sit_near_chance(sinusoid):
    """θ' = θ gives 1; shuffled rows give debiased CKA ≈ 0, a random net's head far below 1."""
    model = sinusoid(lr=0.0)
    for baseline in ("shuffle", "random-network"):
        frame = compare_adaptation(model, tasks=30, baseline=baseline, measures=["cka_debiased"])
        assert frame["mean"].min() > 0.999
        if baseline == "shuffle":
            assert frame["baseline"].abs().max() < 0.1, frame
        else:  # fc1 of any net is a function of the scalar input (baseline ~1): see the head
            assert frame.set_index("layer").loc["head", "baseline"] < 0.9, frame


def test_compare_models_self_is_one_and_differs_from_another_init(sinusoid):
    a, b = sinusoid(seed=0), sinusoid(seed=1)
    same = compare_models(a, a, tasks=5, measures=["cka_debiased"])
    assert same["mean"].min() == pytest.approx(1.0, abs=1e-9)
    other = compare_models(a, b, tasks=5, measures=["cka_debiased"], state="after")
    assert other["mean"].max() < 0.999
    assert {"model_a", "model_b"} <= set(other.columns)
    assert other.attrs["manifest"]["state"] == "after"


def test_compare_run_one_block_per_checkpoint(sinusoid_run):
    frame = compare_run(sinusoid_run, tasks=4, measures=["cka"])
    assert sorted(set(frame["step"])) == [s for s, _ in checkpoint_paths(sinusoid_run)] == [2, 4]
    assert len(frame) == 2 * 3
    manifest = frame.attrs["manifest"]
    assert [c["step"] for c in manifest["checkpoints"]] == [2, 4]
    # the dispatcher: a directory is a run, a file one checkpoint, two files two models
    pd.testing.assert_frame_equal(compare(sinusoid_run, tasks=4, measures=["cka"]), frame)
    ckpt = checkpoint_paths(sinusoid_run)[-1][1]
    assert compare(ckpt, tasks=4, measures=["cka"])["step"].unique().tolist() == [4]
    assert "model_b" in compare([ckpt, ckpt], tasks=4, measures=["cka"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"layers": ["conv9"]}, r"named 'conv9'; its layers are fc1, fc2, head"),
    ({"measures": ["svd"]}, r"unknown measure\(s\) \['svd'\]; valid measures are cca"),
    ({"inputs": "train"}, r"inputs must be one of \('query', 'support', 'both'\)"),
    ({"conv_mode": "channels"}, r"conv_mode must be one of"),
    ({"baseline": "noise"}, r"baseline must be one of \('shuffle', 'random-network'\)"),
    ({"tasks": 0}, r"tasks must be an integer >= 1; got 0"),
    ({"split": "dev"}, r"split must be one of"),
])
def test_bad_options_say_what_is_valid(kwargs, match, sinusoid):
    with pytest.raises(ValueError, match=match):
        compare_adaptation(sinusoid(), **{"tasks": 3, **kwargs})


def test_nan_activations_name_layer_and_task(sinusoid):
    model = sinusoid()
    with torch.no_grad():
        model.model.fc2.linear.weight[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"layer 'fc2' has NaN/Inf activations under θ "
                                         r"\(before the inner loop\) for task 0"):
        compare_adaptation(model, tasks=3)


def test_checkpoint_without_its_data(tmp_path, omniglot):
    with pytest.raises(FileNotFoundError, match=r"\(omniglot 5w1s maml\) needs the omniglot "
                                                r"test split to sample its tasks"):
        compare_adaptation(omniglot(), tasks=2, data_dir=tmp_path)


def test_bad_sources(tmp_path, sinusoid_run, sinusoid, omniglot):
    with pytest.raises(ValueError, match=r"holds no checkpoints"):
        compare_run(tmp_path, tasks=2)
    ckpt = checkpoint_paths(sinusoid_run)[0][1]
    with pytest.raises(ValueError, match=r"one checkpoint, one run directory, or two"):
        compare([ckpt, ckpt, ckpt])
    with pytest.raises(ValueError, match=r"state='after' applies to a comparison of two models"):
        compare(ckpt, state="after")
    with pytest.raises(ValueError, match=r"cannot compare a sinusoid 1w10s maml model with a "
                                         r"omniglot 5w1s maml model"):
        compare_models(sinusoid(), omniglot(), tasks=2)


@pytest.fixture(scope="module")
def omniglot_frames(shared_data_dir, omniglot):
    """Real Omniglot tasks through untrained Conv4s: MAML vs ANIL, spatial and pooled."""
    maml, anil = omniglot(algorithm="maml"), omniglot(algorithm="anil")
    kw = {"tasks": 4, "query": 5, "data_dir": shared_data_dir}
    return {"maml": compare_adaptation(maml, **kw),
            "anil": compare_adaptation(anil, **kw),
            "pool": compare_adaptation(maml, conv_mode="pool", **kw),
            "zero": compare_adaptation(omniglot(lr=0.0), measures=["cca", "cka"], **kw)}


def test_conv_layers_spatial_samples(omniglot_frames):
    """25 query images: conv1 has 25·14·14 spatial samples of 64 channels; head 25 x 5."""
    frame = omniglot_frames["maml"]
    shapes = frame.groupby("layer")[["n_samples", "n_features"]].first()
    assert shapes.loc["conv1"].tolist() == [25 * 14 * 14, 64]
    assert shapes.loc["conv4"].tolist() == [25 * 2 * 2, 64]
    assert shapes.loc["head"].tolist() == [25, 5]
    assert set(frame.loc[frame.layer == "conv2", "conv_mode"]) == {"spatial"}
    pooled = omniglot_frames["pool"]
    assert set(pooled.loc[pooled.layer == "conv1", "n_samples"]) == {25}
    assert "cca" not in set(pooled.loc[pooled.layer == "conv1", "measure"])  # 25 < 2*64 + 1


def test_anil_body_is_one_by_construction_and_says_so(omniglot_frames):
    frame = omniglot_frames["anil"]
    body = frame[(frame.layer != "head") & frame.measure.isin(SIMILARITIES)]
    assert np.allclose(body["mean"], 1.0, atol=1e-9) and body["note"].str.len().min() > 0
    assert any("ANIL" in n for n in frame.attrs["manifest"]["notes"])
    assert frame.attrs["manifest"]["adapted_layers"] == ["head"]
    maml = omniglot_frames["maml"]
    assert maml.attrs["manifest"]["adapted_layers"] == ["conv1", "conv2", "conv3", "conv4",
                                                        "head"]


def test_zero_lr_conv_layers_are_one(omniglot_frames):
    values = omniglot_frames["zero"]["mean"]
    assert np.allclose(values, 1.0, atol=1e-5), omniglot_frames["zero"]
