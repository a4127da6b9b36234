"""``xtreme-eval``: checkpoint(s) + task specs + data -> predictions, records, results.json.

Per (task, language): read the examples, let the task's family predict them
(featurize -> engine -> decode), then score and write them as every producer
does (:mod:`xtreme_harness.results`). Each finished (task, language) leaves
its files and a small state file, all written atomically, so an interrupted
run resumes where it stopped and scores the same.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .data.io import file_fingerprint, folder_fingerprint, output_path, safe_join
from .data.readers import read_split, split_files
from .distributed import is_main, local_device
from .embedding import Embedder, default_layer
from .errors import UserError
from .families import family_of
from .models import Checkpoint, check_vocabulary, load_model, load_tokenizer, resolve
from .outputs import OutputFolder
from .results import STATE_VERSION, Results, plan_languages, read_state, score_and_write
from .spec import TaskSpec, resolve_tasks

SPLITS = ("test", "dev")
MIN_LENGTH, MAX_LENGTH = 8, 8192  # sub-tokens per feature: room for special tokens and a question
POOLINGS = ("mean", "cls")
DTYPES = ("auto", "float32", "bfloat16", "float16")
VERSIONS = ("xtreme", "xtreme-r")


@dataclass
class EvalConfig:
    """Every option of a run, validated once (:meth:`validate`) whichever way it was given."""

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
    label_map: dict[str, str] | None = None  # checkpoint label -> task label, for a single checkpoint
    qa_nbest: str = "padded"  # XTREME's n-best over padded positions, or "real-tokens"
    tagging_windows: str = "chunks"  # XTREME's consecutive chunks, or "overlap"
    qa_answer_text: str = "xtreme"  # XTREME's projection of a span onto whitespace words, or "offsets"
    retrieval_search: str = "exact"  # BUCC's margin k-NN: exact (XTREME's), or approximate with exact re-scoring
    overwrite: bool = False  # replace an output folder's results of other settings

    def validate(self) -> "EvalConfig":
        for name in ("split", "pooling", "dtype", "version", "qa_nbest", "tagging_windows", "qa_answer_text",
                     "retrieval_search"):
            choice(name, getattr(self, name))
        self.batch_size = parse_batch_size(self.batch_size)
        if isinstance(self.label_map, str):
            from .manifest import parse_label_map

            self.label_map = parse_label_map(self.label_map)
        if self.limit is not None and self.limit <= 0:
            raise UserError("--limit must be a positive number of examples")
        if self.retrieval_layer is not None and self.retrieval_layer < 0:
            raise UserError("--retrieval-layer must be 0 (the embedding output) or more")
        if self.max_length is not None and not MIN_LENGTH <= self.max_length <= MAX_LENGTH:
            raise UserError(f"--max-length must be between {MIN_LENGTH} and {MAX_LENGTH} sub-tokens, not "
                            f"{self.max_length}")
        if not str(self.data_dir).startswith("hf") and not Path(self.data_dir).is_dir():
            raise UserError("data folder not found (expected XTREME's download layout, or 'hf'); get one with "
                            "'xtreme-data download --tasks all' (writes ./download) or name yours with --data-dir",
                            self.data_dir)
        self.output = str(output_path(self.output, "--output", folder=True))
        if self.embedding_cache:
            self.embedding_cache = str(output_path(self.embedding_cache, "--embedding-cache", folder=True))
        return self

    def settings(self) -> dict[str, Any]:
        """The options that change figures: an output folder holds the files of one such set."""
        keep = ("model", "data_dir", "split", "limit", "max_length", "dtype", "version", "pooling", "retrieval_layer",
                "label_map", "qa_nbest", "tagging_windows", "qa_answer_text", "retrieval_search", "task_dirs")
        return {k: getattr(self, k) for k in keep}


def choice(name: str, value: Any, flag: str | None = None) -> Any:
    """``value`` if it is one of option ``name``'s values, else the one-line error naming them."""
    from .families.qa import ANSWER_TEXT, NBEST_OVER
    from .families.tagging import WINDOWS
    from .mining import SEARCHES

    allowed = {"split": SPLITS, "pooling": POOLINGS, "dtype": DTYPES, "version": VERSIONS, "qa_nbest": NBEST_OVER,
               "tagging_windows": WINDOWS, "qa_answer_text": ANSWER_TEXT, "retrieval_search": SEARCHES}[name]
    if value not in allowed:
        raise UserError(f"{flag or '--' + name.replace('_', '-')} must be {' or '.join(allowed)}, not '{value}'")
    return value


