"""The whole ``xtreme-eval`` path per task: two trees side by side, a time breakdown, and the tools a user would
otherwise pick, on the same checkpoint and inputs.

For each task, ``xtreme-eval --tasks TASK`` runs in a fresh process (so that
model load, reading and writing count, as they do for a user), once for the
baseline tree (``--baseline``, e.g. a worktree of the commit speed work starts
from) and once for the current tree, interleaved (A, B, then B, A, ...) over
``--repeats``. The harness itself is not changed: a small wrapper
(``--worker harness``) times its seams from outside, by wrapping the functions
each stage goes through, and then calls ``cli.eval_main``. Time is exclusive
(a stage's time excludes the stages it calls), so the columns add up:

  load       models.load_model / load_tokenizer / check_vocabulary
  read       data.readers.read_split
  tokenise   every tokenizer call (PreTrainedTokenizerBase.__call__ / encode)
  featurise  the families' featurize and embedding.embed, less their tokenizer calls
  batching   InferenceEngine.run less the forward passes (sorting, padding, copies back, checks)
  model      the forward passes InferenceEngine.run makes
  decode     the families' decode functions; for retrieval the FAISS search and mining (mining.*)
  score      results.score (the official metrics)
  write      results.score_and_write / write_outputs / Results.write (submission, labels, records, state, results.json)
  fingerprint evaluation.fingerprint, read_state, Embedder.key (hashing inputs and checkpoint for resume and cache)
  setup      models.resolve, spec.resolve_tasks, results.plan_languages
  other      the rest of eval_main (argument parsing, output folder, locks, logging)

A seam that a tree lacks (its module is there, the function is not) is reported
(``missing seams``; the modules of the other package layout are not looked for)
and its stage shows n/a when none of its seams exists. Import time (torch, transformers, the
harness) is measured apart and kept out of examples/s; process wall and CPU
time (``os.wait4``) include it.

Ratios are speed ratios: current / baseline is current ex/s over baseline ex/s
(by CPU: baseline CPU s over current CPU s); xtreme-eval / tool is xtreme-eval
ex/s over the tool's, with model load included and excluded. Predictions of
the current tree must be identical across repeats (exit 1 otherwise); whether
the baseline's match is printed as information.

Tools, in their own processes with the same threads: transformers
``pipeline`` (text-classification, token-classification, question-answering,
batch 32, CPU; a task the installed transformers no longer has is reported
as unavailable), ``Trainer.predict`` (``DataCollatorWithPadding``,
length-grouped sampling, batch 32), ``sentence-transformers`` ``encode``
(mean pooling, batch 32) and the loop XTREME's own scripts run (float32,
batches of 32 in arrival order, ``model(**batch)`` under ``torch.no_grad``,
inputs padded to the max length: 128 for classification and tagging, 384 with
stride 128 for QA, the batch's longest for retrieval as
``evaluate_retrieval.py`` does), each with its own tokenisation. Inputs are
read with the current tree's reader before the clock starts; each tool row is
timed as model load plus the work (tokenise, forward, decode to the
submission's units). Tagging tools truncate at 128 sub-tokens where
xtreme-eval cuts long sentences into chunks, and Tatoeba's tools pool the last
layer where xtreme-eval pools XTREME's layer (the forward is the same), so the
agreement column is information, not a check.

    python bench/bench_pipeline.py --baseline /tmp/baseline --model tiny --threads 1 --repeats 2 --tool-repeats 1
    python bench/bench_pipeline.py --baseline /tmp/baseline --tasks xnli,panx --limit 200 --threads 1,2   # quick
    python bench/bench_pipeline.py --baseline /tmp/baseline --model me5 --tasks xnli --languages de --limit 1500 \\
        --tools pipeline --threads 1 --repeats 2 --json me5-xnli.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"

TASKS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba", "xcopa")
FAMILY = {"xnli": "classification", "pawsx": "classification", "udpos": "tagging", "panx": "tagging",
          "xquad": "qa", "mlqa": "qa", "tydiqa": "qa", "bucc2018": "retrieval", "tatoeba": "retrieval",
          "xcopa": "multiple_choice"}
EXTRA_ARGS = {"xcopa": ["--version", "xtreme-r"]}  # XCOPA is an XTREME-R task
# The split with gold labels in the shared data (its README): PAWS-X test has gold for de only, PAN-X test none,
# MLQA has only dev, BUCC only its sample ("dev") set. TyDiQA-GoldP's test is the official dev file.
SPLIT = {"xnli": "test", "pawsx": "dev", "udpos": "test", "panx": "dev", "xquad": "test", "mlqa": "dev",
         "tydiqa": "test", "bucc2018": "dev", "tatoeba": "test", "xcopa": "test"}
STAGES = ("load", "read", "tokenise", "featurise", "batching", "model", "decode", "score", "write", "fingerprint",
          "setup", "other")
# (stage, module, attribute): the functions wrapped in the harness process
SEAMS = (
    ("load", "xtreme_harness.models", "load_model"),
    ("load", "xtreme_harness.models", "load_tokenizer"),
    ("load", "xtreme_harness.models", "check_vocabulary"),
    ("read", "xtreme_harness.data.readers", "read_split"),
    ("tokenise", "transformers.tokenization_utils_base", "PreTrainedTokenizerBase.__call__"),
    ("tokenise", "transformers.tokenization_utils_base", "PreTrainedTokenizerBase.encode"),
    ("featurise", "xtreme_harness.families.classification", "featurize"),
    ("featurise", "xtreme_harness.families.tagging", "featurize"),
    ("featurise", "xtreme_harness.families.qa", "featurize"),
    ("featurise", "xtreme_harness.embedding", "embed"),
    ("batching", "xtreme_harness.engine", "InferenceEngine.run"),
    ("decode", "xtreme_harness.families.classification", "decode"),
    ("decode", "xtreme_harness.families.tagging", "decode"),
    ("decode", "xtreme_harness.families.qa", "decode"),
    ("decode", "xtreme_harness.families.qa", "_null_answers"),
    ("decode", "xtreme_harness.mining", "tatoeba_predict"),
    ("decode", "xtreme_harness.mining", "tatoeba_accuracy_both"),
    ("decode", "xtreme_harness.mining", "mine_candidates"),
    ("decode", "xtreme_harness.mining", "best_threshold"),
    ("decode", "xtreme_harness.mining", "apply_threshold"),
    ("decode", "xtreme_harness.mining", "knn"),
    ("score", "xtreme_harness.results", "score"),
    ("write", "xtreme_harness.results", "score_and_write"),
    ("write", "xtreme_harness.results", "write_outputs"),
    ("write", "xtreme_harness.results", "Results.write"),
    ("fingerprint", "xtreme_harness.evaluation", "fingerprint"),
    ("fingerprint", "xtreme_harness.results", "read_state"),
    ("fingerprint", "xtreme_harness.embedding", "Embedder.key"),
    ("setup", "xtreme_harness.models", "resolve"),
    ("setup", "xtreme_harness.spec", "resolve_tasks"),
    ("setup", "xtreme_harness.results", "plan_languages"),
    # the same seams in the layered package (the ones above are kept for trees of harness 0.2.0)
    ("load", "xtreme_harness.producers.native", "load_model"),
    ("load", "xtreme_harness.producers.native", "load_tokenizer"),
    ("load", "xtreme_harness.producers.native", "check_vocabulary"),
    ("read", "xtreme_harness.tasks.data", "read_split"),
    ("featurise", "xtreme_harness.producers.embedding", "HiddenStateEncoder.encode"),
    ("batching", "xtreme_harness.producers.engine", "InferenceEngine.run"),
    ("score", "xtreme_harness.tasks.scoring", "score"),
    ("write", "xtreme_harness.tasks.results", "score_and_write"),
    ("write", "xtreme_harness.tasks.results", "write_outputs"),
    ("write", "xtreme_harness.tasks.results", "Results.write"),
    ("fingerprint", "xtreme_harness.run", "resume_key"),
    ("fingerprint", "xtreme_harness.tasks.results", "read_state"),
    ("fingerprint", "xtreme_harness.producers.embedding", "CachedEncoder.key"),
    ("setup", "xtreme_harness.producers.checkpoints", "resolve"),
    ("setup", "xtreme_harness.tasks.registry", "resolve_tasks"),
    ("setup", "xtreme_harness.tasks.data", "plan_languages"),
    # the array paths (Rust batch encoding into columns, the feature cache, vectorised decoding)
    ("load", "xtreme_harness.producers.native", "CheckpointProducer.vocabulary_top"),
    ("tokenise", "xtreme_harness.families.tokens", "encode"),
    ("featurise", "xtreme_harness.families.base", "cached_rows"),
    ("featurise", "xtreme_harness.families.classification", "featurize_rows"),
    ("featurise", "xtreme_harness.families.multiple_choice", "featurize_rows"),
    ("featurise", "xtreme_harness.families.tagging", "featurize_rows"),
    ("featurise", "xtreme_harness.families.qa", "featurize_rows"),
    ("featurise", "xtreme_harness.producers.embedding", "HiddenStateEncoder.features"),
    ("decode", "xtreme_harness.families.multiple_choice", "decode"),
    ("decode", "xtreme_harness.families.tagging", "decode_rows"),
    ("decode", "xtreme_harness.families.qa", "decode_rows"),
)
# seams only the array paths' tree has: not reported as missing on a tree without them
NEW_SEAMS = {"vocabulary_top", "encode", "cached_rows", "featurize_rows", "features", "decode_rows"}
# Tools per family, and the tasks that get tool rows unless --tool-tasks says otherwise
TOOLS = {"classification": ("pipeline", "trainer", "official"), "tagging": ("pipeline", "trainer", "official"),
         "qa": ("pipeline", "official"), "retrieval": ("st", "official"), "multiple_choice": ()}
TOOL_TASKS = ("xnli", "udpos", "panx", "xquad", "tatoeba")
TOOL_NAMES = {
    ("classification", "pipeline"): 'pipeline("text-classification")',
    ("tagging", "pipeline"): 'pipeline("token-classification")',
    ("qa", "pipeline"): 'pipeline("question-answering")',
    ("classification", "trainer"): "Trainer.predict",
    ("tagging", "trainer"): "Trainer.predict",
    ("retrieval", "st"): "SentenceTransformer.encode",
    ("classification", "official"): "XTREME-style loop (pad 128)",
    ("tagging", "official"): "XTREME-style loop (pad 128)",
    ("qa", "official"): "XTREME-style loop (pad 384, stride 128)",
    ("retrieval", "official"): "XTREME-style loop (pad to batch max)",
}
BATCH = 32
TRAINER_DIR = os.path.join(tempfile.gettempdir(), f"bench-trainer-{os.getpid()}")  # Trainer wants one; nothing is saved
PYCACHE = os.path.join(tempfile.gettempdir(), "bench-pipeline-pycache")


# =====================================================================================================
# worker: xtreme-eval with timed seams
# =====================================================================================================

class StageClock:
    """Exclusive wall and CPU time per stage and per seam: entering a seam pauses the one it was called from.

    Each thread keeps its own stack (the run loop featurises the next language in a thread while the main
    thread runs the model): the stage columns are the main thread's, and what other threads spend in the
    seams is kept apart (``ahead_wall``/``ahead_cpu``). CPU time is the thread's own."""

    def __init__(self):
        self.wall = {s: 0.0 for s in STAGES}
        self.cpu = {s: 0.0 for s in STAGES}
        self.calls = {s: 0 for s in STAGES}
        self.ahead_wall = {s: 0.0 for s in STAGES}
        self.ahead_cpu = {s: 0.0 for s in STAGES}
        self.seams: dict[str, list] = {}  # seam -> [wall, cpu, calls], main thread
        self.stacks: dict[int, list[list]] = {}  # thread -> [[stage, seam, wall start, cpu start], ...]
        self.main = threading.get_ident()

    @property
    def stack(self) -> list[list]:
        return self.stacks.setdefault(threading.get_ident(), [])

    def _add(self, entry, now, cpu) -> None:
        stage, seam, t0, c0 = entry
        if threading.get_ident() != self.main:
            self.ahead_wall[stage] += now - t0
            self.ahead_cpu[stage] += cpu - c0
            return
        self.wall[stage] += now - t0
        self.cpu[stage] += cpu - c0
        acc = self.seams.setdefault(seam, [0.0, 0.0, 0])
        acc[0] += now - t0
        acc[1] += cpu - c0

    def enter(self, stage: str, seam: str | None = None) -> None:
        now, cpu, stack = time.perf_counter(), time.thread_time(), self.stack
        if stack:
            self._add(stack[-1], now, cpu)
        stack.append([stage, seam or stage, now, cpu])
        if threading.get_ident() == self.main:
            self.calls[stage] += 1
            self.seams.setdefault(seam or stage, [0.0, 0.0, 0])[2] += 1

    def leave(self) -> None:
        now, cpu, stack = time.perf_counter(), time.thread_time(), self.stack
        self._add(stack.pop(), now, cpu)
        if stack:
            stack[-1][2], stack[-1][3] = now, cpu

    def wrap(self, stage: str, fn, seam: str | None = None):
        clock = self

        def timed(*args, **kwargs):
            clock.enter(stage, seam)
            try:
                return fn(*args, **kwargs)
            finally:
                clock.leave()

        timed.__wrapped__ = fn
        timed.__name__ = getattr(fn, "__name__", "timed")
        timed.__doc__ = getattr(fn, "__doc__", None)
        return timed


