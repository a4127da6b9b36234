"""Retrieval and bitext mining on constructed cases whose answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtreme_harness.mining import (apply_threshold, best_threshold, knn, margin_scores, mine_candidates,
                                   normalize, tatoeba_accuracy_both, tatoeba_predict)


def unit_vectors_with_gram(gram: list[list[float]]) -> np.ndarray:
    """Rows whose pairwise cosines are exactly the hand-chosen table (up to float32)."""
    return np.linalg.cholesky(np.array(gram, dtype=np.float64)).astype(np.float32)


# --- search -----------------------------------------------------------------------------

def test_normalize_copies_and_keeps_zero_rows():
    x = np.array([[3, 4], [0, 0]], dtype=np.float64)
    out = normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0]], rtol=1e-6)
    assert x[0, 0] == 3  # input untouched


def test_knn_matches_brute_force_and_clamps_k():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 16)), rng.standard_normal((3, 16))
    sims, idx = knn(x, y, 4)
    assert sims.shape == idx.shape == (50, 3)
    full = x.astype(np.float32) @ y.astype(np.float32).T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1))
    np.testing.assert_allclose(sims, -np.sort(-full, axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_size,y_chunk_size", [(7, None), (1000, 13), (7, 50), (1, 1)])
def test_chunked_knn_equals_unchunked(chunk_size, y_chunk_size):
    rng = np.random.default_rng(1)
    x, y = normalize(rng.standard_normal((120, 24))), normalize(rng.standard_normal((90, 24)))
    ref_s, ref_i = knn(x, y, 4)
    s, i = knn(x, y, 4, chunk_size=chunk_size, y_chunk_size=y_chunk_size)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(nx=st.integers(1, 30), ny=st.integers(1, 30), k=st.integers(1, 6), chunk=st.integers(1, 9),
       ychunk=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_knn_chunking_property(nx, ny, k, chunk, ychunk, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((nx, 8)), rng.standard_normal((ny, 8))
    ref_s, ref_i = knn(x, y, k)
    s, i = knn(x, y, k, chunk_size=chunk, y_chunk_size=ychunk)
    assert i.shape == (nx, min(k, ny))
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-5)
    # same neighbours with the same similarities (order may only differ on exact ties)
    np.testing.assert_allclose(np.take_along_axis(x @ y.T, i, 1), s, rtol=1e-4, atol=1e-4)


def test_knn_rejects_bad_input():
    with pytest.raises(ValueError):
        knn(np.zeros((2, 3)), np.zeros((2, 4)), 1)
    with pytest.raises(ValueError):
        knn(np.zeros((2, 3)), np.zeros((2, 3)), 1, chunk_size=0)


# --- Tatoeba ----------------------------------------------------------------------------

@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_tatoeba_recovers_known_permutation(noise):
    rng = np.random.default_rng(2)
    n = 300
    xx = rng.standard_normal((n, 32)).astype(np.float32)
    gold = rng.permutation(n)  # English line j translates non-English line gold[j]
    en = xx[gold] * rng.uniform(0.5, 3.0, (n, 1)) + noise * rng.standard_normal((n, 32))
    pred = tatoeba_predict(xx, en)
    assert pred.dtype == np.int64 and pred.shape == (n,)
    np.testing.assert_array_equal(pred, gold)
    assert tatoeba_accuracy_both(xx, en, gold) == {"en2xx": 100.0, "xx2en": 100.0, "mean": 100.0}


def test_tatoeba_queries_with_english_as_xtreme_does():
    # XTREME's similarity_search(x_src, y_en): index the non-English side, search it with the English side.
    # Both non-English rows sit nearest to English row 0, while each English row has its own nearest
    # non-English row, so the two directions give different predictions and different accuracies.
    xx = np.array([[1.0, 0.0], [0.8, 0.6]])
    en = np.array([[1.0, 0.0], [0.0, 1.0]])
    gold = [0, 1]  # English line 0 translates xx line 0, English line 1 translates xx line 1
    np.testing.assert_array_equal(tatoeba_predict(xx, en), [0, 1])  # one line per English row: en -> xx
    np.testing.assert_array_equal(tatoeba_predict(en, xx), [0, 0])  # the swapped call gives the other direction
    assert tatoeba_accuracy_both(xx, en, gold) == {"en2xx": 100.0, "xx2en": 50.0, "mean": 75.0}
    # Only the first English lines as queries (--limit): en->xx still searches every non-English row.
    assert tatoeba_accuracy_both(xx, en, [0]) == {"en2xx": 100.0, "xx2en": 100.0, "mean": 100.0}
    with pytest.raises(ValueError):
        tatoeba_accuracy_both(xx, en, [0, 1, 0])
    with pytest.raises(ValueError):
        tatoeba_accuracy_both(xx, en, [0, 2])


# --- BUCC: margin -----------------------------------------------------------------------

# Sources a, b; targets h (a hub, close to both sources) and t. Cosines by hand:
#   a.h = 0.8  a.t = 0.7  b.h = 0.9  b.t = 0.1   (h.t = 0.5, a.b = 0.6 only make the table realisable)
# With k=4 clamped to 2, every side's mean covers both neighbours:
#   mean(a) = (0.8+0.7)/2 = 0.75   mean(b) = (0.9+0.1)/2 = 0.5
#   mean(h) = (0.8+0.9)/2 = 0.85   mean(t) = (0.7+0.1)/2 = 0.4
#   ratio(a,h) = 0.8 / ((0.75+0.85)/2) = 1.0        ratio(a,t) = 0.7 / ((0.75+0.4)/2) = 0.7/0.575
#   ratio(b,h) = 0.9 / ((0.5+0.85)/2)  = 0.9/0.675  ratio(b,t) = 0.1 / ((0.5+0.4)/2)  = 0.1/0.45
# Raw cosine sends a to the hub h; the ratio margin sends it to t.
HUB_GRAM = [[1, .5, .8, .9],
            [.5, 1, .7, .1],
            [.8, .7, 1, .6],
            [.9, .1, .6, 1]]


def hub_case():
    v = unit_vectors_with_gram(HUB_GRAM)
    tgt, src = v[:2], v[2:]  # tgt: h=0, t=1; src: a=0, b=1
    return src, tgt


def test_ratio_margin_by_hand():
    src, tgt = hub_case()
    ms = margin_scores(src, tgt, k=4)
    np.testing.assert_allclose(ms.fwd_mean, [0.75, 0.5], rtol=1e-6)
    np.testing.assert_allclose(ms.bwd_mean, [0.85, 0.4], rtol=1e-6)
    # forward: a's neighbours by cosine are [h, t]; b's are [h, t]
    np.testing.assert_array_equal(ms.fwd_idx, [[0, 1], [0, 1]])
    np.testing.assert_allclose(ms.fwd_scores, [[1.0, 0.7 / 0.575], [0.9 / 0.675, 0.1 / 0.45]], rtol=1e-5)
    # backward: h's neighbours are [b, a]; t's are [a, b]
    np.testing.assert_array_equal(ms.bwd_idx, [[1, 0], [0, 1]])
    np.testing.assert_allclose(ms.bwd_scores, [[0.9 / 0.675, 1.0], [0.7 / 0.575, 0.1 / 0.45]], rtol=1e-5)
    raw = margin_scores(src, tgt, k=4, margin="absolute")
    np.testing.assert_allclose(raw.fwd_scores, [[0.8, 0.7], [0.9, 0.1]], rtol=1e-5)
    dist = margin_scores(src, tgt, k=4, margin="distance")
    np.testing.assert_allclose(dist.fwd_scores[0], [0.8 - 0.8, 0.7 - 0.575], atol=1e-6)


def test_margin_beats_hubness_in_mining():
    src, tgt = hub_case()
    args = (src, tgt, ["a", "b"], ["h", "t"], ["sa", "sb"], ["sh", "st"])
    by_raw = mine_candidates(*args, mode="fwd", margin="absolute")
    assert [(s, t) for _, s, t in by_raw] == [("a", "h"), ("b", "h")]
    by_ratio = mine_candidates(*args, mode="fwd")
    assert [(s, t) for _, s, t in by_ratio] == [("a", "t"), ("b", "h")]
    # max: pooled, best first, one-to-one: (b,h) 1.333 then (a,t) 1.217; (a,h) is blocked
    cands = mine_candidates(*args)
    assert [(s, t) for _, s, t in cands] == [("b", "h"), ("a", "t")]
    np.testing.assert_allclose([c[0] for c in cands], [0.9 / 0.675, 0.7 / 0.575], rtol=1e-5)
    assert all(isinstance(c[0], float) for c in cands)
    # intersect keeps pairs that are each other's best both ways
    inter = mine_candidates(*args, mode="intersect")
    assert [(s, t) for _, s, t in inter] == [("a", "t"), ("b", "h")]


def test_max_mode_drops_non_positive_scores():
    src = np.array([[1.0, 0.0]])
    tgt = np.array([[-1.0, 0.0]])  # cosine -1: ratio margin (-1)/(-1) = 1 > 0 is kept
    assert len(mine_candidates(src, tgt, ["s"], ["t"], ["x"], ["y"])) == 1
    tgt = np.array([[0.0, 1.0]])  # cosine 0: margin 0 is dropped (official `score > 0`)
    assert mine_candidates(src, tgt, ["s"], ["t"], ["x"], ["y"], margin="absolute") == []


# --- BUCC: duplicates -------------------------------------------------------------------

def dup_case():
    rng = np.random.default_rng(3)
    base = normalize(rng.standard_normal((3, 16)))
    # source texts: "hello" twice; the official code mines the last occurrence's vector,
    # so the first copy's vector is noise that must not matter
    src = np.stack([rng.standard_normal(16), base[1], base[0], base[2]])
    tgt = np.stack([base[0], base[1], base[2]])
    return (src, tgt, ["s1", "s2", "s3", "s4"], ["t1", "t2", "t3"],
            ["hello", "world", "hello", "again"], ["bonjour", "monde", "encore"])


def test_duplicates_expand_give_the_pair_to_every_id():
    cands = mine_candidates(*dup_case(), duplicates="expand")
    pairs = {(s, t) for _, s, t in cands}
    assert pairs == {("s1", "t1"), ("s3", "t1"), ("s2", "t2"), ("s4", "t3")}
    scores = {(s, t): sc for sc, s, t in cands}
    assert scores[("s1", "t1")] == scores[("s3", "t1")]


def test_duplicates_dropped_as_official():
    cands = mine_candidates(*dup_case())
    assert {(s, t) for _, s, t in cands} == {("s2", "t2"), ("s4", "t3")}


def test_duplicates_after_stripping_count_as_repeats():
    src, tgt, sids, tids, ssents, tsents = dup_case()
    ssents = ["hello", "world", "x", " again "]
    tsents = ["bonjour", "monde", "again"]
    cands = mine_candidates(src, tgt, sids, tids, ssents, tsents)
    assert ("s4", "t3") in {(s, t) for _, s, t in cands}  # ids are found by stripped text
    tsents = ["monde ", "monde", "encore"]  # two target lines strip to the same text
    cands = mine_candidates(src, tgt, sids, tids, ssents, tsents)
    assert all(t not in ("t1", "t2") for _, _, t in cands)


def test_mine_candidates_checks_lengths():
    with pytest.raises(ValueError):
        mine_candidates(np.zeros((2, 4)), np.zeros((1, 4)), ["a"], ["b"], ["x", "y"], ["z"])
    with pytest.raises(ValueError):
        mine_candidates(np.zeros((1, 4)), np.zeros((1, 4)), ["a"], ["b"], ["x"], ["z"], mode="union")


# --- BUCC: threshold --------------------------------------------------------------------

P = [(f"x{i}", f"e{i}") for i in range(10)]


def test_best_threshold_by_hand():
    cands = [(0.9, *P[1]), (0.8, *P[2]), (0.7, *P[3]), (0.6, *P[4]), (0.5, *P[5])]
    gold = {P[1], P[2], P[4], P[6]}  # P[6] is never proposed
    # rank: 1 -> F1 .4, 2 -> .667, 3 -> .571, 4 -> P=R=.75 F1 .75 (best), 5 -> .667
    th, f1, p, r = best_threshold(cands, gold)
    assert th == pytest.approx(0.55)
    assert (f1, p, r) == pytest.approx((75.0, 75.0, 75.0))
    # gold as official lines, blank lines ignored
    assert best_threshold(cands, ["x1\te1", "x2\te2\n", "x4\te4", "x6\te6", ""]) == (th, f1, p, r)


def test_apply_threshold_is_inclusive():
    cands = [(0.9, *P[1]), (0.6, *P[4]), (0.5, *P[5])]
    assert apply_threshold(cands, 0.6) == [P[1], P[4]]
    assert apply_threshold(cands, np.nextafter(0.6, 1)) == [P[1]]
    assert apply_threshold(cands, 0.0) == [P[1], P[4], P[5]]
    # a pair listed twice keeps its best score
    assert apply_threshold([(0.2, *P[1]), (0.7, *P[1])], 0.5) == [P[1]]


def test_threshold_on_a_tie_reports_the_extracted_figures():
    # best F1 at rank 2 (.8); the next score ties, so the midpoint is 0.7 itself and
    # extraction with >= also takes the non-gold P[3]: reported F1 is 2/3, as bucc_eval reports
    cands = [(0.9, *P[1]), (0.7, *P[2]), (0.7, *P[3])]
    th, f1, p, r = best_threshold(cands, {P[1], P[2], P[9]})
    assert th == 0.7
    assert (f1, p, r) == pytest.approx((200 / 3, 200 / 3, 200 / 3))


def test_threshold_best_at_last_candidate_and_no_gold():
    # the official code indexes past the end here; the last score itself is used
    th, f1, p, r = best_threshold([(0.9, *P[1]), (0.8, *P[2])], {P[2]})
    assert th == 0.8
    assert (f1, p, r) == pytest.approx((200 / 3, 50.0, 100.0))
    assert best_threshold([(0.9, *P[1])], {P[2]}) == (0.0, 0.0, 0.0, 0.0)
    assert best_threshold([], {P[2]}) == (0.0, 0.0, 0.0, 0.0)


def test_dev_threshold_applies_on_test():
    rng = np.random.default_rng(4)

    def split(n, n_pairs, tag):
        y = normalize(rng.standard_normal((n, 32)))
        x = normalize(rng.standard_normal((n, 32)))
        x[:n_pairs] = normalize(y[:n_pairs] + 0.05 * rng.standard_normal((n_pairs, 32)))
        sids = [f"{tag}x{i}" for i in range(n)]
        tids = [f"{tag}e{i}" for i in range(n)]
        gold = set(zip(sids[:n_pairs], tids[:n_pairs]))
        return mine_candidates(x, y, sids, tids, sids, tids), gold

    dev, dev_gold = split(400, 40, "d")
    test, test_gold = split(600, 60, "t")
    th, f1, _, _ = best_threshold(dev, dev_gold)
    assert f1 == 100.0
    pred = apply_threshold(test, th)
    assert set(pred) == test_gold


# --- real BUCC dev data (skipped where ../shared is absent) -----------------------------

def read_bucc(path: Path) -> tuple[list[str], list[str]]:
    ids, sents = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        i, s = line.split("\t", 1)
        ids.append(i)
        sents.append(s)
    return ids, sents


@pytest.mark.shared
def test_real_bucc_dev_random_vs_planted(shared_data):
    root = shared_data / "bucc2018"
    if not (root / "zh-en.dev.gold").exists():
        pytest.skip("BUCC zh-en dev is not available")
    zh_ids, zh = read_bucc(root / "zh-en.dev.zh")
    en_ids, en = read_bucc(root / "zh-en.dev.en")
    gold = {tuple(line.split("\t")) for line in (root / "zh-en.dev.gold").read_text().split("\n") if line.strip()}
    assert len(gold) > 100 and all(a.startswith("zh-") and b.startswith("en-") for a, b in gold)
    assert {a for a, _ in gold} <= set(zh_ids) and {b for _, b in gold} <= set(en_ids)

    rng = np.random.default_rng(5)
    dim = 32

    def per_text(sents, table):
        return np.stack([table.setdefault(s, rng.standard_normal(dim).astype(np.float32)) for s in sents])

    zh_vec, en_vec = per_text(zh, {}), per_text(en, {})
    cands = mine_candidates(zh_vec, en_vec, zh_ids, en_ids, zh, en)
    assert best_threshold(cands, gold)[1] < 5.0

    # plant: each gold English sentence gets its Chinese partner's vector (plus a little noise)
    zh_row = {i: r for r, i in enumerate(zh_ids)}
    en_row = {i: r for r, i in enumerate(en_ids)}
    for a, b in gold:
        en_vec[en_row[b]] = zh_vec[zh_row[a]] + 0.05 * rng.standard_normal(dim)
    cands = mine_candidates(zh_vec, en_vec, zh_ids, en_ids, zh, en)
    th, f1, p, r = best_threshold(cands, gold)
    assert (f1, p, r) == (100.0, 100.0, 100.0)
    assert set(apply_threshold(cands, th)) == gold
