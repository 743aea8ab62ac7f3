"""The adaptation-budget decomposition against a hand computation, task by task.

The hand computation shares nothing with the library's evaluation path but the network: the
inner loops are explicit ``torch.autograd.grad`` loops over one task at a time (no vmap, no
torch.func.grad), the heads are written out with numpy, and the probe is scikit-learn called
directly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch.func import functional_call

from repsim.analyses._common import sample_tasks
from repsim.analyses.budget import adaptation_budget, probe_accuracy, prototype_accuracy

TASKS, HEAD_STEPS = 4, (2, 5)
# the library computes accuracies in float32 (0.2 is 0.2000000030): 1e-6 is far below 1/5


def _adapt(model, params, names, sx, sy, steps, lr):
    fast = {k: v.clone().requires_grad_(k in names) for k, v in params.items()}
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, fast, (sx,)), sy)
        grads = torch.autograd.grad(loss, [fast[k] for k in names])
        fast = {**fast, **{k: (fast[k] - lr * g).detach().requires_grad_() for k, g in
                          zip(names, grads, strict=True)}}
    return {k: v.detach() for k, v in fast.items()}


def _acc(model, params, x, y):
    with torch.no_grad():
        return float((functional_call(model, params, (x,)).argmax(-1) == y).double().mean())


def _feats(model, params, x):
    with torch.no_grad():
        return functional_call(model, params, (x,), {"output": "features"}).double().numpy()


def _probe(fs, sy, fq, qy):
    norm = lambda f: f / np.linalg.norm(f, axis=1, keepdims=True)  # noqa: E731
    probe = LogisticRegression(C=1.0, max_iter=1000).fit(norm(fs), sy)
    return float((probe.predict(norm(fq)) == qy).mean())


def _hand(trained, episodes, ways):
    model, cfg = trained.model, trained.config
    params = {k: v.detach() for k, v in trained.params.items()}
    every = list(params)
    head = [k for k in every if k.startswith("head.")]
    top = [k for k in every if k.startswith(("conv4.", "head."))]
    steps, lr = cfg.test_inner_steps, cfg.inner.lr
    out: dict[str, list[float]] = {}

    def put(key, value):
        out.setdefault(key, []).append(value)

    for t in range(episodes.support_x.shape[0]):
        sx, sy = episodes.support_x[t], episodes.support_y[t]
        qx, qy = episodes.query_x[t], episodes.query_y[t]
        adapted = _adapt(model, params, every, sx, sy, steps, lr)
        put("inner_loop", _acc(model, adapted, qx, qy))
        put("head_only", _acc(model, _adapt(model, params, head, sx, sy, steps, lr), qx, qy))
        for k in HEAD_STEPS:
            put(f"head_only_{k}", _acc(model, _adapt(model, params, head, sx, sy, k, lr), qx, qy))
        put("top_and_head", _acc(model, _adapt(model, params, top, sx, sy, steps, lr), qx, qy))
        fs, fq = _feats(model, params, sx), _feats(model, params, qx)
        ys, yq = sy.numpy(), qy.numpy()
        cos = (fq / np.linalg.norm(fq, axis=1, keepdims=True)) @ (
            fs / np.linalg.norm(fs, axis=1, keepdims=True)).T
        att = np.exp(cos - cos.max(1, keepdims=True))
        att /= att.sum(1, keepdims=True)
        put("nil", float(((att @ np.eye(ways)[ys]).argmax(1) == yq).mean()))
        means = np.stack([fs[ys == c].mean(0) for c in range(ways)])
        dist = ((fq[:, None, :] - means[None]) ** 2).sum(-1)
        put("prototype", float((dist.argmin(1) == yq).mean()))
        put("probe", _probe(fs, ys, fq, yq))
        put("probe_adapted", _probe(_feats(model, adapted, sx), ys, _feats(model, adapted, qx),
                                    yq))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def maml_case(shared_data_dir, omniglot):
    trained = omniglot(algorithm="maml", lr=0.4, seed=3)
    frame = adaptation_budget(trained, tasks=TASKS, head_only_steps=HEAD_STEPS,
                              data_dir=shared_data_dir)
    episodes = sample_tasks(trained, tasks=TASKS, split="test", seed=None, query=None,
                            data_dir=shared_data_dir)
    return frame.set_index("quantity"), _hand(trained, episodes, trained.config.ways)


def test_every_quantity_matches_the_hand_computation(maml_case):
    frame, hand = maml_case
    for quantity, values in hand.items():
        assert frame.loc[quantity, "value"] == pytest.approx(values.mean(), abs=1e-6), quantity


def test_the_differences_are_paired_and_use_the_best_head_side_reader(maml_case):
    frame, hand = maml_case
    side = ["head_only", *(f"head_only_{k}" for k in HEAD_STEPS), "nil", "prototype", "probe"]
    best = max(side, key=lambda q: hand[q].mean())
    assert frame.loc["best_head_side", "detail"] == best
    gain = hand["inner_loop"] - hand[best]
    assert frame.loc["body_only_gain", "value"] == pytest.approx(gain.mean(), abs=1e-6)
    assert frame.loc["body_only_gain", "ci95"] == pytest.approx(
        1.96 * gain.std(ddof=1) / np.sqrt(TASKS), abs=1e-6)
    probe_gain = hand["probe_adapted"] - hand["probe"]
    assert frame.loc["probe_gain", "value"] == pytest.approx(probe_gain.mean(), abs=1e-6)
    assert frame.loc["top_and_head", "detail"] == "conv4 and head"


def test_a_body_that_never_adapts_has_no_probe_gain(shared_data_dir, omniglot):
    frame = adaptation_budget(omniglot(algorithm="anil", seed=1), tasks=3,
                              head_only_steps=(4,), data_dir=shared_data_dir)
    rows = frame.set_index("quantity")
    assert rows.loc["probe_gain", "value"] == 0.0
    # ANIL's inner loop is a head-side reader itself: only body adaptation could beat it
    assert rows.loc["inner_loop", "value"] == rows.loc["head_only", "value"]
    assert rows.loc["body_only_gain", "value"] <= 0.0


def test_a_body_without_a_head_gets_the_head_free_readers_only(shared_data_dir, omniglot):
    frame = adaptation_budget(omniglot(algorithm="random"), tasks=2,
                              data_dir=shared_data_dir)
    assert set(frame["quantity"]) == {"nil", "prototype", "probe", "best_head_side"}


def test_prototype_and_probe_readers_on_separable_toy_features():
    # two well separated classes: every reader is right, whatever the scale of the features
    support = torch.tensor([[[10.0, 0.0], [0.0, 10.0]]])
    query = torch.tensor([[[9.0, 1.0], [1.0, 9.0], [8.0, 0.5]]])
    sy, qy = torch.tensor([[0, 1]]), torch.tensor([[0, 1, 0]])
    assert prototype_accuracy(support, sy, query, qy, 2).tolist() == [1.0]
    assert probe_accuracy(support, sy, query, qy).tolist() == [1.0]
    assert prototype_accuracy(support, sy, query, torch.tensor([[1, 0, 1]]), 2).tolist() == [0.0]


def test_bad_options_say_what_is_wrong(shared_data_dir, omniglot):
    with pytest.raises(ValueError, match="head_only_steps"):
        adaptation_budget(omniglot(), tasks=1, head_only_steps=(0,),
                          data_dir=shared_data_dir)
    with pytest.raises(ValueError, match="probe_c"):
        adaptation_budget(omniglot(), tasks=1, probe_c=0.0, data_dir=shared_data_dir)
