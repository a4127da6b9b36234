"""Nearest-neighbour retrieval for Tatoeba and margin-based bitext mining for BUCC.

Tatoeba is scored in XTREME's direction: English queries retrieve
non-English sentences (``third_party/evaluate_retrieval.py``).

Pure numpy/FAISS: embeddings in, indices and scored pairs out. The BUCC path
reproduces XTREME's ``third_party/utils_retrieve.py`` (``mine_bitext`` with
its defaults, then ``bucc_eval``): ratio margin over k=4 neighbours in both
directions, ``max`` retrieval with a one-to-one greedy pass, candidates kept
when their score is > 0, duplicate sentences dropped from the id maps, the
threshold chosen on dev to maximise F1 and applied on test with ``>=``.

Search is exact (``IndexFlatIP``) and runs over bounded chunks of queries, so
memory grows with n * k, never n * n; a FAISS GPU index is used when FAISS
was built with GPU support and sees a GPU.

On a CPU, exact search of a full BUCC test pair (about 400k sentences a side)
takes over an hour, so the margin k-NN can opt into an approximate search
(``search="ivf"`` or ``"pca"``, see :func:`approx_knn`). It retrieves a larger
candidate set and re-scores it exactly, so every neighbour it returns carries
its exact cosine; what it can get wrong is a missed neighbour, never a score.
On sentence embeddings ``pca`` misses far fewer than ``ivf`` (BENCHMARKS.md).
Exact search stays the default, and the official protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence


class _Lazy:
    """A module imported on first use: a command that never mines (``--help``, most tasks) does not pay for
    loading FAISS or numpy because its options name the searches declared here."""

    def __init__(self, name: str, alias: str):
        self._name, self._alias = name, alias

    def __getattr__(self, attr):
        import importlib

        module = importlib.import_module(self._name)
        globals()[self._alias] = module
        return getattr(module, attr)


faiss = _Lazy("faiss", "faiss")
np = _Lazy("numpy", "np")

DEFAULT_CHUNK_SIZE = 16384  # queries per FAISS search call
MARGINS = ("ratio", "distance", "absolute")
MODES = ("max", "fwd", "bwd", "intersect")
DUPLICATES = ("drop", "expand")
EXACT = "exact"  # XTREME's search, the default
SEARCHES = (EXACT, "ivf", "pca")  # how the margin k-NN is searched; "exact" is the official protocol


# --- search -----------------------------------------------------------------------------

def normalize(x: np.ndarray) -> np.ndarray:
    """Float32 copy with unit-length rows; all-zero rows stay zero (as ``faiss.normalize_L2``)."""
    out = np.array(x, dtype=np.float32, order="C", copy=True, ndmin=2)
    if out.size:
        faiss.normalize_L2(out)
    return out


def gpu_available() -> bool:
    """True when this FAISS build has GPU support and at least one GPU is visible."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _flat_ip(dim: int, use_gpu: bool):
    index = faiss.IndexFlatIP(dim)
    return faiss.index_cpu_to_all_gpus(index) if use_gpu else index