def parse_batch_size(value: Any) -> str | int:
    """'auto' or a positive integer."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise UserError(f"--batch-size must be 'auto' or a positive integer, not '{value}'")
    return size


def _log(msg: str) -> None:
    if is_main():
        print(f"xtreme-eval: {msg}", file=sys.stderr, flush=True)


class _Loaded:
    """Models and tokenizers loaded once per (checkpoint, family) and reused across languages."""

    def __init__(self, cfg: EvalConfig):
        self.cfg = cfg
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._embedders: OrderedDict[tuple, Embedder] = OrderedDict()
        self._tokenizers: dict[str, Any] = {}  # by the digest of the tokenizer files: suites share one

    def tokenizer(self, ck: Checkpoint):
        """The checkpoint's tokenizer, parsed once per run for every checkpoint whose tokenizer files are the
        same bytes (a 17 MB tokenizer.json takes seconds to parse)."""
        key = tokenizer_digest(ck.path)
        if key not in self._tokenizers:
            self._tokenizers[key] = load_tokenizer(ck, self.cfg.trust_remote_code)
        return self._tokenizers[key]

    def get(self, ck: Checkpoint, family: str):
        key = (ck.path, family)
        if key not in self._cache:
            self._cache.clear()  # one model in memory at a time
            self._embedders.clear()
            tok = self.tokenizer(ck)
            model = load_model(ck, family, self.cfg.device, self.cfg.dtype, self.cfg.trust_remote_code,
                               self.cfg.allow_pickle)
            check_vocabulary(ck.path, model, tok)
            self._cache[key] = (model, tok)
        return self._cache[key]

    def embedder(self, ck: Checkpoint, model, tok, engine) -> Embedder:
        layer = retrieval_layer(ck, self.cfg)
        key = (ck.path, layer, self.cfg.pooling)
        if key not in self._embedders:
            self._embedders[key] = Embedder(model, tok, engine, layer, self.cfg.pooling, self.cfg.dtype,
                                            self.cfg.embedding_cache)
        return self._embedders[key]


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "sentencepiece.bpe.model", "spm.model", "tokenizer.model", "vocab.txt", "vocab.json", "merges.txt")


def tokenizer_digest(path: str) -> str:
    """Which tokenizer a checkpoint folder holds, by the content of its tokenizer files."""
    parts = [(name, file_fingerprint(Path(path) / name)[1]) for name in TOKENIZER_FILES]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _engine(cfg: EvalConfig):
    from .distributed import ShardedEngine
    from .engine import InferenceEngine

    return ShardedEngine(InferenceEngine(device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                         progress=cfg.progress and is_main()))


def retrieval_layer(ck: Checkpoint, cfg: EvalConfig) -> int:
    n = ck.num_hidden_layers
    layer = cfg.retrieval_layer if cfg.retrieval_layer is not None else default_layer(n)
    if n is not None and not 0 <= layer <= n:
        raise UserError(f"--retrieval-layer {layer} is outside 0..{n} for {ck.path} ({n} layers; 0 is the "
                        "embedding output)")
    return layer


# --- resume -------------------------------------------------------------------------------

def run_settings(cfg: EvalConfig, spec: TaskSpec):
    """The family's settings for ``spec`` with this run's options laid over the spec's ``features``."""
    return family_of(spec).settings(spec, {"max_length": cfg.max_length, **protocol_settings(cfg)})


def protocol_settings(cfg) -> dict[str, str]:
    """The protocol options as family settings (read by the QA and tagging families)."""
    return {"nbest_over": cfg.qa_nbest, "windows": cfg.tagging_windows, "answer_text": cfg.qa_answer_text,
            "search": getattr(cfg, "retrieval_search", "exact")}


