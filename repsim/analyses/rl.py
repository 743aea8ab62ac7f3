"""The paper's analyses on meta-RL policies: θ vs θ' per layer, model A vs B, freezing.

Same measures, noise baselines and tidy tables as classification (:mod:`repsim.analyses.compare`,
:class:`repsim.analyses._layers.LayerSimilarity`); what differs is the inputs. A policy's
"inputs" are states: for each fixed test task, ``states`` states drawn (seeded) from the
unmasked steps of the *adapted* policy's rollouts on that task (the states the adapted policy
actually visits), the same states under θ and θ'. Layers: ``fc1``, ``fc2`` (post-ReLU) and
``head`` (the action mean; the log-std is state-independent, so it cannot appear in an
activation). The ablation reports returns after adaptation with ``fc1`` and ``fc1, fc2`` held
at θ in the inner loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from repsim._io import run_manifest
from repsim.analyses import tables as C
from repsim.analyses._common import tidy_frame
from repsim.analyses._layers import LayerSimilarity
from repsim.capture import model_activations
from repsim.meta.checkpoint import checkpoint_paths
from repsim.rl.algorithm import adapt_all, adapt_names_for
from repsim.rl.checkpoint import RLTrained, load_rl
from repsim.rl.config import rl_config_to_dict
from repsim.rl.evaluate import evaluate_policy, test_rollouts

__all__ = ["POLICY_LAYERS", "ablate_policy", "compare_policy", "compare_policy_models",
           "compare_policy_run"]

POLICY_LAYERS = ("fc1", "fc2", "head")
DEFAULT_STATES = 500
ANIL_NOTE = ("ANIL adapts only the head in the inner loop, so fc1 and fc2 are identical under θ "
             "and θ' by construction (similarity 1): a property of ANIL, not a finding")
STATES_NOTE = ("inputs: per test task, {n} states drawn (seed {seed}) from the unmasked steps of "
               "the adapted policy θ'ᵢ's rollouts on that task; the same states under both "
               "conditions")


def _load(source: str | Path | RLTrained) -> RLTrained:
    return source if isinstance(source, RLTrained) else load_rl(source)


def _states(data, *, states: int | None, seed: int) -> Tensor:
    """``(tasks, states, obs_dim)``: a seeded draw of visited states from each task's D'ᵢ.

    ``states=None``: 500, or every task's visited-state count if one has fewer.
    """
    obs, mask = data.valid.obs, data.valid.mask
    b = obs.shape[0]
    flat_obs, flat_mask = obs.reshape(b, -1, obs.shape[-1]), mask.reshape(b, -1)
    if states is None:
        states = min(DEFAULT_STATES, int((flat_mask > 0).sum(1).min()))
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(b):
        idx = torch.nonzero(flat_mask[i] > 0).squeeze(1)
        if idx.numel() < states:
            raise ValueError(f"test task {i} has only {idx.numel()} visited states, fewer than "
                             f"the {states} asked for; use fewer states")
        pick = idx[torch.randperm(idx.numel(), generator=g)[:states]]
        out.append(flat_obs[i, pick])
    return torch.stack(out)


def _per_task_acts(policy, params_b: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """Activations of each task's own parameters (leading task axis) on its states."""
    per = [model_activations(policy, {k: v[i] for k, v in params_b.items()}, x[i:i + 1],
                             layers=POLICY_LAYERS) for i in range(x.shape[0])]
    return {layer: torch.cat([p[layer] for p in per]) for layer in POLICY_LAYERS}