def knn(x: np.ndarray, y: np.ndarray, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
        y_chunk_size: int | None = None, use_gpu: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of each row of ``x`` among the rows of ``y``.

    Returns ``(sims, idx)``, float32 and int64 of shape ``(len(x), min(k, len(y)))``,
    best first. ``x`` is searched ``chunk_size`` rows at a time; ``y_chunk_size``
    also splits the database (each block is indexed alone and the per-block
    top-k are merged), which bounds GPU memory the way the official
    ``knnGPU`` does. Inputs are used as given: normalise them for cosine.
    """
    if chunk_size < 1 or (y_chunk_size is not None and y_chunk_size < 1):
        raise ValueError("chunk sizes must be positive")
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected two 2-d arrays with the same width, got {x.shape} and {y.shape}")
    if use_gpu is None:
        use_gpu = gpu_available()
    elif use_gpu and not gpu_available():
        raise ValueError("use_gpu=True but FAISS has no GPU support or sees no GPU")
    nx, ny = len(x), len(y)
    k = max(0, min(int(k), ny))
    sims = np.full((nx, k), -np.inf, dtype=np.float32)
    idx = np.full((nx, k), -1, dtype=np.int64)
    if nx == 0 or k == 0:
        return sims, idx
    yb = ny if y_chunk_size is None else y_chunk_size
    single_block = yb >= ny
    for y0 in range(0, ny, yb):
        y1 = min(ny, y0 + yb)
        index = _flat_ip(x.shape[1], use_gpu)
        index.add(_f32(y[y0:y1]))
        kb = min(k, y1 - y0)
        for x0 in range(0, nx, chunk_size):
            x1 = min(nx, x0 + chunk_size)
            s, i = index.search(_f32(x[x0:x1]), kb)
            i += y0
            if single_block:
                sims[x0:x1], idx[x0:x1] = s, i
                continue
            # merge with the best so far; stable order keeps the lower index first on ties
            cs = np.concatenate([sims[x0:x1], s], axis=1)
            ci = np.concatenate([idx[x0:x1], i], axis=1)
            order = np.argsort(-cs, axis=1, kind="stable")[:, :k]
            sims[x0:x1] = np.take_along_axis(cs, order, 1)
            idx[x0:x1] = np.take_along_axis(ci, order, 1)
        del index
    return sims, idx


# --- approximate search -----------------------------------------------------------------

MIN_POINTS_PER_LIST = 39  # FAISS warns when k-means gets fewer training points per centroid
RESCORE_BYTES = 64 * 2**20  # gathered candidate vectors held at once while re-scoring


@dataclass(frozen=True)
class ApproxParams:
    """Knobs of the approximate searches; the defaults are the ones measured in BENCHMARKS.md.

    ``candidates``: each query retrieves ``candidates * k`` neighbours, which
    are re-scored exactly and cut to the best ``k``. ``ivf``: ``nlist`` lists
    (None: ``4 * sqrt(n)``), ``nprobe`` of them scanned per query, k-means on
    ``train_points`` sampled rows per list for ``niter`` iterations. ``pca``:
    candidates found exactly in the ``pca_dim`` leading directions, fitted on
    ``pca_sample`` rows of each side. ``seed`` fixes every sample and the
    k-means start.
    """

    candidates: int = 4
    nlist: int | None = None
    nprobe: int = 64
    train_points: int = 64
    niter: int = 10
    pca_dim: int = 128
    pca_sample: int = 20000
    seed: int = 0

    def __post_init__(self):
        for name in ("candidates", "nprobe", "train_points", "niter", "pca_dim", "pca_sample"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.nlist is not None and self.nlist < 1:
            raise ValueError(f"nlist must be at least 1, got {self.nlist}")


def check_search(search: str) -> str:
    """``search`` if it names a search method, else a ValueError listing them."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}; got {search!r}")
    return search