def _install_seams(clock: StageClock, engine_totals: dict) -> tuple[list[str], set[str]]:
    """Wrap every seam that exists; functions imported by name elsewhere in the harness are rebound too."""
    import importlib

    missing, present, found = [], set(), set()
    for stage, mod_name, attr in SEAMS:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:  # the other package layout's module: not a seam this tree lacks
            continue
        owner, name = mod, attr
        if "." in attr:
            cls_name, name = attr.split(".", 1)
            owner = getattr(mod, cls_name, None)
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if owner is None or original is None:
            missing.append((mod_name, attr))
            continue
        if mod_name.endswith(".engine") and attr == "InferenceEngine.run":
            wrapped = _timed_engine_run(clock, original, engine_totals, mod)
            present.add("model")
        else:
            wrapped = clock.wrap(stage, original, f"{mod_name.rsplit('.', 1)[-1]}.{attr}")
        setattr(owner, name, wrapped)
        present.add(stage)
        found.add(attr)
        if not isinstance(owner, type):  # rebind ``from x import f`` copies in the harness's modules
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").startswith("xtreme_harness") and other is not mod:
                    if getattr(other, name, None) is original:
                        setattr(other, name, wrapped)
    return [f"{mod_name}.{attr}" for mod_name, attr in missing if attr not in found], present  # moved, not gone


def _timed_engine_run(clock: StageClock, original, totals: dict, engine_mod):
    """``InferenceEngine.run`` as 'batching', its ``forward`` calls as 'model'; engine counters summed."""

    def run(self, model, features, *args, **kwargs):
        if args:
            args = (clock.wrap("model", args[0], "forward"),) + args[1:]
        else:
            kwargs["forward"] = clock.wrap("model", kwargs.get("forward", engine_mod.logits_forward), "forward")
        clock.enter("batching", "engine.InferenceEngine.run")
        try:
            return original(self, model, features, *args, **kwargs)
        finally:
            clock.leave()
            stats = getattr(self, "stats", None)
            for key in ("examples", "tokens", "padded_tokens", "batches"):
                totals[key] = totals.get(key, 0) + int(getattr(stats, key, 0) or 0)

    run.__wrapped__ = original
    return run


