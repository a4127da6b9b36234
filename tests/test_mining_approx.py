"""Approximate margin k-NN (IVF, PCA) with exact re-scoring, checked against exact search."""

from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

from xtreme_harness import mining
from xtreme_harness.formats.examples import RetrievalSet
from xtreme_harness.io.errors import UserError
from xtreme_harness.families import FAMILIES
from xtreme_harness.mining import ApproxParams, approx_knn, knn, margin_scores, mine_candidates, rescore
from xtreme_harness.tasks.registry import registry

APPROX = ("ivf", "pca")
PARAMS = {"ivf": ApproxParams(nprobe=8), "pca": ApproxParams(pca_dim=16)}  # 8 of ~70 lists, 16 of 48 dimensions
RECALL_FLOOR = 0.97  # of the exact k=4 neighbours, each direction, on the clustered vectors below


def clustered(n: int, seed: int, centres: int = 40, dim: int = 48, noise: float = 0.6) -> np.ndarray:
    """Unit vectors around shared random centres, variance falling off as 1/i^2 over the dimensions.

    Structure like sentence embeddings': neighbourhoods, and a spectrum that
    a few leading directions dominate.
    """
    rng = np.random.default_rng(seed)
    scale = (1.0 / (1 + np.arange(dim))).astype(np.float32)
    c = np.random.default_rng(123).standard_normal((centres, dim), dtype=np.float32) * scale
    v = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, dim), dtype=np.float32) * scale
    return mining.normalize(v)


@pytest.fixture(scope="module")
def sides():
    x, y = clustered(2500, 1), clustered(3000, 2)
    y[:250] = mining.normalize(x[:250] + 0.02 * np.random.default_rng(3).standard_normal((250, 48), np.float32))
    return x, y


@pytest.fixture(scope="module")
def exact(sides):
    x, y = sides
    return margin_scores(x, y, normalized=True)


@pytest.fixture(scope="module", params=APPROX)
def approx(request, sides):
    x, y = sides
    return request.param, margin_scores(x, y, normalized=True, search=request.param,
                                        search_params=PARAMS[request.param])


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), truth.tolist())]))


def test_recall_floor_both_directions(exact, approx):
    _, ms = approx
    assert recall(ms.fwd_idx, exact.fwd_idx) >= RECALL_FLOOR
    assert recall(ms.bwd_idx, exact.bwd_idx) >= RECALL_FLOOR


def test_found_neighbours_carry_exact_cosines(sides, approx):
    x, y = sides
    search, _ = approx
    sims, idx = approx_knn(x, y, 4, search, PARAMS[search])
    assert (idx >= 0).all() and (np.diff(sims, axis=1) <= 0).all()
    truth = np.einsum("nd,nkd->nk", x.astype(np.float64), y[idx].astype(np.float64))
    np.testing.assert_allclose(sims, truth, rtol=0, atol=2e-6)


def test_margin_scores_equal_exact_where_neighbourhoods_are_found(exact, approx):
    """A pair's margin depends on both its sentences' k neighbours; where both were all found, it is the exact one."""
    _, ms = approx
    fwd_ok = (np.sort(ms.fwd_idx, 1) == np.sort(exact.fwd_idx, 1)).all(1)
    bwd_ok = (np.sort(ms.bwd_idx, 1) == np.sort(exact.bwd_idx, 1)).all(1)
    assert fwd_ok.mean() >= 0.9 and bwd_ok.mean() >= 0.9
    np.testing.assert_allclose(ms.fwd_mean[fwd_ok], exact.fwd_mean[fwd_ok], rtol=0, atol=2e-6)
    rows = fwd_ok[:, None] & bwd_ok[exact.fwd_idx] & (ms.fwd_idx == exact.fwd_idx).all(1)[:, None]
    assert rows.any()
    np.testing.assert_allclose(ms.fwd_scores[rows], exact.fwd_scores[rows], rtol=1e-5, atol=0)


@pytest.mark.parametrize("search", APPROX)
def test_deterministic_across_runs(sides, search):
    x, y = sides
    params = dataclasses.replace(PARAMS[search], seed=7)
    a = approx_knn(x, y, 4, search, params)
    b = approx_knn(x, y, 4, search, params)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("search", APPROX)
def test_same_result_on_one_and_two_threads(sides, search):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, y = sides
    before = faiss.omp_get_max_threads()
    runs = []
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(n):  # BLAS and OpenMP (FAISS) alike
            runs.append(approx_knn(x, y, 4, search, PARAMS[search]))
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert faiss.omp_get_max_threads() == before