def ivf_lists(n: int, nlist: int | None = None) -> int:
    """``4 * sqrt(n)`` lists (or ``nlist``), fewer where k-means would get under 39 points per list."""
    want = int(round(4 * math.sqrt(n))) if nlist is None else int(nlist)
    return max(1, min(want, n // MIN_POINTS_PER_LIST))


def _ivf_candidates(x: np.ndarray, y: np.ndarray, kc: int, p: ApproxParams, chunk_size: int) -> np.ndarray:
    """``IndexIVFFlat`` (inner product) over ``y``: spherical k-means on a seeded sample, ``nprobe`` lists a query."""
    d = y.shape[1]
    nlist = ivf_lists(len(y), p.nlist)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed, index.cp.niter, index.cp.spherical = p.seed, p.niter, True
    index.cp.max_points_per_centroid = p.train_points  # FAISS samples this many rows per list
    index.train(y)
    index.add(y)
    index.nprobe = min(p.nprobe, nlist)
    return np.concatenate([index.search(x[a:a + chunk_size], kc)[1] for a in range(0, len(x), chunk_size)])


def pca_basis(x: np.ndarray, y: np.ndarray, dim: int, sample: int, seed: int) -> np.ndarray:
    """The ``dim`` leading directions of the rows' second moment (not centred), from seeded samples of both sides.

    Not centred on purpose: removing the mean changes which row has the
    larger inner product with a query, and sentence embeddings share a large
    mean direction. Float64, so that the basis does not depend on BLAS
    summation order beyond rounding.
    """
    rng = np.random.default_rng(seed)
    parts = [a[np.sort(rng.choice(len(a), min(sample, len(a)), replace=False))].astype(np.float64) for a in (x, y)]
    moment = sum(s.T @ s for s in parts) / sum(len(s) for s in parts)
    w, v = np.linalg.eigh(moment)
    return np.ascontiguousarray(v[:, np.argsort(-w, kind="stable")[:dim]], dtype=np.float32)


def _pca_candidates(x: np.ndarray, y: np.ndarray, kc: int, p: ApproxParams, chunk_size: int) -> np.ndarray:
    """Exact inner-product top-``kc`` after projecting both sides onto :func:`pca_basis`."""
    basis = pca_basis(x, y, min(p.pca_dim, x.shape[1]), p.pca_sample, p.seed)
    return knn(x @ basis, y @ basis, kc, chunk_size=chunk_size)[1]


def rescore(x: np.ndarray, y: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float32 inner products of each ``x`` row with its candidate ``y`` rows, best ``k`` first.

    ``cand`` holds row numbers of ``y``, -1 for none (they sort last, as -inf).
    Ties go to the lower row number. Whatever produced the candidates, the
    cosines returned are recomputed from the vectors themselves.
    """
    n, c = cand.shape
    sims = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    step = max(1, RESCORE_BYTES // max(1, c * y.shape[1] * 4))
    for a in range(0, n, step):
        b = min(n, a + step)
        ci = cand[a:b]
        valid = ci >= 0
        s = np.matmul(y[np.where(valid, ci, 0)], x[a:b, :, None])[..., 0]
        s[~valid] = -np.inf
        order = np.lexsort((np.where(valid, ci, np.iinfo(np.int64).max), -s), axis=1)[:, :k]
        sims[a:b] = np.take_along_axis(s, order, 1)
        idx[a:b] = np.take_along_axis(ci, order, 1)
    return sims, idx


def approx_knn(x: np.ndarray, y: np.ndarray, k: int, search: str = "ivf", params: ApproxParams | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Approximate inner-product top-k with exact re-scoring; the same shapes and order as :func:`knn`.

    Each query fetches ``candidates * k`` neighbours, from an ``IndexIVFFlat``
    over ``y`` (``ivf``) or from exact search in a few leading directions
    (``pca``); their cosines are recomputed from the full vectors
    (:func:`rescore`) and cut to ``k``. So a neighbour found has its exact
    cosine (to float32 rounding), and one missed is replaced by the next best
    found. A query that finds fewer than ``k`` (an IVF query whose probed
    lists are nearly empty) is searched exactly instead.

    Deterministic: the samples and the k-means start are seeded, and k-means,
    list filling, the basis and every search give the same result on any
    FAISS thread count. Results may still differ across FAISS, numpy or BLAS
    versions and CPU instruction sets.
    """
    if check_search(search) == "exact":
        raise ValueError("approx_knn needs search='ivf' or 'pca'; exact search is knn")
    if chunk_size < 1:
        raise ValueError("chunk sizes must be positive")
    p = params or ApproxParams()
    x, y = _f32(x), _f32(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected two 2-d arrays with the same width, got {x.shape} and {y.shape}")
    nx, ny = len(x), len(y)
    k = max(0, min(int(k), ny))
    if nx == 0 or k == 0:
        return np.full((nx, k), -np.inf, dtype=np.float32), np.full((nx, k), -1, dtype=np.int64)
    kc = min(ny, max(k, p.candidates * k))
    find = _ivf_candidates if search == "ivf" else _pca_candidates
    sims, idx = rescore(x, y, find(x, y, kc, p, chunk_size), k)
    short = np.flatnonzero((idx < 0).any(axis=1))
    if short.size:
        xs = x[short]
        sims[short], idx[short] = rescore(xs, y, knn(xs, y, k, chunk_size=chunk_size)[1], k)
    return sims, idx


def search_knn(x: np.ndarray, y: np.ndarray, k: int, search: str = "exact", params: ApproxParams | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, y_chunk_size: int | None = None):
    """:func:`knn` for ``search="exact"``, else :func:`approx_knn`."""
    if check_search(search) == "exact":
        return knn(x, y, k, chunk_size=chunk_size, y_chunk_size=y_chunk_size)
    return approx_knn(x, y, k, search, params, chunk_size=chunk_size)


# --- Tatoeba ----------------------------------------------------------------------------

def tatoeba_predict(xx_emb: np.ndarray, en_emb: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """For each (sorted) English row, the 0-based index of its nearest non-English row by cosine.

    The direction XTREME scores: ``third_party/evaluate_retrieval.py`` calls
    ``similarity_search(x_src, y_en)``, which indexes the non-English side
    (``idx.add(x)``) and queries it with the English side (``idx.search(y, 1)``),
    so line j of the submission answers line j of the sorted ``<xx>-en.en``.
    It ranks by L2 between unit vectors, the same order as cosine.
    """
    x = normalize(xx_emb)
    if len(x) == 0:
        raise ValueError("no non-English sentences to retrieve from")
    return knn(normalize(en_emb), x, 1, chunk_size=chunk_size)[1][:, 0]


def tatoeba_accuracy_both(xx_emb: np.ndarray, en_emb: np.ndarray, gold: Sequence[int],
                          chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, float]:
    """Accuracy (0-100) both ways: ``en2xx`` (the official figure), ``xx2en`` and their ``mean``.

    ``gold[j]`` is the non-English row that translates English row j, for the
    first ``len(gold)`` English rows (the queries; all of them unless limited).
    en->xx: English row j is right when its nearest non-English row is
    ``gold[j]``. xx->en (secondary): the non-English row ``gold[j]``, searched
    among all English rows, is right when its nearest one is j.
    """
    gold_arr = np.asarray(gold, dtype=np.int64)
    x, y = normalize(xx_emb), normalize(en_emb)
    if len(gold_arr) > len(y):
        raise ValueError(f"{len(gold_arr)} gold indices for {len(y)} English sentences")
    if len(x) == 0 or len(gold_arr) == 0:
        raise ValueError("both sides need at least one sentence")
    if gold_arr.min() < 0 or gold_arr.max() >= len(x):
        raise ValueError(f"gold indices must lie in 0..{len(x) - 1}")
    queries = np.arange(len(gold_arr))
    fwd = knn(y[queries], x, 1, chunk_size=chunk_size)[1][:, 0]
    bwd = knn(x[gold_arr], y, 1, chunk_size=chunk_size)[1][:, 0]
    en2xx = float(np.mean(fwd == gold_arr)) * 100
    xx2en = float(np.mean(bwd == queries)) * 100
    return {"en2xx": en2xx, "xx2en": xx2en, "mean": (en2xx + xx2en) / 2}


# --- BUCC: margin scores ----------------------------------------------------------------

@dataclass
class MarginScores:
    """Margin-scored kNN candidates in both directions.

    ``fwd_idx[i]`` are the k nearest ``y`` rows of ``x`` row i and
    ``fwd_scores[i]`` their margin scores; ``bwd_*`` the same from ``y`` to
    ``x``. ``fwd_mean``/``bwd_mean`` are the mean cosine to the k neighbours,
    the neighbourhood density the margin divides by.
    """

    fwd_scores: np.ndarray
    fwd_idx: np.ndarray
    bwd_scores: np.ndarray
    bwd_idx: np.ndarray
    fwd_mean: np.ndarray
    bwd_mean: np.ndarray


def _apply_margin(sim: np.ndarray, denom: np.ndarray, margin: str) -> np.ndarray:
    if margin == "ratio":
        return sim / denom
    if margin == "distance":
        return sim - denom
    return sim


def margin_scores(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio",
                  chunk_size: int = DEFAULT_CHUNK_SIZE, y_chunk_size: int | None = None,
                  normalized: bool = False, search: str = "exact",
                  search_params: ApproxParams | None = None) -> MarginScores:
    """Margin scores of every forward and backward kNN candidate pair.

    ratio: ``cos(x, y) / ((mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2)``,
    which discounts hubs (rows close to everything). Arithmetic is float32 as in
    the official code and the results are float64; the cosine is the one FAISS
    returns for the pair. ``normalized=True`` skips the (copying) normalisation.
    ``search`` (:data:`SEARCHES`) picks exact or approximate k-NN; with an
    approximate one a pair's score equals the exact one (to float32 rounding)
    whenever both its sentences found all their true k neighbours.
    """
    check_search(search)
    if margin not in MARGINS:
        raise ValueError(f"margin must be one of {MARGINS}, got {margin!r}")
    if k < 1:
        raise ValueError("k must be at least 1")
    if not normalized:
        x, y = normalize(x), normalize(y)
    fwd_sim, fwd_idx = search_knn(x, y, min(k, len(y)), search, search_params, chunk_size, y_chunk_size)
    bwd_sim, bwd_idx = search_knn(y, x, min(k, len(x)), search, search_params, chunk_size, y_chunk_size)
    fwd_mean = fwd_sim.mean(axis=1) if fwd_sim.size else np.zeros(len(x), np.float32)
    bwd_mean = bwd_sim.mean(axis=1) if bwd_sim.size else np.zeros(len(y), np.float32)
    two = np.float32(2)
    fwd = _apply_margin(fwd_sim, (fwd_mean[:, None] + bwd_mean[fwd_idx]) / two, margin)
    bwd = _apply_margin(bwd_sim, (bwd_mean[:, None] + fwd_mean[bwd_idx]) / two, margin)
    return MarginScores(fwd.astype(np.float64), fwd_idx, bwd.astype(np.float64), bwd_idx, fwd_mean, bwd_mean)


# --- BUCC: candidate mining -------------------------------------------------------------

def _unify(sents: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unique sentences (first-seen order) and, for each, the row of its last occurrence.

    The official ``unique_embeddings`` keeps the last occurrence's vector;
    identical sentences should embed identically anyway, but batching can
    perturb them slightly, so the same row is picked.
    """
    first: dict[str, int] = {}
    inds = np.fromiter((first.setdefault(s, len(first)) for s in sents), dtype=np.int64, count=len(sents))
    last = np.full(len(first), -1, dtype=np.int64)
    np.maximum.at(last, inds, np.arange(len(sents), dtype=np.int64))
    return list(first), last


def _normalized_rows(emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit-length float32 copy of the chosen rows, normalised in place to hold one copy only."""
    emb = np.asarray(emb)
    if emb.ndim != 2:
        raise ValueError(f"expected a 2-d embedding array, got shape {emb.shape}")
    out = np.ascontiguousarray(emb[rows], dtype=np.float32)  # fancy indexing: always a new array
    if out.size:
        faiss.normalize_L2(out)
    return out


def _sent_to_ids(sents: Sequence[str], ids: Sequence[str], duplicates: str) -> dict[str, list[str]]:
    """Stripped sentence -> its ids; ``drop`` keeps only sentences that occur once (official)."""
    groups: dict[str, list[str]] = {}
    for s, i in zip(sents, ids):
        groups.setdefault(s.strip(), []).append(i)
    if duplicates == "drop":
        return {s: g for s, g in groups.items() if len(g) == 1}
    return groups


def _check_side(emb: np.ndarray, ids: Sequence[str], sents: Sequence[str], side: str) -> None:
    if not (len(emb) == len(ids) == len(sents)):
        raise ValueError(f"{side}: {len(emb)} embeddings, {len(ids)} ids and {len(sents)} sentences differ in number")


def _select(ms: MarginScores, mode: str) -> list[tuple[float, int, int]]:
    """(score, unique src, unique tgt) in the order the official candidates file lists them."""
    nx, ny = len(ms.fwd_mean), len(ms.bwd_mean)
    out: list[tuple[float, int, int]] = []
    if nx == 0 or ny == 0:
        return out
    fwd_arg = ms.fwd_scores.argmax(axis=1)
    bwd_arg = ms.bwd_scores.argmax(axis=1)
    fwd_best = ms.fwd_idx[np.arange(nx), fwd_arg]
    bwd_best = ms.bwd_idx[np.arange(ny), bwd_arg]
    fwd_max = ms.fwd_scores[np.arange(nx), fwd_arg]
    bwd_max = ms.bwd_scores[np.arange(ny), bwd_arg]
    if mode == "fwd":
        return list(zip(fwd_max.tolist(), range(nx), fwd_best.tolist()))
    if mode == "bwd":
        return list(zip(bwd_max.tolist(), bwd_best.tolist(), range(ny)))
    if mode == "intersect":
        keep = np.flatnonzero(bwd_best[fwd_best] == np.arange(nx))
        return list(zip(fwd_max[keep].tolist(), keep.tolist(), fwd_best[keep].tolist()))
    # max: both directions pooled, best first, each sentence used at most once
    src = np.concatenate([np.arange(nx), bwd_best])
    tgt = np.concatenate([fwd_best, np.arange(ny)])
    scores = np.concatenate([fwd_max, bwd_max])
    order = np.argsort(-scores, kind="stable")
    seen_src = np.zeros(nx, dtype=bool)
    seen_tgt = np.zeros(ny, dtype=bool)
    for s, i, j in zip(scores[order].tolist(), src[order].tolist(), tgt[order].tolist()):
        if seen_src[i] or seen_tgt[j]:
            continue
        seen_src[i] = seen_tgt[j] = True
        if s > 0:  # official threshold=0 with a strict comparison
            out.append((s, i, j))
    return out


def mine_candidates(src_emb: np.ndarray, tgt_emb: np.ndarray, src_ids: Sequence[str], tgt_ids: Sequence[str],
                    src_sents: Sequence[str], tgt_sents: Sequence[str], k: int = 4, mode: str = "max",
                    margin: str = "ratio", duplicates: str = "drop", chunk_size: int = DEFAULT_CHUNK_SIZE,
                    y_chunk_size: int | None = None, search: str = "exact",
                    search_params: ApproxParams | None = None) -> list[tuple[float, str, str]]:
    """Scored candidate pairs ``(score, src_id, tgt_id)`` as ``bucc_eval`` reads them.

    Listed in the official candidates-file order (best first in ``max`` mode),
    which decides tie order in :func:`best_threshold`. Memory: the inputs, one
    unit-length float32 copy of each side and FAISS's copy of the side searched.

    As the official pipeline: identical sentences are mined once (one shared
    embedding); ``max`` pools forward and backward best matches and keeps a
    pair only if neither sentence was taken by a higher-scoring one; pairs
    scoring <= 0 are dropped in ``max`` mode. Sentences are then mapped back
    to ids by their stripped text. ``duplicates='drop'`` is the official
    behaviour: a text that occurs on more than one line has no id, so no pair
    is proposed for it (its gold pairs count as misses).
    ``duplicates='expand'`` instead gives the pair to every id carrying the text.
    A pair reached twice keeps its highest score.

    Ties in score are ordered stably (forward before backward, lower index
    first); the official ``np.argsort`` leaves their order unspecified.
    ``search``/``search_params``: see :func:`margin_scores` (exact by default).
    """
    check_search(search)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
    _check_side(src_emb, src_ids, src_sents, "source")
    _check_side(tgt_emb, tgt_ids, tgt_sents, "target")
    src_u, src_rows = _unify(src_sents)
    tgt_u, tgt_rows = _unify(tgt_sents)
    x = _normalized_rows(src_emb, src_rows)
    y = _normalized_rows(tgt_emb, tgt_rows)
    ms = margin_scores(x, y, k=k, margin=margin, chunk_size=chunk_size, y_chunk_size=y_chunk_size, normalized=True,
                       search=search, search_params=search_params)
    del x, y
    src_map = _sent_to_ids(src_sents, src_ids, duplicates)
    tgt_map = _sent_to_ids(tgt_sents, tgt_ids, duplicates)
    cand: dict[tuple[str, str], float] = {}
    for score, i, j in _select(ms, mode):
        sids = src_map.get(src_u[i].strip())
        tids = tgt_map.get(tgt_u[j].strip())
        if not sids or not tids:
            continue
        for sid in sids:
            for tid in tids:
                key = (sid, tid)
                prev = cand.get(key)
                cand[key] = score if prev is None else max(score, prev)
    return [(score, sid, tid) for (sid, tid), score in cand.items()]


# --- BUCC: threshold --------------------------------------------------------------------

def _pair(item) -> tuple[str, str]:
    if isinstance(item, str):
        a, b = item.strip().split("\t")
        return a, b
    a, b = item
    return str(a), str(b)


def _cand_dict(candidates: Iterable[tuple[float, str, str]]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for score, sid, tid in candidates:
        key = (sid, tid)
        score = float(score)
        prev = out.get(key)
        out[key] = score if prev is None else max(score, prev)
    return out


def apply_threshold(candidates: Iterable[tuple[float, str, str]], threshold: float) -> list[tuple[str, str]]:
    """The pairs ``(src_id, tgt_id)`` whose score is ``>= threshold``, in candidate order."""
    return [key for key, score in _cand_dict(candidates).items() if score >= threshold]


def _prf(pred: list[tuple[str, str]], gold: set[tuple[str, str]]) -> tuple[float, float, float]:
    ncorrect = len(gold.intersection(pred))
    if ncorrect == 0:
        return 0.0, 0.0, 0.0
    p = ncorrect / len(pred)
    r = ncorrect / len(gold)
    return 2 * p * r / (p + r) * 100, p * 100, r * 100


def best_threshold(candidates: Iterable[tuple[float, str, str]],
                   gold_pairs: Iterable) -> tuple[float, float, float, float]:
    """The dev threshold that maximises F1, and ``(f1, precision, recall)`` (0-100) at it.

    As ``bucc_optimize``: walk candidates by descending score (stable), and at
    the first rank reaching the best F1 put the threshold midway between that
    score and the next; 0 when no candidate is gold. The returned figures are
    those of :func:`apply_threshold` at that threshold (``>=``), as ``bucc_eval``
    reports them. Where the best rank is the last candidate the official code
    fails (no next score); the threshold is then that candidate's own score.
    ``gold_pairs``: ``(src_id, tgt_id)`` tuples or ``"src_id\\ttgt_id"`` lines.
    """
    cand = _cand_dict(candidates)
    gold = {_pair(g) for g in gold_pairs if not (isinstance(g, str) and not g.strip())}
    items = sorted(cand.items(), key=lambda kv: -kv[1])
    threshold = 0.0
    best_f1 = 0.0
    ncorrect = 0
    for n, (key, score) in enumerate(items, 1):
        if key in gold:
            ncorrect += 1
        if ncorrect > 0:
            p = ncorrect / n
            r = ncorrect / len(gold)
            f1 = 2 * p * r / (p + r)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[n][1]) / 2 if n < len(items) else score
    f1, p, r = _prf([key for key, score in items if score >= threshold], gold)
    return threshold, f1, p, r
