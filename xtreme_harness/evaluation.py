"""``xtreme-eval``: checkpoint(s) + task specs + data → predictions, records, results.json.

The flow per (task, language): read examples → family featurize → engine →
family decode → predictions in the official submission format → official
metrics (the same functions ``xtreme-score`` uses) → a state file. Each
finished (task, language) leaves its predictions, gold labels, per-example
records and a small state file, all written atomically, so an interrupted run
resumes where it stopped and scores the same.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .data.io import atomic_write_json, atomic_write_text, safe_join
from .data.readers import available, data_files, read_split
from .data.submission import write_submission, write_tags
from .distributed import barrier, is_main, local_device
from .errors import UserError
from .models import Checkpoint, load_model, load_tokenizer, resolve
from .scoring import aggregate_task, overall_scores, score_language
from .spec import TaskSpec, resolve_tasks

SCHEMA = "xtreme-harness/results/v1"
STATE_VERSION = 1


@dataclass
class EvalConfig:
    model: str
    tasks: str = "all"
    languages: str = "all"
    data_dir: str = "download"
    split: str = "test"
    output: str = "xtreme-results"
    batch_size: str | int = "auto"
    device: str = "auto"
    dtype: str = "auto"
    limit: int | None = None
    retrieval_layer: int | None = None
    pooling: str = "mean"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    version: str = "xtreme"
    task_dirs: list[str] = field(default_factory=list)
    max_length: int | None = None
    progress: bool = True
    embedding_cache: str | None = None


def default_retrieval_layer(num_layers: int | None) -> int:
    """XTREME's layer: 8 of 12 (base) and 14 of 24 (large); other depths: two thirds, rounded."""
    if not num_layers:
        return 8
    return {12: 8, 24: 14}.get(num_layers, max(1, round(num_layers * 2 / 3)))


def _log(msg: str) -> None:
    if not is_main():
        return
    print(f"xtreme-eval: {msg}", file=sys.stderr, flush=True)


# --- per-family runners ------------------------------------------------------------------
# Each returns (predictions in submission form, gold in scorer form or None, records, stats).

class _Loaded:
    """Models and tokenizers loaded once per (checkpoint, family) and reused across languages."""

    def __init__(self, cfg: EvalConfig):
        self.cfg = cfg
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}

    def get(self, ck: Checkpoint, family: str):
        key = (ck.path, family)
        if key not in self._cache:
            self._cache.clear()  # one model in memory at a time
            tok = load_tokenizer(ck, self.cfg.trust_remote_code)
            model = load_model(ck, family, self.cfg.device, self.cfg.dtype, self.cfg.trust_remote_code,
                               self.cfg.allow_pickle)
            self._cache[key] = (model, tok)
        return self._cache[key]


def _engine(cfg: EvalConfig):
    from .distributed import ShardedEngine, is_main
    from .engine import InferenceEngine

    bs = cfg.batch_size if cfg.batch_size == "auto" else int(cfg.batch_size)
    return ShardedEngine(InferenceEngine(device=cfg.device, dtype=cfg.dtype, batch_size=bs,
                                         progress=cfg.progress and is_main()))


def _id2label(ck: Checkpoint) -> dict[int, str]:
    return dict(ck.label_map)


def run_classification(spec, ck, examples, loaded, engine, cfg, lang):
    from .families import classification

    model, tok = loaded.get(ck, "classification")
    max_length = cfg.max_length or spec.features.get("max_length", 128)
    feats = classification.featurize(examples, tok, max_length=max_length)
    outs = engine.run(model, feats, desc=f"{spec.task}/{lang}")
    import numpy as np

    logits = np.stack([o["logits"] for o in outs]) if outs else np.zeros((0, len(ck.label_map)))
    preds = classification.decode(logits, _id2label(ck))
    gold = [ex.label for ex in examples] if examples and all(ex.label is not None for ex in examples) else None
    records = [{"id": ex.id, "pred": p, "gold": ex.label, "correct": int(p == ex.label)} if gold else
               {"id": ex.id, "pred": p} for ex, p in zip(examples, preds)]
    return preds, gold, records, dict(feats.stats)


