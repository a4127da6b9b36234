"""How far each English intermediate task's data lies from each target task's data, beside the transfer table.

``xtreme-leaderboard divergence`` embeds a seeded sample of N texts of every
intermediate task and of every (target task, language) with one encoder (a
transformers checkpoint under XTREME's hidden-layer protocol, or a
sentence-transformers folder: the encoders ``xtreme-eval`` uses for
retrieval), and reports two divergences per (intermediate, target, language):

* **cosine distance between mean embeddings**, 1 − cos(μ_I, μ_T): the TextEmb
  task embedding of Vu et al. (2020, "Exploring and Predicting Transferability
  across NLP Tasks", EMNLP), the mean of the encoder's text embeddings over a
  task's data;
* **MMD²**, the unbiased estimate of the squared maximum mean discrepancy
  with the Gaussian (RBF) kernel k(x, y) = exp(−‖x − y‖² / 2σ²), σ the median
  distance between the points of the pooled sample (the median heuristic), as
  in Gretton et al. (2012, "A Kernel Two-Sample Test", JMLR, eq. 3 / Lemma 6):
  MMD²_u = Σ_{i≠j} k(x_i, x_j)/m(m−1) + Σ_{i≠j} k(y_i, y_j)/n(n−1) − 2 Σ_{i,j} k(x_i, y_j)/mn.

With ``--results EVAL_DIR`` (a seed study's results, as the board reads them)
each row gets the transfer delta of that (intermediate, target, language):
the mean over seeds of (run − the same seed's baseline) of the language's
figure (QA: (EM+F1)/2), paired exactly as the board's transfer table pairs
runs (:func:`~.seeds.seed_transfer`); and the table of Spearman rank
correlations between each divergence and the delta, per target task and over
all rows, with the number of rows each uses.

The text of an example, per family: classification pairs, the two sentences
joined by a space; tagging, the tokens joined by spaces; QA, the question then
the context; multiple choice, the context, the question and every choice;
retrieval tasks, each sentence (query) of the language's side.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.errors import UserError
from ..io.messages import listing
from ..io.options import option
from ..options import EvalOptions

SCHEMA = "xtreme-harness/divergence/v1"
FORMATS = ("md", "csv", "latex", "html", "json")
MEASURES = ("cosine_distance", "mmd2")
MEASURE_NAMES = {"cosine_distance": "cosine distance of mean embeddings", "mmd2": "MMD² (RBF, median heuristic)"}
DEFAULT_LENGTH = 128  # sub-tokens per text (--max-length)

# The EvalOptions this command takes: what to embed with, and which target data.
EVAL_FLAGS = ("model", "tasks", "languages", "data_dir", "split", "version", "task_dirs", "batch_size", "device",
              "dtype", "retrieval_layer", "pooling", "max_length", "trust_remote_code", "allow_pickle",
              "embedding_cache", "progress")


@dataclass
class DivergenceOptions:
    """The options of ``xtreme-leaderboard divergence`` beside the encoder's and the targets' (EvalOptions)."""

    intermediate: str = option("", "intermediate task(s), comma-separated; a+b pools the data of tasks trained "
                                   "together", flag="--intermediate")
    intermediate_data_dir: str | None = option(None, "folder the intermediate specs' local paths are relative to "
                                                     "(default: --data-dir)", nullable=True,
                                               flag="--intermediate-data-dir")
    intermediate_source: str = option("auto", "intermediate data from local files, the hub, or local when present",
                                      choices=("auto", "local", "hf"), flag="--intermediate-source")
    intermediate_split: str = option("train", "the intermediate tasks' split to sample", choices=("train", "dev"),
                                     flag="--intermediate-split")
    intermediate_task_dirs: list = option(None, "extra folder of intermediate task YAMLs (repeatable)", kind=list,
                                          default_factory=list, flag="--intermediate-task-dir", metavar="DIR")
    samples: int = option(200, "texts sampled per side (each intermediate task, each target language)", low=2,
                          high=100_000, flag="--samples")
    sample_seed: int = option(0, "seed of the samples", low=0, high=2**32 - 1, flag="--sample-seed")
    results: list = option(None, "results of a seed study (xtreme-eval output folders, searched recursively): the "
                                 "transfer deltas beside the divergences (repeatable)", kind=list,
                           default_factory=list, flag="--results", metavar="EVAL_DIR")
    bandwidth: float | None = option(None, "RBF kernel width σ (default: the median heuristic, per pair of samples)",
                                     low=0, above=True, nullable=True, kind=float, flag="--bandwidth")
    format: str | None = option(None, "output format (default: from --out's extension, else md)", choices=FORMATS,
                                nullable=True, flag="--format")
    out: str | None = option(None, "write here instead of standard output", nullable=True, flag="--out")
    decimals: int = option(4, "decimals shown (JSON and CSV keep full precision)", low=0, high=10,
                           flag="--decimals")


# --- the two divergences and the rank correlation ------------------------------------------------------

def cosine_distance(x: np.ndarray, y: np.ndarray) -> float:
    """1 − cos(mean(x), mean(y)): the distance between the two samples' TextEmb task embeddings."""
    mx, my = np.asarray(x, np.float64).mean(axis=0), np.asarray(y, np.float64).mean(axis=0)
    nx, ny = float(np.linalg.norm(mx)), float(np.linalg.norm(my))
    if nx == 0 or ny == 0:
        raise UserError("a sample's mean embedding is the zero vector; its direction (and cosine) is undefined")
    return float(1.0 - float(mx @ my) / (nx * ny))


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """The median heuristic: the median Euclidean distance between distinct points of the pooled sample."""
    z = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)])
    d = np.sqrt(_sq_distances(z, z)[np.triu_indices(len(z), k=1)])
    sigma = float(np.median(d)) if d.size else 0.0
    if sigma <= 0:
        raise UserError("every sampled text has the same embedding; the median-heuristic bandwidth is 0")
    return sigma


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, sigma: float | None = None) -> tuple[float, float]:
    """(MMD²_u, σ): Gretton et al.'s unbiased estimate with k(a, b) = exp(−‖a − b‖² / 2σ²); σ by the median
    heuristic unless given. Needs at least two points per side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise UserError(f"MMD² needs at least 2 texts per side, got {m} and {n}")
    sigma = median_bandwidth(x, y) if sigma is None else float(sigma)
    gamma = 1.0 / (2.0 * sigma * sigma)
    kxx, kyy, kxy = (np.exp(-gamma * _sq_distances(a, b)) for a, b in ((x, x), (y, y), (x, y)))
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean()), sigma


def _ranks(values: list[float]) -> np.ndarray:
    """Ranks 1..n, ties given their mean rank."""
    v = np.asarray(values, np.float64)
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's ρ: Pearson's correlation of the ranks (ties: mean ranks); None with fewer than 3 points or a
    side without variation."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs pairs")
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    return None if den == 0 else float((rx * ry).sum() / den)


# --- texts and samples --------------------------------------------------------------------------------

def example_texts(examples: Any) -> list[str]:
    """The text of each example as the module docstring says, one string per example (or sentence)."""
    from ..formats.examples import (
        ChoiceExample,
        PairExample,
        QAExample,
        RankingSet,
        RetrievalSet,
        TaggingExample,
    )

    if isinstance(examples, RetrievalSet):
        return list(examples.source)
    if isinstance(examples, RankingSet):
        return list(examples.queries)
    out = []
    for ex in examples:
        if isinstance(ex, PairExample):
            parts = [ex.text_a, ex.text_b]
        elif isinstance(ex, TaggingExample):
            parts = [" ".join(ex.tokens)]
        elif isinstance(ex, QAExample):
            parts = [ex.question, ex.context]
        elif isinstance(ex, ChoiceExample):
            parts = [ex.context, ex.question, *ex.choices]
        else:
            raise UserError(f"no text is defined for examples of type {type(ex).__name__}")
        out.append(" ".join(p.strip() for p in parts if p and p.strip()))
    return out


def sample(texts: list[str], n: int, seed: int, key: str) -> list[int]:
    """Indices of ``n`` of the non-empty ``texts``, drawn without replacement with a generator seeded by
    (seed, key): the same sample on every run, a different one per task and language. All of them when
    there are no more than ``n``."""
    usable = [i for i, t in enumerate(texts) if t.strip()]
    if len(usable) <= n:
        return usable
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    return sorted(usable[i] for i in rng.choice(len(usable), size=n, replace=False))


@dataclass
class Side:
    """One sampled set of texts: an intermediate task (or tasks pooled), or a (target task, language)."""

    key: str
    texts: list[str]
    indices: list[int]
    available: int
    split: str
    embeddings: np.ndarray | None = None


def _intermediate_side(name: str, d: DivergenceOptions, data_dir: str) -> Side:
    from ..tasks.registry import get_intermediate
    from ..tasks.sources import read_intermediate

    texts: list[str] = []
    for part in name.split("+"):
        spec = get_intermediate(part.strip(), d.intermediate_task_dirs)
        loaded = read_intermediate(spec, d.intermediate_split, d.intermediate_data_dir or data_dir,
                                   d.intermediate_source)
        if not loaded.examples:
            raise UserError(f"intermediate task {part} has no {d.intermediate_split} data (sources: "
                            f"{', '.join(s.name for s in spec.sources)}); try --intermediate-split or "
                            "--intermediate-data-dir")
        texts += example_texts(loaded.examples)
    idx = sample(texts, d.samples, d.sample_seed, f"intermediate/{name}/{d.intermediate_split}")
    return Side(name, [texts[i] for i in idx], idx, len(texts), d.intermediate_split)


def _target_side(spec, lang: str, d: DivergenceOptions, e: EvalOptions) -> Side:
    from ..tasks.data import read_split

    texts = example_texts(read_split(spec, e.data_dir, lang, e.split))
    idx = sample(texts, d.samples, d.sample_seed, f"target/{spec.task}/{lang}/{e.split}")
    return Side(f"{spec.task}/{lang}", [texts[i] for i in idx], idx, len(texts), e.split)


def make_encoder(e: EvalOptions):
    """(encoder, what it is): the encoder ``xtreme-eval`` would embed retrieval texts with for ``--model``."""
    from ..producers.sentence_transformers import (
        SentenceTransformersProducer,
        is_sentence_transformers,
    )

    if is_sentence_transformers(e.model):
        enc = SentenceTransformersProducer(e).encoder()
        return enc, {"model": e.model, **enc.describe()}
    from ..producers.native import CheckpointProducer
    from ..tasks.registry import get_task

    producer = CheckpointProducer(e)
    spec = get_task("tatoeba")  # any retrieval task: the suite's encoder/, or the checkpoint's own encoder
    skipped = producer.prepare([spec])
    if spec.task in skipped:
        raise UserError(f"no encoder in {e.model}: {skipped[spec.task]}")
    ck = producer.checkpoint(spec)
    enc = producer.encoder(spec)
    return enc, {"model": e.model, "checkpoint": ck.path, **enc.describe()}


# --- the transfer deltas of a seed study ------------------------------------------------------------------

def language_deltas(results: list[str], resamples: int = 0) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """{(intermediate key, target task): {"task": the board's cell, "languages": {lang: delta}, ...}} of the
    results' seed study, paired as the board's transfer table pairs runs; and notes."""
    from .entries import expand_inputs, load_results
    from .seeds import seed_transfer

    entries = [load_results(p) for p in expand_inputs(list(results))]
    st = seed_transfer(entries, resamples)
    notes: list[str] = []
    if st is None:
        raise UserError("--results holds no seed study: expected results of xtreme-train checkpoints "
                        "(model.training) with an intermediate task and a baseline")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in st.rows:
        if row.mlm is not None:
            notes.append(f"{row.label}: trained with MLM, whose data is not an intermediate task's; left out.")
            continue
        key = "+".join(row.intermediate)
        for task, cell in row.cells.items():
            if not cell.seeds:
                continue
            mine = row.values(task)
            base = {s: v for b in row.baseline_for.get(task, []) for s, v in b.values(task).items()}
            per_lang: dict[str, dict[int, float]] = {}
            for s in cell.seeds:
                run_ts, base_ts = mine[s][0], base[s][0]
                for lang in sorted(set(run_ts.languages) & set(base_ts.languages)):
                    a, b = run_ts.lang_score(lang), base_ts.lang_score(lang)
                    if a is not None and b is not None:
                        per_lang.setdefault(lang, {})[s] = a - b
            if (key, task) in out:
                raise UserError(f"the results hold several configurations of {row.label} for {task} (other base "
                                "models or target settings); give --results of one study")
            out[(key, task)] = {"task_delta": cell.delta, "seeds": list(cell.seeds), "row": row.label,
                                "languages": {lang: {"delta": sum(v.values()) / len(v), "per_seed": v}
                                              for lang, v in per_lang.items()}}
    return out, notes


# --- the command -------------------------------------------------------------------------------------------

def run_divergence(d: DivergenceOptions, e: EvalOptions, say=None) -> dict[str, Any]:
    """Sample, embed and measure; returns the document ``--format json`` writes (the board renders it)."""
    from ..tasks.data import plan_languages
    from ..tasks.registry import resolve_tasks

    say = say or (lambda msg: None)
    names = [n.strip() for n in d.intermediate.split(",") if n.strip()]
    if not names:
        raise UserError("--intermediate is required: the intermediate task(s) whose data to compare")
    if len(set(names)) != len(names):
        raise UserError("--intermediate names a task twice; expected each once")
    e.validate()
    specs = resolve_tasks(e.tasks, e.version, e.task_dirs)
    deltas, notes = language_deltas(d.results) if d.results else ({}, [])
    # Read everything before loading the model: a missing file should not wait for it.
    inter = [_intermediate_side(n, d, e.data_dir) for n in names]
    targets: list[tuple[Any, Side]] = []
    skipped: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    for spec in specs:
        if e.split not in spec.splits:
            notes.append(f"{spec.task} has no {e.split} split; left out.")
            continue
        for lang in plan_languages(spec, e.languages, e.split, e.data_dir, e.version, skipped, missing):
            targets.append((spec, _target_side(spec, lang, d, e)))
    for task, langs in missing.items():
        notes.append(f"{task}: no {e.split} data in {e.data_dir} for {listing(langs)}; left out.")
    if not targets:
        raise UserError(f"no target data to compare with: none of {e.tasks} has {e.split} data for "
                        f"{e.languages} languages in {e.data_dir}")
    small = [s.key for s in inter + [t for _, t in targets] if len(s.texts) < 2]
    if small:
        raise UserError(f"fewer than 2 texts to sample in {', '.join(small)}; MMD² needs at least 2 per side")
    encoder, described = make_encoder(e)
    length = e.max_length or DEFAULT_LENGTH
    for side in inter + [t for _, t in targets]:
        say(f"embedding {side.key}: {len(side.texts)} texts")
        side.embeddings = np.asarray(encoder.encode(side.texts, length, desc=side.key), dtype=np.float64)
    rows = []
    for i in inter:
        for spec, t in targets:
            lang = t.key.split("/", 1)[1]
            mmd2, sigma = mmd2_unbiased(i.embeddings, t.embeddings, d.bandwidth)
            found = deltas.get((i.key, spec.task))
            lang_delta = (found or {}).get("languages", {}).get(lang)
            rows.append({"intermediate": i.key, "target": spec.task, "language": lang,
                         "n_intermediate": len(i.texts), "n_target": len(t.texts),
                         "cosine_distance": cosine_distance(i.embeddings, t.embeddings), "mmd2": mmd2,
                         "bandwidth": sigma, "delta": lang_delta["delta"] if lang_delta else None,
                         "delta_seeds": sorted(lang_delta["per_seed"]) if lang_delta else [],
                         "delta_per_seed": {str(s): v for s, v in lang_delta["per_seed"].items()}
                         if lang_delta else {}})
    if d.results:
        absent = sorted({f"{r['intermediate']} → {r['target']}" for r in rows
                         if (r["intermediate"], r["target"]) not in deltas})
        if absent:
            notes.append(f"No transfer delta in the results for {', '.join(absent)}.")
    return {"schema": SCHEMA, "settings": {
        "encoder": described, "max_length": length, "samples": d.samples, "sample_seed": d.sample_seed,
        "intermediate_split": d.intermediate_split, "target_split": e.split,
        "intermediate_data_dir": d.intermediate_data_dir or e.data_dir, "data_dir": e.data_dir,
        "bandwidth": "median heuristic" if d.bandwidth is None else d.bandwidth, "results": list(d.results)},
        "samples": {s.key: {"split": s.split, "available": s.available, "indices": s.indices}
                    for s in inter + [t for _, t in targets]},
        "divergence": rows, "correlation": correlations(rows), "notes": notes}


def correlations(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Spearman's ρ between each divergence and the delta: per target task and over all rows (with n)."""
    out: dict[str, Any] = {}
    have = [r for r in rows if r["delta"] is not None]
    groups = [(t, [r for r in have if r["target"] == t]) for t in dict.fromkeys(r["target"] for r in rows)]
    groups.append(("all", have))
    for measure in MEASURES:
        out[measure] = {name: {"rho": spearman([r[measure] for r in group], [r["delta"] for r in group]),
                               "n": len(group)} for name, group in groups}
    return out


def render_divergence(doc: dict[str, Any], fmt: str, decimals: int = 4) -> str:
    """The divergence document as a board in any of the board's formats."""
    from .tables import Board, Cell, Row, Section, render, text

    with_results = bool(doc["settings"].get("results"))
    columns = [("intermediate", "Intermediate task"), ("target", "Target"), ("language", "Lang"),
               ("n_intermediate", "n (int.)"), ("n_target", "n (target)"), ("cosine_distance", "Cosine distance"),
               ("mmd2", "MMD²"), ("bandwidth", "σ")] + ([("delta", "Δ transfer"), ("seeds", "Seeds")]
                                                      if with_results else [])
    div = Section("divergence", "Intermediate-task data against target data", columns, [])
    for r in doc["divergence"]:
        cells = [text(r["intermediate"]), text(r["target"]), text(r["language"]), Cell(r["n_intermediate"], "int"),
                 Cell(r["n_target"], "int"), Cell(r["cosine_distance"]), Cell(r["mmd2"]), Cell(r["bandwidth"])]
        if with_results:
            cells += [Cell(r["delta"], "delta"), text(",".join(map(str, r["delta_seeds"])) or "–")]
        div.rows.append(Row(f"{r['intermediate']}/{r['target']}/{r['language']}", cells))
    s = doc["settings"]
    enc = s["encoder"]
    how = (f"layer {enc['layer']} ({enc.get('pooling', 'mean')} pooling)" if "layer" in enc
           else f"its own modules ({', '.join(enc.get('modules') or [])})")
    div.intro = (f"{s['samples']} texts sampled per side (seed {s['sample_seed']}; intermediate "
                 f"{s['intermediate_split']} split, target {s['target_split']} split), embedded by {enc['model']} "
                 f"with {how}, each cut to {s['max_length']} sub-tokens.")
    div.notes = [
        "Cosine distance: 1 − cos of the two samples' mean embeddings (the TextEmb task embedding of Vu et al., "
        "2020, Exploring and Predicting Transferability across NLP Tasks, EMNLP).",
        "MMD²: the unbiased estimate of the squared maximum mean discrepancy with an RBF kernel "
        "exp(−‖x−y‖²/2σ²), σ the median distance between points of the pooled sample (Gretton et al., 2012, A "
        "Kernel Two-Sample Test, JMLR); it can fall below 0 when the two samples are alike."]
    div.notes.append("Δ transfer: the mean over seeds of (run − the same seed's baseline) of the language's figure "
                     "(QA: (EM+F1)/2), from the results given with --results, paired as the transfer table pairs "
                     "them; – where there is none." if with_results else
                     "No --results given: no transfer deltas, and no rank correlation with them.")
    corr = Section("correlation", "Rank correlation of divergence and transfer", [
        ("target", "Target"), ("measure", "Divergence"), ("rho", "Spearman ρ"), ("n", "n")], [])
    for measure in MEASURES:
        for name, c in doc["correlation"][measure].items():
            corr.rows.append(Row(f"{measure}/{name}", [text(name), text(MEASURE_NAMES[measure]),
                                                      Cell(c["rho"], "delta"), Cell(c["n"], "int")]))
    corr.intro = ("Spearman's ρ between each divergence and Δ transfer over the (intermediate, target, language) "
                  "rows that have a Δ: per target task, and over all of them (all). A transfer that falls as "
                  "the data grow apart gives ρ < 0. ρ is blank with fewer than 3 rows or no variation.")
    board = Board(title="Intermediate-task divergence and transfer", version="xtreme",
                  sections=[div, corr] if with_results else [div], decimals=decimals)
    board.notes = list(doc.get("notes") or [])
    board.data = {k: v for k, v in doc.items() if k != "notes"}
    return render(board, fmt)


__all__ = ["DivergenceOptions", "EVAL_FLAGS", "cosine_distance", "correlations", "example_texts",
           "language_deltas", "median_bandwidth", "mmd2_unbiased", "render_divergence", "run_divergence",
           "sample", "spearman"]