def fingerprint(cfg: EvalConfig, spec: TaskSpec, ck: Checkpoint, lang: str) -> str:
    """What the figures of one (task, language) depend on; a changed input means a recomputation."""
    parts: dict[str, Any] = {
        "state": STATE_VERSION, "harness": __version__, "task": spec.task, "lang": lang, "split": cfg.split,
        "limit": cfg.limit, "max_length": cfg.max_length, "dtype": cfg.dtype, "spec": _spec_hash(spec),
        "settings": run_settings(cfg, spec).values,
        "model": ck.path, "checkpoint": folder_fingerprint(ck.path), "labels": ck.task_labels,
    }
    if family_of(spec).head is None:
        parts.update(layer=cfg.retrieval_layer, pooling=cfg.pooling)
    if not str(cfg.data_dir).startswith("hf"):  # every file read, gold and pools included, present or not
        parts["data"] = [file_fingerprint(p) for p in split_files(spec, cfg.data_dir, lang, cfg.split).values()]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _spec_hash(spec: TaskSpec) -> str:
    return hashlib.sha256(json.dumps(asdict(spec), sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- the run -------------------------------------------------------------------------------

def _model_info(model: str, res) -> dict[str, Any]:
    """What was scored: the checkpoint(s), each task's model id, commit and label map, and its STILTs lineage."""
    cks = list(res.checkpoints.values())
    intermediate = None
    base = None
    for ck in cks:
        if "xtreme_intermediate" in ck.config:
            intermediate = list(ck.config.get("xtreme_intermediate") or [])
            base = ck.config.get("xtreme_base_model")
            break
    commits = {ck.commit for ck in cks}
    revision = next(iter(commits)) if len(commits) == 1 else None
    return {"name": res.name or Path(model.rstrip("/")).name or model, "path": model, "revision": revision,
            "kind": res.kind, "protocol": "fine-tuned transfer", "intermediate": intermediate, "base_model": base,
            "checkpoints": {t: ck.path for t, ck in res.checkpoints.items()},
            "tasks": {t: ck.identity() for t, ck in res.checkpoints.items()}}


def evaluate(model: str, tasks: str = "all", languages: str = "all", data_dir: str = "download",
             split: str = "test", output: str = "xtreme-results", **kwargs) -> dict[str, Any]:
    """Score ``model`` (a checkpoint, hub id or suite) on ``tasks``; write and return results.json."""
    cfg = EvalConfig(model=model, tasks=tasks, languages=languages, data_dir=str(data_dir), split=split,
                     output=str(output), **kwargs).validate()
    cfg.device = local_device(cfg.device)
    specs = resolve_tasks(cfg.tasks, cfg.version, cfg.task_dirs)
    res = resolve(cfg.model, specs, cfg.trust_remote_code, cfg.allow_pickle, cfg.label_map)
    _apply_defaults(cfg, res.defaults)
    if not is_main():
        return _evaluate(cfg, specs, res, Path(cfg.output))
    with OutputFolder(cfg.output, cfg.settings(), cfg.overwrite) as out:
        return _evaluate(cfg, specs, res, out)


def _evaluate(cfg: EvalConfig, specs: list[TaskSpec], res, out: Path) -> dict[str, Any]:
    skipped_langs: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    plan = []
    for spec in specs:
        if spec.task in res.skipped:
            continue
        if cfg.split not in spec.splits:
            res.skipped[spec.task] = f"{spec.task} has no {cfg.split} split (it has: {', '.join(spec.splits)})"
            continue
        langs = plan_languages(spec, cfg.languages, cfg.split, cfg.data_dir, cfg.version, skipped_langs, missing)
        plan.append((spec, res.checkpoints[spec.task], langs))
    for task, reason in res.skipped.items():
        _log(f"skipping {task}: {reason}")

    results = Results(_model_info(cfg.model, res),
                      {k: v for k, v in asdict(cfg).items() if k not in ("progress", "overwrite")},
                      cfg.version, res.skipped)
    loaded = _Loaded(cfg)
    engine = None
    timings: dict[str, float] = {}
    for spec, ck, langs in plan:
        states: dict[str, dict] = {}
        t0 = time.perf_counter()
        for lang in langs:
            fp = fingerprint(cfg, spec, ck, lang)
            state = read_state(safe_join(out, "state", spec.task, f"{lang}.json"))
            if state and state.get("fingerprint") == fp:
                _log(f"{spec.task}/{lang}: reusing finished result")
            else:
                if engine is None:
                    engine = _engine(cfg)
                state = _run_one(spec, ck, lang, cfg, loaded, engine, out, fp)
            states[lang] = state
        timings[spec.task] = time.perf_counter() - t0
        results.add_task(spec, cfg.split, states, langs, skipped=skipped_langs.get(spec.task, {}),
                         missing_data=missing.get(spec.task, []))
        if is_main():
            results.write(out, timings)
    return results.write(out, timings) if is_main() else results.document()


def _apply_defaults(cfg: EvalConfig, defaults: dict[str, Any]) -> None:
    """A manifest's ``defaults`` fill the options left at their own defaults (flags given explicitly win)."""
    if defaults.get("pooling") and cfg.pooling == "mean":
        cfg.pooling = defaults["pooling"]
    if defaults.get("layer") is not None and cfg.retrieval_layer is None:
        cfg.retrieval_layer = defaults["layer"]
    if defaults.get("max_length") is not None and cfg.max_length is None:
        cfg.max_length = defaults["max_length"]


def _run_one(spec: TaskSpec, ck: Checkpoint, lang: str, cfg: EvalConfig, loaded: _Loaded, engine, out: Path,
             fp: str) -> dict:
    from .distributed import barrier

    t0 = time.perf_counter()
    fam = family_of(spec)
    examples = read_split(spec, cfg.data_dir, lang, cfg.split, cfg.limit)
    model, tok = loaded.get(ck, spec.family)
    context: dict[str, Any] = {}
    if fam.head is None:
        context.update(embedder=loaded.embedder(ck, model, tok, engine), data_dir=cfg.data_dir, split=cfg.split)
    predictions = fam.predict(spec, examples, model, tok, engine, run_settings(cfg, spec),
                              labels=ck.task_labels, lang=lang, **context)
    seconds = round(time.perf_counter() - t0, 3)
    # every process holds the same predictions; one writes them
    state = score_and_write(out, spec, predictions, fp, write=is_main(), seconds=seconds)
    barrier()
    shown = ", ".join(f"{k}={v:.2f}" for k, v in (state.get("metrics") or {}).items())
    _log(f"{spec.task}/{lang}: {shown or 'no gold labels: predictions written, not scored'} "
         f"({state['n']} examples, {seconds:.1f}s)")
    return state