def _sentence_counts(spec: TaskSpec, gold: list[str], pred: list[str]) -> tuple[int, int, int]:
    """Chunk counts of one sentence under the task's official chunking (for paired resampling)."""
    if spec.metrics.official == "pos_chunk_f1":
        from .metrics.tagging import legacy_entities

        g, p = set(legacy_entities([gold])), set(legacy_entities([pred]))
    else:
        from seqeval.metrics.sequence_labeling import get_entities

        g, p = set(get_entities(list(gold))), set(get_entities(list(pred)))
    return len(g & p), len(p), len(g)


def run_tagging(spec, ck, examples, loaded, engine, cfg, lang):
    from .families import tagging

    model, tok = loaded.get(ck, "tagging")
    max_length = cfg.max_length or spec.features.get("max_length", 128)
    feats = tagging.featurize(examples, tok, max_length=max_length)
    outs = engine.run(model, feats, desc=f"{spec.task}/{lang}", token_keys=["logits"])
    preds = tagging.decode(feats, [o["logits"] for o in outs], examples, _id2label(ck))
    gold = [ex.tags for ex in examples] if examples and all(ex.tags is not None for ex in examples) else None
    records = []
    for ex, p in zip(examples, preds):
        rec: dict[str, Any] = {"id": ex.id, "pred": p}
        if gold:
            tp, n_pred, n_gold = _sentence_counts(spec, ex.tags, p)
            rec.update(gold=ex.tags, tp=tp, n_pred=n_pred, n_gold=n_gold,
                       correct_tokens=sum(int(a == b) for a, b in zip(ex.tags, p)))
        records.append(rec)
    return preds, gold, records, dict(feats.stats)


def run_qa(spec, ck, examples, loaded, engine, cfg, lang):
    from .families import qa
    from .metrics.qa import mlqa_example, squad_example

    model, tok = loaded.get(ck, "qa")
    f = spec.features
    feats = qa.featurize(examples, tok, max_length=cfg.max_length or f.get("max_length", 384),
                         doc_stride=f.get("doc_stride", 128), max_query_length=f.get("max_query_length", 64))

    def forward(m, batch):
        out = m(**batch)
        return {"start_logits": out.start_logits, "end_logits": out.end_logits}

    outs = engine.run(model, feats, forward, desc=f"{spec.task}/{lang}", token_keys=["start_logits", "end_logits"])
    answers, _nbest = qa.decode(examples, feats, [o["start_logits"] for o in outs], [o["end_logits"] for o in outs],
                                n_best=f.get("n_best", 20), max_answer_length=f.get("max_answer_length", 30))
    have_gold = bool(examples) and all(ex.answers for ex in examples)
    gold = [[a.text for a in ex.answers] for ex in examples] if have_gold else None
    records = []
    for ex in examples:
        pred = answers.get(ex.id, "")
        rec: dict[str, Any] = {"id": ex.id, "pred": pred}
        if have_gold:
            golds = [a.text for a in ex.answers]
            em, f1 = mlqa_example(pred, golds, lang) if spec.metrics.official == "mlqa" else squad_example(pred, golds)
            rec.update(gold=golds, em=int(em), f1=float(f1))
        records.append(rec)
    preds = {ex.id: answers.get(ex.id, "") for ex in examples}
    return preds, gold, records, dict(feats.stats)


def _embedding_key(model, cfg: EvalConfig, layer: int, sentences: list[str]) -> str:
    """Model (path, config, weights), layer, pooling, dtype and the texts themselves."""
    h = hashlib.sha256()
    path = getattr(model, "name_or_path", "") or ""
    h.update(json.dumps([path, model.config.to_json_string(), layer, cfg.pooling, cfg.dtype], sort_keys=True).encode())
    if path and Path(path).is_dir():
        h.update(json.dumps([_file_sig(p) for p in sorted(Path(path).glob("*.safetensors"))]).encode())
    for s in sentences:
        h.update(hashlib.sha256(s.encode("utf-8")).digest())
    return h.hexdigest()