def test_rescore_orders_exactly_and_puts_missing_last():
    y = np.eye(4, dtype=np.float32)
    x = np.array([[0.1, 0.9, 0.9, 0.0]], dtype=np.float32)
    sims, idx = rescore(x, y, np.array([[-1, 0, 2, 1]]), 4)
    assert idx.tolist() == [[1, 2, 0, -1]]  # the tie 0.9/0.9 goes to the lower row
    assert sims[0, :3].tolist() == pytest.approx([0.9, 0.9, 0.1]) and sims[0, 3] == -np.inf


def test_queries_that_find_too_few_fall_back_to_exact():
    """With one list probed, a query whose list holds fewer than k rows is searched exactly."""
    rng = np.random.default_rng(5)
    y = mining.normalize(np.concatenate([np.tile([1.0, 0, 0], (77, 1)) + 0.01 * rng.standard_normal((77, 3)),
                                         [[0.0, 0.0, 1.0]]]))
    x = mining.normalize(np.array([[0.0, 0.1, 1.0], [1.0, 0.0, 0.0]]))
    sims, idx = approx_knn(x, y, 4, "ivf", ApproxParams(nlist=2, nprobe=1))
    ref_s, ref_i = knn(x, y, 4)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(sims, ref_s, atol=2e-6)


@pytest.mark.parametrize("search", APPROX)
def test_mined_pairs_match_exact(sides, search):
    x, y = sides
    sx, sy = [f"x{i}" for i in range(len(x))], [f"y{i}" for i in range(len(y))]
    gold = [(f"x{i}", f"y{i}") for i in range(250)]
    ref = mine_candidates(x, y, sx, sy, sx, sy)
    got = mine_candidates(x, y, sx, sy, sx, sy, search=search, search_params=PARAMS[search])
    ref_pairs = set(mining.apply_threshold(ref, mining.best_threshold(ref, gold)[0]))
    got_pairs = set(mining.apply_threshold(got, mining.best_threshold(got, gold)[0]))
    f1 = 2 * len(ref_pairs & got_pairs) / (len(ref_pairs) + len(got_pairs))
    assert f1 >= 0.98


def test_exact_is_the_default(sides):
    x, y = sides
    from xtreme_harness.options import EvalOptions

    assert EvalOptions().retrieval_search == mining.EXACT == "exact"
    assert mining.SEARCHES[0] == "exact"
    a = margin_scores(x[:300], y[:400])
    b = margin_scores(x[:300], y[:400], search="exact")
    np.testing.assert_array_equal(a.fwd_idx, b.fwd_idx)
    np.testing.assert_array_equal(a.fwd_scores, b.fwd_scores)


@pytest.mark.parametrize("call", [
    lambda x, y: margin_scores(x, y, search="annoy"),
    lambda x, y: mine_candidates(x, y, ["a"] * len(x), ["b"] * len(y), ["a"] * len(x), ["b"] * len(y),
                                 search="IVF"),
    lambda x, y: margin_scores(x, y, search="hnsw"),
    lambda x, y: approx_knn(x, y, 4, "exact"),
    lambda x, y: approx_knn(x, y, 4, "ivf", ApproxParams(nprobe=0)),
])
def test_bad_search_value_is_a_clear_error(sides, call):
    with pytest.raises(ValueError, match="search must be one of exact, ivf, pca|needs search|nprobe"):
        call(sides[0][:20], sides[1][:20])


def test_family_setting_is_checked_and_passed_down(sides):
    fam = FAMILIES["bitext_mining"]
    spec = registry()["bucc2018"]
    from xtreme_harness.options import EvalOptions

    with pytest.raises(UserError, match="--retrieval-search must be exact or ivf or pca, not 'faiss'"):
        EvalOptions.build({"model": "m", "retrieval_search": "faiss"})
    assert "search" not in fam.settings(spec).values  # absent: XTREME's exact search
    x, y = sides
    ids_x, ids_y = [f"x{i}" for i in range(len(x))], [f"y{i}" for i in range(len(y))]

    class Fixed:  # an encoder whose embeddings are the fitted vectors
        def describe(self):
            return {}

        def encode(self, texts, max_length, desc=""):
            return x if texts[0].startswith("x") else y

    rset = RetrievalSet(lang="zh", source=ids_x, target=ids_y, source_ids=ids_x, target_ids=ids_y,
                        gold_pairs=[(f"x{i}", f"y{i}") for i in range(250)],
                        split=spec.retrieval.get("threshold_split", "dev"))
    out = {}
    for search in ("exact", "ivf"):
        pred = fam.predict(spec, rset, fam.settings(spec, {"search": search}), Fixed(), "zh")
        out[search] = (set(pred.output), pred.stats)
    assert "search" not in out["exact"][1] and out["ivf"][1]["search"] == "ivf"
    assert len(out["exact"][0] ^ out["ivf"][0]) <= 0.02 * len(out["exact"][0])