def _set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def _preimport() -> None:
    """Import the model and tokenizer modules up front in every worker, so that 'load' is reading and building
    a checkpoint on every side, whichever library happens to import them early (Python imports are timed apart)."""
    import importlib

    for name in ("transformers.models.xlm_roberta.modeling_xlm_roberta", "transformers.models.bert.modeling_bert",
                 "transformers.tokenization_utils_tokenizers", "transformers.models.auto.modeling_auto",
                 "transformers.models.auto.tokenization_auto"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def harness_worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench_pipeline.py --worker harness")
    p.add_argument("--tree", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("eval_args", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    eval_args = args.eval_args[1:] if args.eval_args[:1] == ["--"] else args.eval_args
    t0, c0 = time.perf_counter(), time.process_time()
    _set_threads(args.threads)
    import xtreme_harness
    import xtreme_harness.cli as cli
    for name in ("xtreme_harness.run", "xtreme_harness.evaluation"):  # the seams' modules, before wrapping
        try:
            __import__(name)
        except ImportError:
            pass
    import xtreme_harness.families  # noqa: F401

    _preimport()

    where = Path(xtreme_harness.__file__).resolve()
    if Path(args.tree).resolve() not in where.parents:
        print(f"bench worker: xtreme_harness comes from {where}, not from {args.tree}", file=sys.stderr)
        return 3
    clock, engine_totals = StageClock(), {}
    missing, present = _install_seams(clock, engine_totals)
    t1, c1 = time.perf_counter(), time.process_time()
    clock.enter("other")
    try:
        rc = cli.eval_main(eval_args)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        clock.leave()
    t2, c2 = time.perf_counter(), time.process_time()
    missing = [m for m in missing if m.rsplit(".", 1)[-1] not in NEW_SEAMS]
    stages_missing = [s for s in STAGES if s not in present and s != "other"]
    report = {"rc": rc, "import_s": t1 - t0, "import_cpu_s": c1 - c0, "run_s": t2 - t1, "run_cpu_s": c2 - c1,
              "stages": {s: (None if s in stages_missing else clock.wall[s]) for s in STAGES},
              "stages_cpu": {s: (None if s in stages_missing else clock.cpu[s]) for s in STAGES},
              "calls": clock.calls, "missing_seams": missing, "engine": engine_totals,
              "ahead": {s: clock.ahead_wall[s] for s in STAGES if clock.ahead_wall[s]},
              "ahead_cpu": {s: clock.ahead_cpu[s] for s in STAGES if clock.ahead_cpu[s]},
              "seams": {k: {"s": v[0], "cpu_s": v[1], "calls": v[2]} for k, v in clock.seams.items()},
              "harness": str(where.parent), "version": getattr(xtreme_harness, "__version__", None)}
    Path(args.report).write_text(json.dumps(report, indent=1))
    return 0


# =====================================================================================================
# worker: the tools
# =====================================================================================================

def _read_inputs(tree: str, task: str, data_dir: str, split: str, langs: list[str], limit: int | None):
    """The examples xtreme-eval reads, per language, through the current tree's own reader."""
    sys.path.insert(0, tree)
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.tasks.registry import resolve_tasks

    spec = resolve_tasks(task)[0]
    return {lang: read_split(spec, data_dir, lang, split, limit) for lang in langs}


def _retrieval_layer(config) -> int:
    """xtreme-eval's default layer (8 of 12, 14 of 24, else two thirds of the depth)."""
    n = config.num_hidden_layers
    return {12: 8, 24: 14}.get(n, max(1, round(n * 2 / 3)))


def tool_classification(tool, ckpt, inputs, timer):
    import numpy as np
    import torch
    import transformers

    out = {}
    if tool == "pipeline":
        with timer("load"):
            clf = transformers.pipeline("text-classification", model=ckpt, device="cpu")
        with timer("work"):
            for lang, exs in inputs.items():
                res = clf([{"text": e.text_a, "text_pair": e.text_b} for e in exs], batch_size=BATCH,
                          truncation=True, max_length=128)
                out[lang] = [r["label"] if isinstance(r, dict) else r[0]["label"] for r in res]
        return out
    with timer("load"):
        tok = transformers.AutoTokenizer.from_pretrained(ckpt)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
        id2label = model.config.id2label
        trainer = _trainer(model, tok) if tool == "trainer" else None
    with timer("work"):
        for lang, exs in inputs.items():
            a, b = [e.text_a for e in exs], [e.text_b for e in exs]
            if tool == "trainer":
                enc = tok(a, b, truncation=True, max_length=128)
                rows = [{k: enc[k][i] for k in enc.keys()} for i in range(len(exs))]
                logits = _trainer_predict(trainer, rows)
            else:
                enc = tok(a, b, truncation=True, max_length=128, padding="max_length", return_tensors="pt")
                parts = []
                with torch.no_grad():
                    for s in range(0, len(exs), BATCH):
                        batch = {k: v[s:s + BATCH] for k, v in enc.items()}
                        parts.append(model(**batch).logits.numpy())
                logits = np.concatenate(parts) if parts else np.zeros((0, len(id2label)))
            out[lang] = [id2label[int(i)] for i in logits.argmax(-1)]
    return out


def _trainer(model, tok):
    import transformers

    kwargs = dict(output_dir=TRAINER_DIR, per_device_eval_batch_size=BATCH,
                  report_to="none", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
    fields = transformers.TrainingArguments.__dataclass_fields__
    if "train_sampling_strategy" in fields:  # transformers >= 5: also sorts evaluation batches by length
        kwargs["train_sampling_strategy"] = "group_by_length"
    else:
        kwargs["group_by_length"] = True
    args = transformers.TrainingArguments(**kwargs)
    return transformers.Trainer(model=model, args=args, data_collator=transformers.DataCollatorWithPadding(tok),
                                processing_class=tok)


def _trainer_predict(trainer, rows):
    """Trainer.predict's logits put back in input order: a length-grouped sampler hands them back permuted."""
    import numpy as np

    pred = trainer.predict(rows).predictions
    pred = pred[0] if isinstance(pred, tuple) else pred
    sampler = trainer._get_eval_sampler(rows)
    order = list(sampler) if sampler is not None else list(range(len(rows)))
    back = np.empty_like(pred)
    back[np.asarray(order)] = pred
    return back


def tool_tagging(tool, ckpt, inputs, timer):
    import numpy as np
    import torch
    import transformers

    out = {}
    if tool == "pipeline":
        with timer("load"):
            tagger = transformers.pipeline("token-classification", model=ckpt, device="cpu")
            default = tagger.model.config.id2label[0]
        with timer("work"):
            for lang, exs in inputs.items():
                sents = [list(e.tokens) for e in exs]
                res = tagger(sents, batch_size=BATCH, is_split_into_words=True, ignore_labels=[])
                if sents and isinstance(res, list) and res and isinstance(res[0], dict):
                    res = [res]
                out[lang] = [_words_from_pipeline(s, r, default) for s, r in zip(sents, res)]
        return out
    with timer("load"):
        tok = transformers.AutoTokenizer.from_pretrained(ckpt)
        model = transformers.AutoModelForTokenClassification.from_pretrained(ckpt).eval()
        id2label = model.config.id2label
        trainer = _trainer(model, tok) if tool == "trainer" else None
    with timer("work"):
        for lang, exs in inputs.items():
            sents = [list(e.tokens) for e in exs]
            if tool == "trainer":
                enc = tok(sents, is_split_into_words=True, truncation=True, max_length=128)
                rows = [{k: enc[k][i] for k in enc.keys()} for i in range(len(sents))]
                logits = _trainer_predict(trainer, rows) if rows else np.zeros((0, 1, len(id2label)))
            else:
                enc = tok(sents, is_split_into_words=True, truncation=True, max_length=128, padding="max_length",
                          return_tensors="pt")
                parts = []
                with torch.no_grad():
                    for s in range(0, len(sents), BATCH):
                        batch = {k: v[s:s + BATCH] for k, v in enc.items()}
                        parts.append(model(**batch).logits.numpy())
                logits = np.concatenate(parts) if parts else np.zeros((0, 128, len(id2label)))
            best = logits.argmax(-1)
            tags = []
            for i, words in enumerate(sents):
                row = [id2label[0]] * len(words)  # words cut off by truncation keep the first label
                seen = set()
                for pos, w in enumerate(enc.word_ids(i)):
                    if w is not None and w not in seen:
                        seen.add(w)
                        row[w] = id2label[int(best[i, pos])]
                tags.append(row)
            out[lang] = tags
    return out


def _words_from_pipeline(words, entities, default):
    """One tag per word from a token-classification pipeline's per-sub-token output (first sub-token wins)."""
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    tags = [None] * len(words)
    import bisect

    for ent in entities:
        k = bisect.bisect_right(starts, ent["start"]) - 1
        if 0 <= k < len(words) and tags[k] is None:
            tags[k] = ent["entity"]
    return [t if t is not None else default for t in tags]


class ToolUnavailable(Exception):
    """The installed libraries do not offer this tool."""


def tool_qa(tool, ckpt, inputs, timer):
    import numpy as np
    import torch
    import transformers

    out = {}
    if tool == "pipeline":
        with timer("load"):
            try:
                qa = transformers.pipeline("question-answering", model=ckpt, device="cpu")
            except KeyError as exc:  # transformers 5 removed the task
                raise ToolUnavailable(f"transformers {transformers.__version__}: "
                                      f"{str(exc).strip(chr(39)).split('. ')[0]}") from None
        with timer("work"):
            for lang, exs in inputs.items():
                res = qa([{"question": e.question, "context": e.context} for e in exs], batch_size=BATCH,
                         max_seq_len=384, doc_stride=128, max_answer_len=30, max_question_len=64)
                res = [res] if isinstance(res, dict) else res
                out[lang] = {e.id: r["answer"] for e, r in zip(exs, res)}
        return out
    with timer("load"):
        tok = transformers.AutoTokenizer.from_pretrained(ckpt)
        model = transformers.AutoModelForQuestionAnswering.from_pretrained(ckpt).eval()
    with timer("work"):
        for lang, exs in inputs.items():
            enc = tok([e.question for e in exs], [e.context for e in exs], truncation="only_second", max_length=384,
                      stride=128, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
            tensors = {k: torch.tensor(enc[k]) for k in keys}
            starts, ends = [], []
            with torch.no_grad():
                for s in range(0, len(enc["input_ids"]), BATCH):
                    o = model(**{k: v[s:s + BATCH] for k, v in tensors.items()})
                    starts.append(o.start_logits.numpy())
                    ends.append(o.end_logits.numpy())
            sl, el = np.concatenate(starts), np.concatenate(ends)
            best: dict[int, tuple[float, str]] = {}
            for j, i in enumerate(enc["overflow_to_sample_mapping"]):
                ctx = [k for k, sid in enumerate(enc.sequence_ids(j)) if sid == 1]
                lo, hi = ctx[0], ctx[-1]
                offsets = enc["offset_mapping"][j]
                for s in np.argsort(-sl[j])[:20]:
                    if not lo <= s <= hi:
                        continue
                    for e in np.argsort(-el[j])[:20]:
                        if e < s or e > hi or e - s + 1 > 30:
                            continue
                        score = float(sl[j, s] + el[j, e])
                        if i not in best or score > best[i][0]:
                            best[i] = (score, exs[i].context[offsets[s][0]:offsets[e][1]])
            out[lang] = {e.id: best.get(i, (0.0, ""))[1] for i, e in enumerate(exs)}
    return out


def tool_retrieval(tool, ckpt, inputs, timer):
    """Tatoeba: embed the English queries and the whole non-English side, nearest neighbour by cosine."""
    import numpy as np
    import torch
    import transformers

    out = {}
    if tool == "st":
        from sentence_transformers import SentenceTransformer, models

        with timer("load"):
            word = models.Transformer(ckpt, max_seq_length=512)
            pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
            st = SentenceTransformer(modules=[word, pool], device="cpu")

        def encode(texts):
            return st.encode(texts, batch_size=BATCH, convert_to_numpy=True, show_progress_bar=False)
    else:
        with timer("load"):
            tok = transformers.AutoTokenizer.from_pretrained(ckpt)
            model = transformers.AutoModel.from_pretrained(ckpt).eval()
            layer = _retrieval_layer(model.config)

        def encode(texts):
            ids = tok(texts, truncation=True, max_length=512)["input_ids"]
            pad = tok.pad_token_id
            parts = []
            with torch.no_grad():
                for s in range(0, len(ids), BATCH):  # arrival order, padded to the batch's longest (XTREME's
                    chunk = ids[s:s + BATCH]          # use_local_max_length)
                    width = max(len(r) for r in chunk)
                    x = torch.full((len(chunk), width), pad, dtype=torch.long)
                    m = torch.zeros((len(chunk), width), dtype=torch.long)
                    for r, row in enumerate(chunk):
                        x[r, :len(row)] = torch.tensor(row)
                        m[r, :len(row)] = 1
                    h = model(input_ids=x, attention_mask=m, output_hidden_states=True).hidden_states[layer]
                    mf = m.unsqueeze(-1).float()
                    parts.append(((h * mf).sum(1) / mf.sum(1)).numpy())
            return np.concatenate(parts)
    with timer("work"):
        for lang, rset in inputs.items():
            n = rset.queries if rset.queries is not None else len(rset.target)
            src = encode(list(rset.source))
            tgt = encode(list(rset.target[:n]))
            src /= np.linalg.norm(src, axis=1, keepdims=True).clip(1e-12)
            tgt /= np.linalg.norm(tgt, axis=1, keepdims=True).clip(1e-12)
            out[lang] = [int(i) for i in (tgt @ src.T).argmax(1)]
    return out


def tool_worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench_pipeline.py --worker tool")
    for name in ("--tool", "--task", "--ckpt", "--data-dir", "--split", "--languages", "--tree", "--report",
                 "--preds"):
        p.add_argument(name, required=name != "--preds")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    t0, c0 = time.perf_counter(), time.process_time()
    _set_threads(args.threads)
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.tool == "st":
        import sentence_transformers  # noqa: F401
    _preimport()
    t1, c1 = time.perf_counter(), time.process_time()
    inputs = _read_inputs(args.tree, args.task, args.data_dir, args.split, args.languages.split(","), args.limit)
    times: dict[str, list[float]] = {}

    class timer:
        def __init__(self, what):
            self.what = what

        def __enter__(self):
            self.t, self.c = time.perf_counter(), time.process_time()

        def __exit__(self, *exc):
            w, c = times.setdefault(self.what, [0.0, 0.0])
            times[self.what] = [w + time.perf_counter() - self.t, c + time.process_time() - self.c]

    fn = {"classification": tool_classification, "tagging": tool_tagging, "qa": tool_qa,
          "retrieval": tool_retrieval}[FAMILY[args.task]]
    try:
        preds = fn(args.tool, args.ckpt, inputs, timer)
    except ToolUnavailable as exc:
        Path(args.report).write_text(json.dumps({"rc": 0, "n": 0, "unavailable": str(exc)}))
        return 0
    n = sum(len(v) for v in preds.values())
    report = {"rc": 0, "n": n, "load_s": times["load"][0], "load_cpu_s": times["load"][1],
              "work_s": times["work"][0], "work_cpu_s": times["work"][1], "import_s": t1 - t0,
              "import_cpu_s": c1 - c0, "versions": _versions()}
    shutil.rmtree(TRAINER_DIR, ignore_errors=True)
    if args.preds:
        Path(args.preds).write_text(json.dumps(preds, ensure_ascii=False))
    Path(args.report).write_text(json.dumps(report, indent=1))
    return 0


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out = {}
    for name in ("torch", "transformers", "tokenizers", "sentence-transformers", "faiss-cpu", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# =====================================================================================================
# the driver
# =====================================================================================================

def thread_env(threads: int) -> dict[str, str]:
    """torch, OpenMP/MKL (FAISS too) and the Rust tokenizers' pool all limited to ``threads``."""
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS",
                "RAYON_RS_NUM_CPUS"):
        env[key] = str(threads)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONHASHSEED="0",
               TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="true" if threads > 1 else "false")
    # Byte-compiled modules as an installed package has them, kept outside the trees (which stay untouched):
    # without them every process compiles the harness's sources again, inside the timed call for lazy imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def run_process(cmd: list[str], env: dict, timeout: float, log: Path) -> dict:
    """Run one worker; its wall time and CPU time (user + system, from wait4) as the parent sees them."""
    t0 = time.perf_counter()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=str(ROOT))
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "process_s": time.perf_counter() - t0,
            "process_cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mib": usage.ru_maxrss / 1024}


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def snapshot(tree: Path, dest: Path) -> Path:
    """A copy of a tree's harness package (sources, task specs) to run from: the tree itself may be edited."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copytree(tree / "xtreme_harness", dest / "xtreme_harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def tree_digest(tree: Path) -> str:
    """sha256 of the harness's sources in a tree: a tree edited during the run shows as several digests."""
    h = hashlib.sha256()
    for p in sorted((tree / "xtreme_harness").rglob("*")):
        if p.suffix in (".py", ".yaml") and p.is_file():
            h.update(str(p.relative_to(tree)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def prediction_digest(out: Path, task: str) -> dict[str, str]:
    """sha256 of every prediction file of a task, by file name."""
    folder = out / "predictions" / task
    if not folder.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.iterdir()) if p.is_file()}


def examples_done(out: Path, task: str) -> dict[str, int]:
    """Examples scored per language, from the state files both trees write."""
    folder = out / "state" / task
    counts = {}
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            counts[p.stem] = int(json.loads(p.read_text())["n"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return counts


def run_harness(tree: Path, side: str, task: str, args, suite: Path, threads: int, work: Path, tag: str) -> dict:
    out = work / f"out-{tag}"
    report = work / f"report-{tag}.json"
    log = work / f"log-{tag}.txt"
    shutil.rmtree(out, ignore_errors=True)
    eval_args = ["--model", str(suite), "--tasks", task, "--data-dir", str(args.data_dir), "--split", SPLIT[task],
                 "--output", str(out), "--device", args.device]
    if args.languages:
        eval_args += ["--languages", args.languages]
    if args.limit:
        eval_args += ["--limit", str(args.limit)]
    eval_args += EXTRA_ARGS.get(task, [])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "harness", "--tree", str(tree), "--report",
           str(report), "--threads", str(threads), "--"] + eval_args
    env = thread_env(threads)
    env["PYTHONPATH"] = str(tree) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XTREME_FEATURE_CACHE"] = str(feature_cache_dir(work, side, task, args.feature_cache, tag))
    rec = {"kind": "harness", "side": side, "task": task, "threads": threads, "tag": tag,
           "load_before": loadavg(), "tree_digest": tree_digest(tree)}
    rec.update(run_process(cmd, env, args.timeout, log))
    rec["load_after"] = loadavg()
    try:
        rec["report"] = json.loads(report.read_text())
    except (OSError, ValueError):
        rec["report"] = None
    if rec["rc"] != 0 or not rec["report"] or rec["report"].get("rc") not in (0, None):
        rec["error"] = _tail(log)
    rec["n_by_lang"] = examples_done(out, task)
    rec["n"] = sum(rec["n_by_lang"].values())
    rec["predictions"] = prediction_digest(out, task)
    if side == "current" and not (work / "preds" / task).exists() and (out / "predictions" / task).is_dir():
        shutil.copytree(out / "predictions" / task, work / "preds" / task)  # for the tools' agreement check
    try:
        res = json.loads((out / "results.json").read_text())
        rec["avg_metric"] = (res.get("tasks", {}).get(task) or {}).get("avg_metric")
    except (OSError, ValueError):
        rec["avg_metric"] = None
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return rec


def feature_cache_dir(work: Path, side: str, task: str, mode: str, tag: str) -> Path:
    """Where a run keeps tokenised features (``XTREME_FEATURE_CACHE``; a tree without the cache ignores it):
    ``warm``, one folder per side and task, filled by an untimed run before the timed ones; ``cold``, an empty
    folder for every run (tokenisation and the cache's writes are in the figures)."""
    if mode == "cold":
        folder = work / "feature-cache" / f"cold-{tag}"
        shutil.rmtree(folder, ignore_errors=True)
        return folder
    return work / "feature-cache" / f"warm-{side}-{task}"


def warm_up(tree: Path, side: str, task: str, args, suite: Path, threads: int, work: Path) -> None:
    """One untimed run that fills the side's feature cache for ``task`` (``--feature-cache warm``)."""
    rec = run_harness(tree, side, task, args, suite, threads, work, f"warmup-{side}-{task}")
    if rec.get("error"):
        print(f"warm-up {task} {side} failed:\n{rec['error']}", file=sys.stderr)


# --- start-up: --help and the time from the command to the first batch ------------------------------------

FIRST_BATCH = r"""
import os, sys, time
spawned, report = float(sys.argv[1]), sys.argv[2]

class Hook:
    # wraps InferenceEngine.run once its module is loaded: the first forward writes the time and ends the process
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "xtreme_harness.producers.engine":
            return None
        sys.meta_path.remove(cls)
        import importlib.util
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            original = module.InferenceEngine.run

            def patched(self, model, features, forward=module.logits_forward, *args, **kwargs):
                def first(m, batch):
                    with open(report, "w") as f:
                        f.write(repr(time.time() - spawned) + "\n" + module.__file__)
                    os._exit(0)
                return original(self, model, features, first, *args, **kwargs)

            module.InferenceEngine.run = patched
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook)
from xtreme_harness import cli
sys.exit(cli.eval_main(sys.argv[3:]))
"""


def _spawn_timed(cmd: list[str], env: dict, timeout: float, tree: Path) -> tuple[int, float]:
    """Run ``cmd`` in ``tree``: ``python -m``/``-c`` put the working folder first on sys.path, ahead of
    PYTHONPATH, so that is the tree whose package is imported."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                          cwd=str(tree))
    return proc.returncode, time.perf_counter() - t0


def startup_bench(sides, task: str, args, suite: Path, work: Path) -> dict:
    """Per side: ``xtreme-eval --help`` wall time, and the time from spawning ``xtreme-eval --tasks TASK`` to
    its first forward (interpreter start, imports, options, reading, tokenising or the feature cache, model
    load, padding), with an empty and with a filled feature cache; ``args.startup`` runs each, interleaved."""
    out: dict = {"task": task, "runs": args.startup, "sides": {}}
    threads = int(str(args.threads).split(",")[0])
    for side, tree in sides:
        out["sides"][side] = {"help": [], "first_batch_cold": [], "first_batch_warm": []}
    warm_dir = {side: work / "startup-cache" / f"warm-{side}" for side, _ in sides}
    for side, tree in sides:  # fill the warm caches (untimed)
        env = thread_env(threads)
        env.update(PYTHONPATH=str(tree), XTREME_FEATURE_CACHE=str(warm_dir[side]))
        _first_batch(tree, task, args, suite, work, env, full=True)
    for rep in range(args.startup):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for side, tree in order:
            env = thread_env(threads)
            env["PYTHONPATH"] = str(tree)
            rc, secs = _spawn_timed([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--help"], env, 120,
                                    tree)
            out["sides"][side]["help"].append(secs if rc == 0 else None)
            for mode in ("cold", "warm"):
                cache = warm_dir[side] if mode == "warm" else work / "startup-cache" / f"cold-{side}-{rep}"
                if mode == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                env = thread_env(threads)
                env.update(PYTHONPATH=str(tree), XTREME_FEATURE_CACHE=str(cache))
                out["sides"][side][f"first_batch_{mode}"].append(_first_batch(tree, task, args, suite, work, env))
            print(f"startup {side} repeat {rep}: --help {out['sides'][side]['help'][-1]:.2f}s, first batch cold "
                  f"{out['sides'][side]['first_batch_cold'][-1]}, warm {out['sides'][side]['first_batch_warm'][-1]} "
                  f"(load {loadavg()})", file=sys.stderr, flush=True)
    out["load_after"] = loadavg()
    return out


def _first_batch(tree: Path, task: str, args, suite: Path, work: Path, env: dict, full: bool = False):
    """Seconds from spawning xtreme-eval to its first forward (None on failure); ``full`` runs it to the end."""
    out = work / "startup-out"
    shutil.rmtree(out, ignore_errors=True)
    eval_args = ["--model", str(suite), "--tasks", task, "--data-dir", str(args.data_dir), "--split", SPLIT[task],
                 "--output", str(out), "--device", args.device, "--no-progress"]
    if args.languages:
        eval_args += ["--languages", args.languages]
    if args.limit:
        eval_args += ["--limit", str(args.limit)]
    eval_args += EXTRA_ARGS.get(task, [])
    if full:
        cmd = [sys.executable, "-m", "xtreme_harness.cli_entry", "eval"] + eval_args
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=args.timeout,
                       cwd=str(tree))  # the working folder comes first on sys.path: the tree's package
        return None
    report = work / "first-batch.txt"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-c", FIRST_BATCH, repr(time.time()), str(report)] + eval_args
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=args.timeout,
                   cwd=str(tree))
    try:
        seconds, source = report.read_text().split("\n", 1)
    except (OSError, ValueError):
        return None
    if tree.resolve() not in Path(source).resolve().parents:
        raise RuntimeError(f"the first-batch run imported {source}, not the tree {tree}")
    return float(seconds)


def print_startup(st: dict) -> None:
    def stat(xs):
        xs = sorted(x for x in xs if x is not None)
        return "n/a" if not xs else f"{xs[0]:.2f} / {xs[(len(xs) - 1) // 2]:.2f}"

    print(f"### start-up, {st['runs']} runs per side (best / median seconds), task {st['task']}\n")
    print("| tree | xtreme-eval --help | command to first batch, empty feature cache | "
          "command to first batch, filled feature cache |")
    print("|---|---:|---:|---:|")
    for side, v in st["sides"].items():
        print(f"| {side} | {stat(v['help'])} | {stat(v['first_batch_cold'])} | {stat(v['first_batch_warm'])} |")
    print()


def run_tool(tool: str, task: str, args, suite: Path, threads: int, langs: list[str], work: Path, tag: str) -> dict:
    from pipeline_models import suite_folder

    report, log, preds = work / f"report-{tag}.json", work / f"log-{tag}.txt", work / f"preds-{tag}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "tool", "--tool", tool, "--task", task,
           "--ckpt", str(suite / suite_folder(task)), "--data-dir", str(args.data_dir), "--split", SPLIT[task],
           "--languages", ",".join(langs), "--tree", str(args.current), "--report", str(report),
           "--threads", str(threads), "--preds", str(preds)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    rec = {"kind": "tool", "side": tool, "task": task, "threads": threads, "tag": tag, "load_before": loadavg()}
    rec.update(run_process(cmd, thread_env(threads), args.timeout, log))
    rec["load_after"] = loadavg()
    try:
        rec["report"] = json.loads(report.read_text())
        rec["n"] = rec["report"]["n"]
    except (OSError, ValueError, KeyError):
        rec["report"], rec["n"] = None, 0
    if rec["report"] and rec["report"].get("unavailable"):
        rec["unavailable"] = rec["report"]["unavailable"]
        rec["report"] = None
    elif rec["rc"] != 0 or not rec["report"]:
        rec["error"] = _tail(log)
    rec["agreement"] = agreement(task, work / "preds" / task, preds, langs)
    preds.unlink(missing_ok=True)
    return rec


def agreement(task: str, harness_preds: Path, tool_preds: Path, langs: list[str]) -> float | None:
    """Share of units on which a tool predicts what xtreme-eval predicted (labels, tags, answers, indices)."""
    try:
        tool = json.loads(tool_preds.read_text())
    except (OSError, ValueError):
        return None
    same = total = 0
    for lang in langs:
        files = sorted(harness_preds.glob(f"test-{lang}.*")) if harness_preds.is_dir() else []
        if not files or lang not in tool:
            return None
        text = files[0].read_text(encoding="utf-8")
        fam = FAMILY[task]
        if fam == "qa":
            ours = json.loads(text)
            pairs = [(ours.get(k), v) for k, v in tool[lang].items()]
        elif fam == "tagging":
            sents = [s.split("\n") for s in text.strip("\n").split("\n\n")] if text.strip() else []
            pairs = [(a, b) for s, t in zip(sents, tool[lang]) for a, b in zip(s, t)]
        else:
            lines = text.splitlines()
            pairs = list(zip(lines, [str(x) for x in tool[lang]]))
        same += sum(1 for a, b in pairs if a == b)
        total += len(pairs)
    return same / total if total else None


def loadavg():
    from benchcommon import loadavg as _loadavg

    return _loadavg()


def pick(records: list[dict], key, stat: str) -> dict | None:
    """The best (lowest) or the median record by ``key``, so that its breakdown stays consistent."""
    ok = [r for r in records if r.get("report") and not r.get("error")]
    if not ok:
        return None
    ok.sort(key=key)
    return ok[0] if stat == "best" else ok[(len(ok) - 1) // 2]


def h_total(r: dict) -> float:
    return r["report"]["run_s"]


def t_total(r: dict) -> float:
    return r["report"]["load_s"] + r["report"]["work_s"]


def fmt(x, nd=2, na="n/a") -> str:
    if x is None:
        return na
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:2] == ["--worker", "harness"]:
        return harness_worker(argv[2:])
    if argv[:2] == ["--worker", "tool"]:
        return tool_worker(argv[2:])
    sys.path.insert(0, str(HERE))
    from benchcommon import machine
    from pipeline_models import ensure_suite

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", type=Path, default=None, help="tree to compare against (a git worktree)")
    p.add_argument("--current", type=Path, default=ROOT, help="the tree under test (default: this checkout)")
    p.add_argument("--model", default="tiny", help="tiny | me5 | a suite folder")
    p.add_argument("--tasks", default="all", help="all or a comma-separated subset of " + ",".join(TASKS))
    p.add_argument("--languages", default=None, help="comma-separated languages (default: all present)")
    p.add_argument("--limit", type=int, default=None, help="examples per language (xtreme-eval --limit)")
    p.add_argument("--threads", default="1", help="torch/OpenMP/tokenizer threads; a list runs each: 1,2")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--tool-repeats", type=int, default=None,
                   help="run the tools in the first N repeats only (default: all); their rows are then set against "
                        "the xtreme-eval runs of those repeats")
    p.add_argument("--stat", choices=("best", "median"), default="best")
    p.add_argument("--tools", default="all", help="all | none | comma-separated of pipeline,trainer,st,official")
    p.add_argument("--tool-tasks", default=",".join(TOOL_TASKS), help="tasks that get tool rows")
    p.add_argument("--data-dir", type=Path, default=DATA)
    p.add_argument("--cache", type=Path, default=HERE / ".cache", help="where the checkpoint suites are built")
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per process")
    p.add_argument("--keep", action="store_true", help="keep every run's output folder")
    p.add_argument("--live", action="store_true",
                   help="run the current tree as it is on disk at each run (default: a copy taken at the start, "
                        "so that edits made during the run do not mix versions)")
    p.add_argument("--device", default="cpu", help="xtreme-eval --device (the tools always run on the CPU)")
    p.add_argument("--feature-cache", choices=("warm", "cold"), default="cold",
                   help="cold (default): every run starts with an empty feature cache, so tokenisation is in the "
                        "figures; warm: every timed run finds the features of an untimed run before it (a tree "
                        "without a feature cache is unaffected)")
    p.add_argument("--startup", type=int, default=0, metavar="N",
                   help="also time, N times per side, 'xtreme-eval --help' and the time from the command to the "
                        "first batch (the first task given, cold and warm feature cache), and print that table")
    p.add_argument("--startup-only", action="store_true", help="only the --startup table")
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args(argv)

    tasks = list(TASKS) if args.tasks == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        p.error(f"unknown task(s) {', '.join(unknown)}; expected {', '.join(TASKS)}")
    kinds = set() if args.tools == "none" else (
        {"pipeline", "trainer", "st", "official"} if args.tools == "all" else set(args.tools.split(",")))
    tool_tasks = [t for t in args.tool_tasks.split(",") if t in tasks]
    threads_list = [int(x) for x in str(args.threads).split(",")]
    tool_repeats = max(1, args.repeats) if args.tool_repeats is None else args.tool_repeats
    args.current = args.current.resolve()
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / "xtreme_harness").is_dir():
            p.error(f"--baseline {args.baseline} holds no xtreme_harness package")
    if "st" in kinds and "tatoeba" in tool_tasks:
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            print("sentence-transformers is not installed (pip install -e '.[bench]'); its row is left out",
                  file=sys.stderr)
            kinds.discard("st")

    t_start = time.perf_counter()
    if args.model in ("tiny", "me5"):
        suite = ensure_suite(args.model, args.cache.resolve(), tasks)
    else:
        suite = Path(args.model).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pipeline-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    live_tree = args.current
    if not args.live:
        args.current = snapshot(args.current, work / "current-tree")
    sides = ([("baseline", args.baseline)] if args.baseline else []) + [("current", args.current)]
    records: list[dict] = []
    startup = None
    if args.startup:
        startup = startup_bench(sides, tasks[0], args, suite, work)
        if args.startup_only:
            print_startup(startup)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps({"startup": startup}, indent=1, default=str))
            return 0
    load_before = loadavg()
    if args.feature_cache == "warm":
        for threads in threads_list[:1]:
            for task in tasks:
                for side, tree in sides:
                    warm_up(tree, side, task, args, suite, threads, work)
    for threads in threads_list:
        shutil.rmtree(work / "preds", ignore_errors=True)
        langs_of: dict[str, list[str]] = {}
        kinds_gone: set[tuple[str, str]] = set()
        for rep in range(max(1, args.repeats)):
            for task in tasks:
                plan = [("harness", s, tree) for s, tree in sides]
                if task in tool_tasks and rep < tool_repeats:
                    plan += [("tool", k, None) for k in TOOLS[FAMILY[task]] if k in kinds]
                if rep % 2 == 1:
                    plan.reverse()
                    # the tools need the languages of a finished current run: keep one before them
                    cur = [x for x in plan if x[1] == "current"]
                    if task not in langs_of and cur:
                        plan.remove(cur[0])
                        plan.insert(0, cur[0])
                for kind, side, tree in plan:
                    tag = f"t{threads}-r{rep}-{task}-{side}"
                    if kind == "harness":
                        rec = run_harness(tree, side, task, args, suite, threads, work, tag)
                        if side == "current" and rec.get("n_by_lang") and task not in langs_of:
                            langs_of[task] = sorted(rec["n_by_lang"])
                    else:
                        if task not in langs_of or (task, side) in kinds_gone:
                            continue
                        rec = run_tool(side, task, args, suite, threads, langs_of[task], work, tag)
                    rec["repeat"] = rep
                    records.append(rec)
                    secs = None if not rec["report"] or rec.get("error") else (
                        h_total(rec) if kind == "harness" else t_total(rec))
                    if rec.get("unavailable"):
                        print(f"{task} {side}: unavailable ({rec['unavailable']}); not run again", file=sys.stderr)
                        kinds_gone.add((task, side))
                    took = "unavailable" if rec.get("unavailable") else "failed" if secs is None else f"{secs:.2f}s"
                    print(f"[{time.perf_counter() - t_start:7.1f}s] threads {threads} repeat {rep} {task:9s} "
                          f"{side:9s} rc={rec['rc']} n={rec.get('n')} {took} (process {rec['process_s']:.1f}s, "
                          f"CPU {rec['process_cpu_s']:.1f}s) load avg {rec['load_after']}", file=sys.stderr,
                          flush=True)
                    if rec.get("error"):
                        print(rec["error"], file=sys.stderr)
    load_after = loadavg()
    elapsed = time.perf_counter() - t_start

    versions = _versions()
    digests = {side: sorted({r["tree_digest"] for r in records if r["kind"] == "harness" and r["side"] == side})
               for side, _ in sides}
    where = machine(types.SimpleNamespace(type="cpu"))
    if args.device.startswith("cuda"):
        import torch

        where += f" + {torch.cuda.get_device_name(0)}"
    info = {"date": _dt.date.today().isoformat(), "machine": where,
            "python": platform.python_version(), "versions": versions, "model": args.model, "suite": str(suite),
            "tasks": tasks, "languages": args.languages, "limit": args.limit, "threads": threads_list,
            "repeats": args.repeats, "tool_repeats": tool_repeats, "stat": args.stat,
            "baseline": str(args.baseline) if args.baseline else None,
            "current": str(live_tree), "current_snapshot": None if args.live else str(args.current),
            "current_snapshot_digest": None if args.live else tree_digest(args.current),
            "current_digest_at_end": tree_digest(live_tree), "splits": {t: SPLIT[t] for t in tasks}, "loadavg_before": load_before,
            "loadavg_after": load_after, "elapsed_s": elapsed, "tools": sorted(kinds), "tool_tasks": tool_tasks,
            "tree_digests": digests,
            "harness_process_s": sum(r["process_s"] for r in records if r["kind"] == "harness"),
            "tool_process_s": sum(r["process_s"] for r in records if r["kind"] == "tool")}
    info["feature_cache"] = args.feature_cache
    summary = report(info, records, tasks, threads_list, args, sides)
    if startup:
        print_startup(startup)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"info": info, "summary": summary, "records": records,
                                                   "startup": startup}, indent=1, default=str))
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in records if r.get("error")]
    unstable = [s for s in summary["trees"] if s.get("current_stable") is False]
    return 1 if failed or unstable else 0


def report(info, records, tasks, threads_list, args, sides) -> dict:
    """Print the markdown tables; return what they show."""
    v = info["versions"]
    print(f"{info['date']} | {info['machine']} | Python {info['python']} | torch {v['torch']} | transformers "
          f"{v['transformers']} | tokenizers {v['tokenizers']} | sentence-transformers {v['sentence-transformers']}")
    print(f"model {info['model']} ({info['suite']}) | limit {info['limit']} | languages {info['languages'] or 'all'}"
          f" | repeats {info['repeats']}, {info['stat']} kept | load average {info['loadavg_before']} -> "
          f"{info['loadavg_after']} | {info['elapsed_s'] / 60:.1f} min in all | feature cache "
          f"{info.get('feature_cache')}")
    print(f"splits: {', '.join(f'{t} {s}' for t, s in info['splits'].items())}")
    print(f"process time: xtreme-eval runs {info['harness_process_s'] / 60:.1f} min, tool runs "
          f"{info['tool_process_s'] / 60:.1f} min | harness sources: " +
          "; ".join(f"{side} {', '.join(d)}" + (" (CHANGED during the run)" if len(d) > 1 else "")
                    for side, d in info["tree_digests"].items()))
    if info["current_snapshot"]:
        print(f"current tree: a copy of {info['current']}/xtreme_harness taken at the start (sources "
              f"{info['current_snapshot_digest']}; on disk at the end: {info['current_digest_at_end']})")
    print()
    summary = {"trees": [], "stages": [], "tools": []}
    for threads in threads_list:
        recs = [r for r in records if r["threads"] == threads]
        print(f"### xtreme-eval per task, {threads} thread(s): examples/s over the eval call (imports excluded)\n")
        print("| task | split | langs | n | baseline ex/s | current ex/s | current / baseline | baseline s | "
              "current s | baseline CPU s | current CPU s | current / baseline, by CPU s | current process s (CPU s) | "
              "current preds same across repeats | baseline = current preds | load avg |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
        for task in tasks:
            row = {"task": task, "threads": threads}
            best = {}
            for side, _ in sides:
                rs = [r for r in recs if r["kind"] == "harness" and r["side"] == side and r["task"] == task]
                best[side] = pick(rs, h_total, info["stat"])
                row[f"{side}_runs"] = len(rs)
                row[f"{side}_failed"] = sum(1 for r in rs if r.get("error"))
            cur = [r for r in recs if r["kind"] == "harness" and r["side"] == "current" and r["task"] == task
                   and r.get("predictions")]
            by_source: dict[str, set] = {}  # only runs of the same sources must agree
            for r in cur:
                by_source.setdefault(r.get("tree_digest"), set()).add(json.dumps(r["predictions"], sort_keys=True))
            stable = None if len(cur) < 2 else all(len(v) == 1 for v in by_source.values())
            row["current_sources"] = len(by_source)
            b, c = best.get("baseline"), best.get("current")
            same = None
            if b and c:
                same = b["predictions"] == c["predictions"]
                diff = sorted(k for k in set(b["predictions"]) | set(c["predictions"])
                              if b["predictions"].get(k) != c["predictions"].get(k))
                row["differing_files"] = diff
            n = (c or b or {}).get("n")
            bex = b["n"] / h_total(b) if b else None
            cex = c["n"] / h_total(c) if c else None
            row.update(n=n, languages=len((c or b or {}).get("n_by_lang") or {}), baseline_ex_s=bex, current_ex_s=cex,
                       ratio=(cex / bex if bex and cex else None), current_stable=stable, baseline_equal=same,
                       baseline_s=b and h_total(b), current_s=c and h_total(c),
                       baseline_cpu_s=b and b["report"]["run_cpu_s"], current_cpu_s=c and c["report"]["run_cpu_s"],
                       current_process_s=c and c["process_s"], current_process_cpu_s=c and c["process_cpu_s"],
                       baseline_avg_metric=b and b.get("avg_metric"), current_avg_metric=c and c.get("avg_metric"))
            row["cpu_ratio"] = (row["baseline_cpu_s"] / row["current_cpu_s"]) if b and c else None
            summary["trees"].append(row)
            same_txt = "n/a" if same is None else ("yes" if same else f"no ({', '.join(row['differing_files'][:4])}"
                                                   f"{'...' if len(row['differing_files']) > 4 else ''})")
            load = (c or b or {}).get("load_after")
            print(f"| {task} | {SPLIT[task]} | {row['languages']} | {n} | {fmt(bex, 1)} | {fmt(cex, 1)} | "
                  f"{fmt(row['ratio'])}{'×' if row['ratio'] else ''} | {fmt(row['baseline_s'])} | "
                  f"{fmt(row['current_s'])} | {fmt(row['baseline_cpu_s'])} | {fmt(row['current_cpu_s'])} | "
                  f"{fmt(row['cpu_ratio'])}{'×' if row['cpu_ratio'] else ''} | "
                  f"{fmt(row['current_process_s'], 1)} ({fmt(row['current_process_cpu_s'], 1)}) | "
                  f"{'1 run' if stable is None else ('yes' if stable else 'NO')}"
                  f"{f' ({len(by_source)} source versions)' if len(by_source) > 1 else ''} | {same_txt} | "
                  f"{fmt(load, 2)} |")
        print()
        for side, _ in sides:
            print(f"### where the time goes, {side} tree, {threads} thread(s): seconds (exclusive) and share of the "
                  "eval call\n")
            print("| task | imports s (not in total) | total s | " + " | ".join(STAGES) +
                  " | look-ahead thread s | real tokens | padded positions | missing seams |")
            print("|---|---:|---:|" + "---:|" * len(STAGES) + "---|---:|---:|---|")
            for task in tasks:
                rs = [r for r in recs if r["kind"] == "harness" and r["side"] == side and r["task"] == task]
                r = pick(rs, h_total, info["stat"])
                if not r:
                    print(f"| {task} | failed |" + " |" * (len(STAGES) + 5))
                    continue
                rep = r["report"]
                total = rep["run_s"]
                cells = []
                for s in STAGES:
                    x = rep["stages"].get(s)
                    cells.append("n/a" if x is None else f"{x:.2f} ({100 * x / total:.0f}%)")
                eng = rep.get("engine") or {}
                gone = ", ".join(m.rsplit(".", 1)[-1] for m in rep["missing_seams"]) or "-"
                ahead = ", ".join(f"{s} {x:.2f}" for x, s in sorted(((x, s) for s, x in (rep.get("ahead") or {}).items()
                                                                     if x >= 0.005), reverse=True)) or "-"
                print(f"| {task} | {rep['import_s']:.2f} | {total:.2f} | " + " | ".join(cells) +
                      f" | {ahead} | {eng.get('tokens', 0)} | {eng.get('padded_tokens', 0)} | {gone} |")
                top = sorted(((rep["stages"].get(s) or 0.0, s) for s in STAGES), reverse=True)[:3]
                summary["stages"].append({"task": task, "side": side, "threads": threads, "total_s": total,
                                          "stages": rep["stages"], "stages_cpu": rep["stages_cpu"],
                                          "calls": rep["calls"], "engine": eng, "top": [s for _, s in top],
                                          "missing_seams": rep["missing_seams"], "import_s": rep["import_s"],
                                          "seams": rep.get("seams"), "ahead": rep.get("ahead")})
            print()
        tool_recs = [r for r in recs if r["kind"] == "tool"]
        if not tool_recs:
            continue
        print(f"### xtreme-eval (current tree) against the tools, {threads} thread(s), same checkpoint and inputs\n")
        print("ex/s with model load included (load+work) and excluded (work only). xtreme-eval's time is its whole "
              "eval call (read, score and write included); excluded means less its 'load' stage (the longer of "
              "the main thread's and the look-ahead thread's). "
              "ratio = xtreme-eval ex/s / tool ex/s (> 1: xtreme-eval is faster); CPU ratio = xtreme-eval CPU s / "
              "tool CPU s, load included (< 1: xtreme-eval used less CPU).\n")
        print("| task | tool | n | tool ex/s (load incl.) | tool ex/s (load excl.) | xtreme-eval ex/s (incl.) | "
              "xtreme-eval ex/s (excl.) | ratio incl. load | ratio excl. load | tool load s | tool work s | "
              "tool CPU s (incl. load) | xtreme-eval CPU s (incl. load) | CPU ratio | agreement with xtreme-eval |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for task in tasks:
            hs = [r for r in recs if r["kind"] == "harness" and r["side"] == "current" and r["task"] == task
                  and r["repeat"] < info["tool_repeats"]]  # the runs made beside the tools
            h = pick(hs, h_total, info["stat"])
            for kind in TOOLS[FAMILY[task]]:
                rs = [r for r in tool_recs if r["task"] == task and r["side"] == kind]
                if not rs:
                    continue
                t = pick(rs, t_total, info["stat"])
                name = TOOL_NAMES[(FAMILY[task], kind)]
                gone = next((r["unavailable"] for r in rs if r.get("unavailable")), None)
                if gone:
                    print(f"| {task} | {name} | unavailable: {gone} |" + " |" * 12)
                    summary["tools"].append({"task": task, "tool": name, "threads": threads, "unavailable": gone})
                    continue
                if not t or not h:
                    print(f"| {task} | {name} | failed |" + " |" * 12)
                    summary["tools"].append({"task": task, "tool": name, "threads": threads, "failed": True})
                    continue
                tr, hr = t["report"], h["report"]
                # loads in the main thread (the model; it waits there for the tokenizer when it needs it first) or
                # the look-ahead thread's (the tokenizer), whichever is longer: the main thread's run less that
                # (less than both where they did not overlap, so the 'excluded' figure errs low)
                load_h = max(hr["stages"].get("load") or 0.0, (hr.get("ahead") or {}).get("load", 0.0))
                load_h_cpu = (hr["stages_cpu"].get("load") or 0.0) + (hr.get("ahead_cpu") or {}).get("load", 0.0)
                n = t["n"]
                t_inc, t_exc = n / (tr["load_s"] + tr["work_s"]), n / tr["work_s"]
                h_inc, h_exc = h["n"] / hr["run_s"], h["n"] / (hr["run_s"] - load_h)
                t_cpu = tr["load_cpu_s"] + tr["work_cpu_s"]
                row = {"task": task, "tool": name, "threads": threads, "n": n, "harness_n": h["n"],
                       "tool_ex_s_incl_load": t_inc, "tool_ex_s_excl_load": t_exc, "harness_ex_s_incl_load": h_inc,
                       "harness_ex_s_excl_load": h_exc, "ratio_incl_load": h_inc / t_inc,
                       "ratio_excl_load": h_exc / t_exc, "tool_load_s": tr["load_s"], "tool_work_s": tr["work_s"],
                       "tool_cpu_s": t_cpu, "harness_cpu_s": hr["run_cpu_s"],
                       "harness_cpu_s_excl_load": hr["run_cpu_s"] - load_h_cpu,
                       "tool_cpu_s_excl_load": tr["work_cpu_s"],
                       "cpu_ratio": hr["run_cpu_s"] / t_cpu if t_cpu else None, "agreement": t.get("agreement")}
                summary["tools"].append(row)
                agree = "n/a" if row["agreement"] is None else f"{100 * row['agreement']:.1f}%"
                print(f"| {task} | {name} | {n} | {t_inc:.1f} | {t_exc:.1f} | {h_inc:.1f} | {h_exc:.1f} | "
                      f"{row['ratio_incl_load']:.2f}× | {row['ratio_excl_load']:.2f}× | {tr['load_s']:.2f} | "
                      f"{tr['work_s']:.2f} | {t_cpu:.2f} | {hr['run_cpu_s']:.2f} | {fmt(row['cpu_ratio'])}× | "
                      f"{agree} |")
        print()
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