def _adaptation_records(trained: RLTrained, *, tasks: int, states: int, seed: int,
                        measures: Sequence[str] | None, baseline: str):
    cfg, params = trained.config, trained.params
    data = test_rollouts(params, cfg, tasks=tasks, seed=seed)
    x = _states(data, states=states, seed=seed)
    states = x.shape[1]
    names = adapt_names_for(params, cfg.algorithm)
    adapted = adapt_all(params, data.train, lr=cfg.inner_lr, adapt_names=names)
    before = model_activations(trained.policy, params, x, layers=POLICY_LAYERS)
    after = _per_task_acts(trained.policy, adapted, x)
    random_acts = None
    if baseline == "random-network":
        from repsim.models.policy import GaussianMLPPolicy

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 104_729)
            net = GaussianMLPPolicy(trained.policy.obs_dim, trained.policy.act_dim,
                                    hidden=cfg.hidden)
        random_acts = model_activations(net, dict(net.named_parameters()), x,
                                        layers=POLICY_LAYERS)
    acc = LayerSimilarity(measures=measures, conv_mode="spatial", baseline=baseline, seed=seed)
    acc.add(before, after, first_task=0, random_acts=random_acts)
    message = acc.refused_everything()
    if message:
        raise ValueError(message)
    common = {C.INPUTS: "states", C.TASKS: tasks, C.ALGORITHM: cfg.algorithm,
              C.STEP: trained.step, C.CHECKPOINT: str(trained.path) if trained.path else None}
    manifest = {
        "kind": "compare-adaptation", "env": cfg.env, "scale": cfg.scale,
        "conditions": ["θ (before the inner loop)", "θ' (after the inner loop)"],
        "checkpoint": common[C.CHECKPOINT], "step": trained.step,
        "model": f"{cfg.env} {cfg.algorithm} policy", "inner_steps": 1,
        "inner_lr": cfg.inner_lr, "adapted_layers": sorted({n.split(".")[0] for n in names}),
        "inputs_description": STATES_NOTE.format(n=states, seed=seed), "states": states,
        "test_seed": seed, "notes": [ANIL_NOTE] if cfg.algorithm == "anil" else [],
        **acc.manifest(),
    }
    return acc.records(common), manifest


def _frame(rows, manifest) -> pd.DataFrame:
    return tidy_frame(rows, manifest, (*C.COMPARE_COLUMNS, C.MODEL_A, C.MODEL_B, "note"))


def compare_policy(checkpoint: str | Path | RLTrained, *, tasks: int = 20,
                   states: int | None = None,
                   seed: int = 0, measures: Sequence[str] | None = None,
                   baseline: str = "shuffle") -> pd.DataFrame:
    """Similarity of ``fc1``, ``fc2``, ``head`` under θ vs θ' (one inner step) per test task.

    Returns the classification compare table (``layer, measure, mean, ci95, baseline, …``) with
    ``inputs = "states"``; ``df.attrs["manifest"]`` says which states and why each measure.
    500 states per task keep the CCA family meaningful on the 100-unit layers (n ≥ 2d + 1).
    """
    trained = _load(checkpoint)
    rows, manifest = _adaptation_records(trained, tasks=tasks, states=states, seed=seed,
                                         measures=measures, baseline=baseline)
    return _frame(rows, {**run_manifest(config=rl_config_to_dict(trained.config), seed=seed),
                         **manifest})


def compare_policy_run(run_dir: str | Path, *, every: int = 1, **options: Any) -> pd.DataFrame:
    """:func:`compare_policy` for every ``every``-th checkpoint of a run (``step`` column)."""
    found = checkpoint_paths(run_dir)
    if not found:
        raise ValueError(f"{run_dir} holds no checkpoints (expected checkpoints/step_*.pt)")
    chosen = found[::every] if found[::every][-1] == found[-1] else [*found[::every], found[-1]]
    rows, manifest = [], {}
    for _, path in chosen:
        trained = _load(path)
        r, manifest = _adaptation_records(
            trained, tasks=options.get("tasks", 20), states=options.get("states"),
            seed=options.get("seed", 0), measures=options.get("measures"),
            baseline=options.get("baseline", "shuffle"))
        rows += r
    manifest.update(kind="compare-run", run_dir=str(run_dir), checkpoint=None, step=None,
                    checkpoints=[str(p) for _, p in chosen])
    return _frame(rows, {**run_manifest(seed=options.get("seed", 0)), **manifest})


