"""The study queue's order (analysis/omniglot_study.py): the cheap questions at seed 0 first,
and each costly question at every seed before the next one starts."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

from repsim.study_runs import with_seed

SCRIPT = Path(__file__).resolve().parents[1] / "analysis" / "omniglot_study.py"


def _study():
    spec = importlib.util.spec_from_file_location("omniglot_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runs(study):
    groups = {"seeds", "regimes", "interpolation", "shots", "conv4"}
    grid = study.grid(groups, long_steps=10, short_steps=10)
    return sorted((with_seed(r, s) for s in (0, 1, 2) for r in grid), key=study.priority)


def _queue(study) -> list[tuple[str, int]]:
    return [(r.name, r.config.seed) for r in _runs(study)]


def test_headline_seeds_then_every_cheap_question_at_seed_0_come_first():
    study = _study()
    runs = _runs(study)
    queue = [(r.name, r.config.seed) for r in runs]
    assert len(queue) == len(set(queue))
    headline = [i for i, r in enumerate(runs) if "seeds" in r.groups]
    assert headline == list(range(len(headline)))  # MAML and ANIL 5w1s, every seed
    others = runs[len(headline):]
    first_seed_1 = next(i for i, r in enumerate(others) if r.config.seed == 1)
    cheap_seed_0 = [i for i, r in enumerate(others)
                    if r.config.seed == 0 and not any(p in r.name for p in study.COSTLY)]
    assert max(cheap_seed_0) < first_seed_1


def test_costly_questions_finish_all_seeds_before_the_next_starts():
    study = _study()
    queue = _queue(study)

    def positions(part):
        return [i for i, (name, seed) in enumerate(queue)
                if part in name and not (part == "maml-20w1s" and seed == 0)]

    spans = [positions(part) for (part,) in study.QUESTIONS]
    assert all(len(span) for span in spans)
    for earlier, later in itertools.pairwise(spans):
        assert max(earlier) < min(later)
    # MAML 20w5s (a GPU run) is the very last question
    tail = [name for name, _ in queue[-3:]]
    assert tail == ["maml-20w5s-short"] * 3