def _embed(sentences: list[str], model, tok, engine, cfg: EvalConfig, layer: int, desc: str):
    """Sentence embeddings from one hidden layer; cached on disk (.npy, no pickle) when asked for."""
    import numpy as np

    cache_file = None
    if cfg.embedding_cache:
        cache_file = Path(cfg.embedding_cache) / f"{_embedding_key(model, cfg, layer, sentences)}.npy"
        if cache_file.is_file():
            emb = np.load(cache_file, allow_pickle=False)
            if emb.shape[0] == len(sentences):
                return emb
    emb = _embed_uncached(sentences, model, tok, engine, cfg, layer, desc)
    if cache_file is not None:
        import tempfile

        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        os.replace(tmp, cache_file)
    return emb


def _embed_uncached(sentences: list[str], model, tok, engine, cfg: EvalConfig, layer: int, desc: str):
    import numpy as np

    from .engine import cls_pool, mean_pool

    enc = tok(sentences, truncation=True, max_length=512)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    feats = [{k: enc[k][i] for k in keys} for i in range(len(sentences))]

    def forward(m, batch):
        out = m(**batch, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        pooled = cls_pool(hidden) if cfg.pooling == "cls" else mean_pool(hidden, batch["attention_mask"])
        return {"embedding": pooled}

    outs = engine.run(model, feats, forward, desc=desc, token_keys=[])
    dim = model.config.hidden_size
    return np.stack([o["embedding"] for o in outs]).astype("float32") if outs else np.zeros((0, dim), "float32")


def _layer(ck: Checkpoint, cfg: EvalConfig) -> int:
    n = ck.num_hidden_layers
    layer = cfg.retrieval_layer if cfg.retrieval_layer is not None else default_retrieval_layer(n)
    if n is not None and not 0 <= layer <= n:
        raise UserError(f"--retrieval-layer {layer} is outside 0..{n} for {ck.path} ({n} layers; 0 is the "
                        "embedding output)")
    return layer


def run_retrieval(spec, ck, rset, loaded, engine, cfg, lang):
    from . import mining

    model, tok = loaded.get(ck, "retrieval")
    layer = _layer(ck, cfg)
    src = _embed(rset.source, model, tok, engine, cfg, layer, f"{spec.task}/{lang} ({lang})")
    tgt = _embed(rset.target, model, tok, engine, cfg, layer, f"{spec.task}/{lang} (en)")
    stats = {"layer": layer, "pooling": cfg.pooling, "source": len(rset.source), "target": len(rset.target)}
    if spec.format == "tatoeba":
        # English queries retrieve non-English lines, as XTREME's evaluate_retrieval.py scores it.
        pred = [str(int(i)) for i in mining.tatoeba_predict(src, tgt[:rset.n])]
        gold = [str(g) for g in rset.gold] if rset.gold is not None else None
        records = [{"id": f"{lang}-{j}", "pred": p, "gold": g, "correct": int(p == g)} if gold else
                   {"id": f"{lang}-{j}", "pred": p} for j, (p, g) in enumerate(zip(pred, gold or [None] * len(pred)))]
        if rset.gold is not None:
            both = mining.tatoeba_accuracy_both(src, tgt, rset.gold)
            # Secondary figures: the reverse direction (non-English queries) and the mean of both.
            stats["secondary_figures"] = {"accuracy_xx2en": float(both["xx2en"]),
                                          "accuracy_mean": float(both["mean"])}
        return pred, gold, records, stats
    # BUCC: the threshold is chosen on dev (the BUCC sample set) and applied with >= on test.
    cands = mining.mine_candidates(src, tgt, rset.source_ids, rset.target_ids, rset.source, rset.target)
    threshold, source = None, None
    if cfg.split != "dev" and available(spec, cfg.data_dir, lang, "dev") and "dev" in spec.splits:
        dev = read_split(spec, cfg.data_dir, lang, "dev")
        if dev.gold_pairs:
            d_src = _embed(dev.source, model, tok, engine, cfg, layer, f"{spec.task}/{lang} dev ({lang})")
            d_tgt = _embed(dev.target, model, tok, engine, cfg, layer, f"{spec.task}/{lang} dev (en)")
            d_cands = mining.mine_candidates(d_src, d_tgt, dev.source_ids, dev.target_ids, dev.source, dev.target)
            threshold = mining.best_threshold(d_cands, dev.gold_pairs)[0]
            source = "dev"
    if threshold is None:
        if not rset.gold_pairs:
            raise UserError(f"bucc2018/{lang}: no dev gold to choose the mining threshold on")
        threshold = mining.best_threshold(cands, rset.gold_pairs)[0]
        source = cfg.split if cfg.split == "dev" else f"{cfg.split} (oracle: no dev set)"
    pairs = mining.apply_threshold(cands, threshold)
    pred = [f"{s}\t{t}" for s, t in pairs]
    gold = [f"{s}\t{t}" for s, t in rset.gold_pairs] if rset.gold_pairs else None
    stats.update(threshold=float(threshold), threshold_from=source, candidates=len(cands))
    return pred, gold, [], stats


RUNNERS: dict[str, Callable] = {"classification": run_classification, "tagging": run_tagging, "qa": run_qa,
                                "retrieval": run_retrieval}


# --- gold files for the round trip through xtreme-score --------------------------------------

def write_gold(path: Path, spec: TaskSpec, gold: Any, examples: Any) -> None:
    fmt = spec.submission_format
    if fmt == "tags":
        write_tags(path, gold)
    elif fmt == "qa_json":
        paras = [{"context": ex.context, "qas": [{"id": ex.id, "question": ex.question,
                                                  "answers": [{"text": a.text, "answer_start": a.start}
                                                              for a in ex.answers]}]} for ex in examples]
        atomic_write_json(path, {"version": "1.1", "data": [{"title": "", "paragraphs": paras}]}, indent=None)
    else:
        write_submission(path, fmt, gold)


# --- state, resume and fingerprints ------------------------------------------------------

def _file_sig(p: Path) -> list:
    try:
        st = p.stat()
        return [str(p), st.st_size, int(st.st_mtime)]
    except OSError:
        return [str(p), None, None]


def fingerprint(cfg: EvalConfig, spec: TaskSpec, ck: Checkpoint, lang: str) -> str:
    """What the figures of one (task, language) depend on; a changed input means a recomputation."""
    parts: dict[str, Any] = {
        "state": STATE_VERSION, "harness": __version__, "task": spec.task, "lang": lang, "split": cfg.split,
        "limit": cfg.limit, "max_length": cfg.max_length, "dtype": cfg.dtype, "spec": _spec_hash(spec),
        "model": ck.path, "config": hashlib.sha256(json.dumps(ck.config, sort_keys=True).encode()).hexdigest(),
    }
    if ck.local:
        parts["weights"] = [_file_sig(p) for p in sorted(Path(ck.path).glob("*.safetensors"))] + \
                           [_file_sig(p) for p in sorted(Path(ck.path).glob("*.bin"))]
    if spec.family == "retrieval":
        parts.update(layer=cfg.retrieval_layer, pooling=cfg.pooling)
    if not str(cfg.data_dir).startswith("hf"):
        parts["data"] = [_file_sig(p) for p in data_files(spec, cfg.data_dir, lang, cfg.split)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _spec_hash(spec: TaskSpec) -> str:
    return hashlib.sha256(json.dumps(asdict(spec), sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- orchestration -------------------------------------------------------------------------

def _languages_for(spec: TaskSpec, cfg: EvalConfig, skipped: dict, missing: dict) -> list[str]:
    task_langs = list(spec.languages(cfg.version) or spec.all_languages())
    split_langs = spec.splits.get(cfg.split).languages if cfg.split in spec.splits else None
    if cfg.languages.strip() == "all":
        wanted, explicit = task_langs, False
    else:
        wanted, explicit = [x.strip() for x in cfg.languages.split(",") if x.strip()], True
    out = []
    for lang in wanted:
        if lang not in spec.all_languages() and lang not in task_langs:
            skipped.setdefault(spec.task, {})[lang] = f"not a {spec.task} language"
            continue
        if split_langs and lang not in split_langs:
            skipped.setdefault(spec.task, {})[lang] = f"{spec.task} has no {cfg.split} split for {lang}"
            continue
        if not available(spec, cfg.data_dir, lang, cfg.split):
            files = [str(p) for p in data_files(spec, cfg.data_dir, lang, cfg.split) if not p.is_file()]
            if explicit:
                raise UserError(f"{spec.task} data for '{lang}' not found", files[0] if files else cfg.data_dir)
            missing.setdefault(spec.task, []).append(lang)
            continue
        out.append(lang)
    return out


def _model_info(model: str, res) -> dict[str, Any]:
    cks = list(res.checkpoints.values())
    intermediate = None
    base = None
    for ck in cks:
        if "xtreme_intermediate" in ck.config:
            intermediate = list(ck.config.get("xtreme_intermediate") or [])
            base = ck.config.get("xtreme_base_model")
            break
    revision = None
    for ck in cks:
        revision = ck.config.get("_commit_hash") or revision
    return {"name": Path(model.rstrip("/")).name or model, "path": model, "revision": revision,
            "kind": res.kind, "protocol": "fine-tuned transfer", "intermediate": intermediate, "base_model": base,
            "checkpoints": {t: ck.path for t, ck in res.checkpoints.items()}}


def evaluate(model: str, tasks: str = "all", languages: str = "all", data_dir: str = "download",
             split: str = "test", output: str = "xtreme-results", **kwargs) -> dict[str, Any]:
    """Score ``model`` (a checkpoint, hub id or suite) on ``tasks``; write and return results.json."""
    cfg = EvalConfig(model=model, tasks=tasks, languages=languages, data_dir=str(data_dir), split=split,
                     output=str(output), **kwargs)
    cfg.device = local_device(cfg.device)
    if cfg.split not in ("test", "dev"):
        raise UserError(f"--split must be test or dev, not '{cfg.split}'")
    if cfg.pooling not in ("mean", "cls"):
        raise UserError(f"--pooling must be mean or cls, not '{cfg.pooling}'")
    if cfg.limit is not None and cfg.limit <= 0:
        raise UserError("--limit must be a positive number of examples")
    if not str(cfg.data_dir).startswith("hf") and not Path(cfg.data_dir).is_dir():
        raise UserError("data folder not found (expected XTREME's download layout, or 'hf')", cfg.data_dir)
    specs = resolve_tasks(cfg.tasks, cfg.version, cfg.task_dirs)
    res = resolve(cfg.model, specs, cfg.trust_remote_code, cfg.allow_pickle)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    skipped_langs: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    plan = []
    for spec in specs:
        if spec.task in res.skipped:
            continue
        if cfg.split not in spec.splits:
            res.skipped[spec.task] = f"{spec.task} has no {cfg.split} split (it has: {', '.join(spec.splits)})"
            continue
        langs = _languages_for(spec, cfg, skipped_langs, missing)
        plan.append((spec, res.checkpoints[spec.task], langs))
    for task, reason in res.skipped.items():
        _log(f"skipping {task}: {reason}")

    loaded = _Loaded(cfg)
    engine = None
    task_results: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    complete: set[str] = set()
    timings: dict[str, float] = {}
    results_path = out / "results.json"
    for spec, ck, langs in plan:
        per_lang, secondary, counts, stats_all = {}, {}, {}, {}
        t0 = time.perf_counter()
        for lang in langs:
            state_path = safe_join(out, "state", spec.task, f"{lang}.json")
            fp = fingerprint(cfg, spec, ck, lang)
            state = _read_state(state_path)
            if state and state.get("fingerprint") == fp:
                _log(f"{spec.task}/{lang}: reusing finished result")
            else:
                if engine is None:
                    engine = _engine(cfg)
                state = _run_one(spec, ck, lang, cfg, loaded, engine, out, fp)
            counts[lang] = state["n"]
            stats_all[lang] = state.get("stats", {})
            if state.get("metrics"):
                per_lang[lang] = state["metrics"]
                secondary[lang] = state.get("secondary", {})
        timings[spec.task] = time.perf_counter() - t0
        version_langs = list(spec.languages(cfg.version) or spec.all_languages())
        scored_missing = [lang for lang in version_langs if lang not in per_lang]
        entry: dict[str, Any] = {}
        if per_lang:
            entry = aggregate_task(spec, per_lang, secondary, version_langs,
                                   None if scored_missing else version_langs)
        entry.update(split=cfg.split, n=counts, stats=stats_all)
        task_results[spec.task] = entry
        no_gold = [lang for lang in langs if lang not in per_lang]
        coverage[spec.task] = {"complete": not scored_missing, "languages": list(per_lang),
                               "missing": scored_missing, "no_gold": no_gold,
                               "skipped": skipped_langs.get(spec.task, {}),
                               "missing_data": missing.get(spec.task, [])}
        if not scored_missing:
            complete.add(spec.task)
        _write_results(results_path, cfg, res, task_results, coverage, complete, timings)
    results = _write_results(results_path, cfg, res, task_results, coverage, complete, timings)
    return results


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _run_one(spec, ck, lang, cfg, loaded, engine, out: Path, fp: str) -> dict:
    t0 = time.perf_counter()
    examples = read_split(spec, cfg.data_dir, lang, cfg.split, cfg.limit)
    preds, gold, records, stats = RUNNERS[spec.family](spec, ck, examples, loaded, engine, cfg, lang)
    ext = spec.submission_ext
    n = len(examples) if isinstance(examples, list) else examples.n
    state: dict[str, Any] = {"fingerprint": fp, "task": spec.task, "lang": lang, "n": n, "stats": stats}
    if gold is not None:
        metrics, secondary = score_language(spec, gold, preds if spec.family != "qa" else
                                            [preds[ex.id] for ex in examples], lang)
        secondary.update(stats.pop("secondary_figures", {}))
        state.update(metrics=metrics, secondary=secondary)
    state["seconds"] = round(time.perf_counter() - t0, 3)
    if is_main():  # every process holds the same predictions; one writes them
        write_submission(safe_join(out, "predictions", spec.task, f"test-{lang}.{ext}"), spec.submission_format,
                         preds)
        if gold is not None:
            write_gold(safe_join(out, "labels", spec.task, f"test-{lang}.{ext}"), spec, gold, examples)
        if records:
            atomic_write_text(safe_join(out, "records", spec.task, f"{lang}.jsonl"),
                              "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        atomic_write_json(safe_join(out, "state", spec.task, f"{lang}.json"), state)
    barrier()
    shown = ", ".join(f"{k}={v:.2f}" for k, v in (state.get("metrics") or {}).items())
    _log(f"{spec.task}/{lang}: {shown or 'no gold labels: predictions written, not scored'} "
         f"({n} examples, {state['seconds']:.1f}s)")
    return state


def _write_results(path: Path, cfg: EvalConfig, res, task_results, coverage, complete, timings) -> dict:
    from .spec import benchmark_tasks

    results = {
        "schema": SCHEMA, "harness_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "model": _model_info(cfg.model, res),
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("progress",)},
        "version": cfg.version,
        "overall": overall_scores(task_results, complete, cfg.version),
        "tasks": task_results,
        "coverage": coverage,
        "skipped": dict(res.skipped),
        "partial": not all(t in complete for t in benchmark_tasks(cfg.version)),
        "records": "records",
    }
    if not is_main():
        return results
    atomic_write_json(path, results)
    # Wall-clock times vary run to run; they live beside results.json so that it stays reproducible.
    atomic_write_json(path.parent / "timings.json", {k: round(v, 3) for k, v in timings.items()})
    return results


# --- command line ------------------------------------------------------------------------

def main(argv, parser_cls) -> int:
    p = parser_cls(prog="xtreme-eval", description="Score a checkpoint or a suite of per-task checkpoints on XTREME.")
    p.add_argument("--model", help="checkpoint folder, hub id, or suite folder (<task>/ checkpoints [+ encoder/])")
    p.add_argument("--tasks", default="all", help="'all' (the nine XTREME tasks) or a comma-separated list")
    p.add_argument("--languages", default="all", help="'all' or a comma-separated list of ISO 639-1 codes")
    p.add_argument("--data-dir", default=os.environ.get("XTREME_DATA_DIR", "download"),
                   help="XTREME download layout folder, 'hf', or 'hf:<local dataset copy>' (default: $XTREME_DATA_DIR or ./download)")
    p.add_argument("--split", default="test", choices=["test", "dev"])
    p.add_argument("--output", default="xtreme-results", help="output folder (results.json, predictions/, records/)")
    p.add_argument("--batch-size", default="auto", help="'auto' or sequences per batch")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--limit", type=int, default=None, help="only the first N examples per language (queries for retrieval)")
    p.add_argument("--retrieval-layer", type=int, default=None,
                   help="hidden layer for BUCC/Tatoeba embeddings (0 = embeddings; default: 8 of 12, 14 of 24)")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    p.add_argument("--max-length", type=int, default=None, help="override the task's max sequence length")
    p.add_argument("--version", default="xtreme", choices=["xtreme", "xtreme-r"])
    p.add_argument("--task-dir", action="append", default=[], help="extra folder of task spec YAMLs")
    p.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints that ship their own code")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled pytorch_model.bin weights")
    p.add_argument("--embedding-cache", default=None,
                   help="folder to cache retrieval embeddings in (keyed by model, layer, pooling and text hash)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    from .lmeval.cli import add_arguments as add_lm_eval_arguments
    from .lmeval.cli import dispatch as lm_eval_dispatch

    add_lm_eval_arguments(p)  # --backend, --model-args, --gen-kwargs, --apply-chat-template, --lm-eval-tasks-path
    args = p.parse_args(argv)
    handled = lm_eval_dispatch(args)  # prints the YAML folder, or runs --backend lm-eval
    if handled is not None:
        return handled
    if not args.model:
        raise UserError("--model is required (see xtreme-eval --help)")
    bs = args.batch_size
    if bs != "auto":
        try:
            bs = int(bs)
            assert bs > 0
        except (ValueError, AssertionError):
            raise UserError(f"--batch-size must be 'auto' or a positive integer, not '{args.batch_size}'") from None
    results = evaluate(args.model, tasks=args.tasks, languages=args.languages, data_dir=args.data_dir,
                       split=args.split, output=args.output, batch_size=bs, device=args.device, dtype=args.dtype,
                       limit=args.limit, retrieval_layer=args.retrieval_layer, pooling=args.pooling,
                       trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle,
                       version=args.version, task_dirs=args.task_dir, max_length=args.max_length,
                       progress=not args.no_progress, embedding_cache=args.embedding_cache)
    from .reporting import format_scores

    if is_main():
        print(format_scores(results))
        print(f"\nresults: {Path(args.output) / 'results.json'}")
    return 0
