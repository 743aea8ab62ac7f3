"""EpisodeSampler / ClassPool / Episode: every sampled image is traced back to its source."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from repsim.data import ClassPool, Episode, EpisodeSampler
from repsim.data._common import split_hash

N_BASE, N_PER, SIDE = 7, 6, 5
ROT = (0, 1, 2, 3)


def make_pool(
    *, rotations: tuple[int, ...] = ROT, dtype: torch.dtype = torch.uint8, seed: int = 0
) -> ClassPool:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(N_BASE, N_PER, 1, SIDE, SIDE), dtype=np.uint8)
    images = torch.from_numpy(raw)
    if dtype == torch.float32:
        images = images.float() / 255
    names = tuple(f"class{i}" for i in range(N_BASE))
    return ClassPool(images, rotations, "toy", "train", split_hash("toy", names, rotations), names)


def lookup_table(pool: ClassPool) -> dict[bytes, tuple[int, int, int]]:
    """uint8 image bytes -> (base, drawing, quarter turns), built with numpy's rot90."""
    raw = pool.images.numpy()
    table = {}
    for b in range(pool.n_base_classes):
        for d in range(pool.n_per_class):
            for k in pool.rotations:
                img = np.ascontiguousarray(np.rot90(raw[b, d], k, axes=(-2, -1)))
                table[img.tobytes()] = (b, d, k)
    return table


def trace(table: dict, x: torch.Tensor) -> list[tuple[int, int, int]]:
    """Source (base, drawing, turns) of every float image in x of shape (N, C, H, W)."""
    as_u8 = np.rint(x.numpy() * 255).astype(np.uint8)
    np.testing.assert_allclose(as_u8 / np.float32(255), x.numpy(), rtol=1e-6, atol=0)
    return [table[np.ascontiguousarray(img).tobytes()] for img in as_u8]