def compare_policy_models(model_a, model_b, *, state: str = "before", tasks: int = 20,
                          states: int | None = None, seed: int = 0,
                          measures: Sequence[str] | None = None,
                          baseline: str = "shuffle") -> pd.DataFrame:
    """Two policies' layers on the same states (from model A's adapted rollouts).

    ``state="before"`` compares θ_A with θ_B; ``"after"`` θ'_A with θ'_B, each adapted on its
    own pre-adaptation rollouts of the same test tasks.
    """
    a, b = _load(model_a), _load(model_b)
    if a.config.env != b.config.env or a.config.hidden != b.config.hidden:
        raise ValueError(f"cannot compare a {a.config.env} policy with a {b.config.env} policy "
                         "(they need the same environment and layer sizes)")
    if state not in ("before", "after"):
        raise ValueError(f"state must be 'before' (θ) or 'after' (θ'); got {state!r}")
    data_a = test_rollouts(a.params, a.config, tasks=tasks, seed=seed)
    x = _states(data_a, states=states, seed=seed)
    states = x.shape[1]

    def acts(t: RLTrained, data) -> dict[str, Tensor]:
        if state == "before":
            return model_activations(t.policy, t.params, x, layers=POLICY_LAYERS)
        names = adapt_names_for(t.params, t.config.algorithm)
        adapted = adapt_all(t.params, data.train, lr=t.config.inner_lr, adapt_names=names)
        return _per_task_acts(t.policy, adapted, x)

    data_b = data_a if state == "before" else test_rollouts(b.params, b.config, tasks=tasks,
                                                            seed=seed)
    acc = LayerSimilarity(measures=measures, conv_mode="spatial", baseline=baseline, seed=seed)
    acc.add(acts(a, data_a), acts(b, data_b), first_task=0)
    common = {C.INPUTS: "states", C.TASKS: tasks,
              C.ALGORITHM: f"{a.config.algorithm} vs {b.config.algorithm}", C.STEP: a.step,
              C.CHECKPOINT: str(a.path), C.MODEL_A: str(a.path), C.MODEL_B: str(b.path)}
    manifest = {**run_manifest(config=rl_config_to_dict(a.config), seed=seed),
                "kind": "compare-models", "state": state, "env": a.config.env,
                "inputs_description": STATES_NOTE.format(n=states, seed=seed)
                + " (model A's adapted policy)", "notes": [], **acc.manifest()}
    return _frame(acc.records(common), manifest)


def ablate_policy(checkpoint: str | Path | RLTrained, *, tasks: int = 40,
                  seed: int = 0) -> pd.DataFrame:
    """Return after adaptation with nothing, ``fc1``, and ``fc1, fc2`` frozen in the inner loop.

    For ANIL every row equals the first by construction (its inner loop never moves the body),
    so only that row is computed; the manifest says so.
    """
    trained = _load(checkpoint)
    cfg = trained.config
    plans = [()] if cfg.algorithm == "anil" else [(), ("fc1",), ("fc1", "fc2")]
    rows = []
    for frozen in plans:
        res = evaluate_policy(trained.params, cfg, tasks=tasks, seed=seed, frozen=frozen,
                              step=trained.step).to_dict()
        label = ",".join(frozen) or "none"
        if frozen == ("fc1", "fc2"):
            label += " (head only)"
        if cfg.algorithm == "anil":
            label = "none (head only: ANIL)"
        rows.append({"label": label, C.FROZEN: list(frozen), C.HEAD: "adapted",
                     "return": res["return_after"], C.CI95: res["ci95_after"],
                     "return_before": res["return_before"], "ci95_before": res["ci95_before"],
                     C.TASKS: tasks, C.ALGORITHM: cfg.algorithm, C.STEP: trained.step,
                     C.CHECKPOINT: str(trained.path) if trained.path else None,
                     "test_seed": seed})
    manifest = {**run_manifest(config=rl_config_to_dict(cfg), seed=seed), "kind": "ablate",
                "env": cfg.env, "metric": "return after one inner step (undiscounted)",
                "notes": ["ANIL's inner loop adapts only the head: freezing fc1/fc2 changes "
                          "nothing, so only one row is computed"] if cfg.algorithm == "anil"
                else []}
    return tidy_frame(rows, manifest, ("label", C.FROZEN, C.HEAD, "return", C.CI95))