def assert_same(a: Episode, b: Episode) -> None:
    for name in ("support_x", "support_y", "query_x", "query_y"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_task_is_a_pure_function_of_seed_and_index() -> None:
    """A fresh sampler reproduces task i; batch(start, n).task(t) is task start + t."""
    pool = make_pool()
    a = EpisodeSampler(pool, ways=5, shots=2, query=3, seed=7)
    b = EpisodeSampler(pool, ways=5, shots=2, query=3, seed=7)
    a.batch(0, 10)  # consuming other tasks first changes nothing (no shared generator state)
    assert_same(a.sample(4), b.sample(4))
    batch = b.batch(3, 4)
    for t in range(4):
        assert_same(batch.task(t), a.sample(3 + t))
    assert not torch.equal(a.sample(4).support_x, a.sample(5).support_x)
    c = EpisodeSampler(pool, ways=5, shots=2, query=3, seed=8)
    assert not torch.equal(a.sample(4).support_x, c.sample(4).support_x)


@pytest.mark.parametrize(("ways", "shots", "query"), [(5, 1, 1), (3, 2, 4), (28, 1, 5)])
def test_layout_labels_and_sources(ways: int, shots: int, query: int) -> None:
    """Label j = classes(i)[j] (right base and rotation); distinct classes; no image reused."""
    pool = make_pool()
    table = lookup_table(pool)
    sampler = EpisodeSampler(pool, ways=ways, shots=shots, query=query, seed=3)
    ep = sampler.batch(0, 6)
    assert ep.support_x.shape == (6, ways * shots, 1, SIDE, SIDE)
    assert ep.query_x.shape == (6, ways * query, 1, SIDE, SIDE)
    assert ep.support_x.dtype == torch.float32 and ep.support_y.dtype == torch.int64
    expect_s = torch.arange(ways).repeat_interleave(shots)
    expect_q = torch.arange(ways).repeat_interleave(query)
    for t in range(6):
        task = ep.task(t)
        assert torch.equal(task.support_y, expect_s) and torch.equal(task.query_y, expect_q)
        classes = sampler.classes(t)
        assert len(set(classes.tolist())) == ways
        src_s = trace(table, task.support_x)
        src_q = trace(table, task.query_x)
        for j, c in enumerate(classes.tolist()):
            base, turns = divmod(c, len(ROT))[0], ROT[c % len(ROT)]
            mine = src_s[j * shots : (j + 1) * shots] + src_q[j * query : (j + 1) * query]
            assert {(b, k) for b, _, k in mine} == {(base, turns)}
            assert len({d for _, d, _ in mine}) == shots + query  # support and query distinct


def test_classes_and_label_slots_are_uniform() -> None:
    """Over 3000 tasks every class shows up about equally often, in every label slot."""
    pool = make_pool()  # 28 classes
    sampler = EpisodeSampler(pool, ways=5, shots=1, query=1, seed=0)
    picks = np.stack([sampler.classes(i) for i in range(3000)])  # (3000, 5)
    counts = np.bincount(picks.ravel(), minlength=28)
    expected = 3000 * 5 / 28
    assert np.all(np.abs(counts - expected) < 0.15 * expected), counts
    first = np.bincount(picks[:, 0], minlength=28)
    assert np.all(np.abs(first - 3000 / 28) < 0.35 * 3000 / 28), first


def test_uint8_scaled_and_float_pools_passed_through() -> None:
    """uint8 pools are scaled to [0, 1] (within 1 ulp of x / 255); float pools pass unscaled."""
    u8 = EpisodeSampler(make_pool(), ways=4, shots=2, query=2, seed=1).sample(0)
    f32 = EpisodeSampler(make_pool(dtype=torch.float32), ways=4, shots=2, query=2, seed=1).sample(0)
    torch.testing.assert_close(u8.support_x, f32.support_x, rtol=0, atol=1e-7)
    assert 0.0 <= float(u8.query_x.min()) and float(u8.query_x.max()) <= 1.0


def test_unrotated_pool_never_rotates() -> None:
    pool = make_pool(rotations=(0,))
    table = lookup_table(pool)
    ep = EpisodeSampler(pool, ways=7, shots=3, query=3, seed=0).sample(0)
    assert {k for _, _, k in trace(table, ep.support_x)} == {0}


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(ways=29, shots=1, query=1), ValueError, r"ways=29 but the split has only 28 classes"),
        (dict(ways=5, shots=4, query=3), ValueError, r"shots \+ query = 4 \+ 3 = 7 .* only 6"),
        (dict(ways=0, shots=1, query=1), ValueError, r"ways must be >= 1, got 0"),
        (dict(ways=5, shots=1, query=0), ValueError, r"query must be >= 1"),
        (dict(ways=5, shots=1, query=1, seed=-1), ValueError, r"seed must be >= 0"),
        (dict(ways=5.0, shots=1, query=1), TypeError, r"ways must be an int, got float"),
        (dict(ways=True, shots=1, query=1), TypeError, r"ways must be an int, got bool"),
    ],
)
def test_sampler_rejects_impossible_tasks(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        EpisodeSampler(make_pool(), **kwargs)


def test_batch_rejects_bad_ranges() -> None:
    sampler = EpisodeSampler(make_pool(), ways=2, shots=1, query=1)
    with pytest.raises(ValueError, match=r"n must be >= 1"):
        sampler.batch(0, 0)
    with pytest.raises(ValueError, match=r"start must be >= 0"):
        sampler.batch(-1, 2)


@pytest.mark.parametrize(
    ("images", "rotations", "names", "match"),
    [
        (torch.zeros(2, 3, 1, 4, 4, dtype=torch.uint8), (0, 4), 2, r"rotations must be distinct"),
        (torch.zeros(2, 3, 1, 4, 4, dtype=torch.uint8), (0, 0), 2, r"rotations must be distinct"),
        (torch.zeros(2, 3, 1, 4, 5, dtype=torch.uint8), (0, 1), 2, r"need square images, got 4x5"),
        (torch.zeros(2, 3, 1, 4, 4, dtype=torch.float64), (0,), 2, r"uint8 .* or float32"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), (0,), 2, r"must be a 5-D tensor"),
        (torch.zeros(2, 3, 1, 4, 4, dtype=torch.uint8), (0,), 3, r"3 class_names for 2 base"),
    ],
)
def test_pool_validation(images: torch.Tensor, rotations: tuple, names: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClassPool(images, rotations, "toy", "train", "", tuple(map(str, range(names))))


def test_pool_properties_and_naming() -> None:
    pool = make_pool()
    assert (pool.n_base_classes, pool.n_classes, pool.n_per_class) == (7, 28, 6)
    assert pool.image_shape == (1, SIDE, SIDE)
    assert pool.class_name(0) == "class0@0" and pool.class_name(4 * 3 + 2) == "class3@180"
    assert make_pool(rotations=(0,)).class_name(3) == "class3"


def test_split_hash_depends_on_the_set_of_classes_and_rotations_only() -> None:
    names = ["b", "a", "c"]
    h = split_hash("omniglot", names, (0, 1, 2, 3))
    assert h == split_hash("omniglot", sorted(names), (0, 1, 2, 3))
    assert h != split_hash("omniglot", names, (0,))
    assert h != split_hash("omniglot", ["a", "b", "d"], (0, 1, 2, 3))
    assert h != split_hash("miniimagenet", names, (0, 1, 2, 3))
    assert len(h) == 64 and int(h, 16) >= 0


def test_episode_helpers() -> None:
    sampler = EpisodeSampler(make_pool(), ways=3, shots=1, query=2)
    batch, single = sampler.batch(0, 4), sampler.sample(0)
    assert batch.is_batched and batch.n_tasks == 4
    assert not single.is_batched and single.n_tasks == 1
    assert_same(single.to("cpu"), single)
    with pytest.raises(ValueError, match="single task"):
        single.task(0)


def test_batch_is_fast_enough_for_every_training_step() -> None:
    """Issue #3: 32 tasks of Omniglot 5-way 1+1 well under 10 ms (best of 7, 1 thread)."""
    images = torch.randint(0, 256, (1100, 20, 1, 28, 28), dtype=torch.uint8)
    pool = ClassPool(images, ROT, "omniglot", "train", "", tuple(map(str, range(1100))))
    sampler = EpisodeSampler(pool, ways=5, shots=1, query=1, seed=0)
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        sampler.batch(32 * i, 32)
        times.append(time.perf_counter() - t0)
    assert min(times) < 0.010, times


@pytest.mark.gpu
def test_gpu_pool_samples_the_same_tasks() -> None:
    """A pool moved to CUDA gives bit-identical episodes on the device."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    pool = make_pool()
    cpu = EpisodeSampler(pool, ways=5, shots=2, query=3, seed=5).batch(10, 8)
    gpu = EpisodeSampler(pool.to("cuda"), ways=5, shots=2, query=3, seed=5).batch(10, 8)
    assert gpu.support_x.is_cuda and gpu.query_y.is_cuda
    assert_same(gpu.to("cpu"), cpu)
