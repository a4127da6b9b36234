"""``xtreme-eval``: a producer's predictions for every (task, language), scored, written and resumable.

The one run loop every producer shares (:class:`~xtreme_harness.producers.base.Producer`):
plan the languages, read each (task, language) while recording what was read
(:mod:`xtreme_harness.io.reads`), reuse a finished state whose key still holds,
else ask the producer for predictions, then score and write them
(:mod:`xtreme_harness.tasks.results`) and rebuild ``results.json``. The resume
key is the record of what was read (every file by content, hub datasets by
revision and fingerprint), the producer's identity (its checkpoint by content)
and the settings, so an input changed in any way is recomputed and nothing else
is. Each finished (task, language) leaves its files and state, all written
atomically, so an interrupted run resumes where it stopped and scores the same.

Producers are registered in :data:`PRODUCERS`, tried in order.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from .families import family_of
from .io import featcache, reads
from .io.files import safe_join
from .io.version import __version__
from .options import LMEVAL, EvalOptions
from .outputs import OutputFolder
from .producers.distributed import barrier, is_main
from .spec import TaskSpec
from .tasks.data import plan_languages, read_split
from .tasks.registry import resolve_tasks
from .tasks.results import STATE_VERSION, Results, read_state, score_and_write


def _lmeval(options: EvalOptions):
    from .lmeval.producer import LMEvalProducer

    return LMEvalProducer(options)


def _sentence_transformers(options: EvalOptions):
    from .producers.sentence_transformers import SentenceTransformersProducer

    return SentenceTransformersProducer(options)


def _checkpoints(options: EvalOptions):
    from .producers.native import CheckpointProducer

    return CheckpointProducer(options)


def _is_sentence_transformers(options: EvalOptions) -> bool:
    from .producers.sentence_transformers import is_sentence_transformers

    return is_sentence_transformers(options.model)


# (name, does it take these options, make it): the first that takes the options produces the predictions.
PRODUCERS: list[tuple[str, Callable[[EvalOptions], bool], Callable[[EvalOptions], Any]]] = [
    ("lm-eval", lambda o: o.backend == LMEVAL, _lmeval),
    ("sentence-transformers", _is_sentence_transformers, _sentence_transformers),
    ("transformers checkpoints", lambda o: True, _checkpoints),
]


def producer_for(options: EvalOptions):
    return next(make(options) for _, takes, make in PRODUCERS if takes(options))


def _log(msg: str) -> None:
    if is_main():
        print(f"xtreme-eval: {msg}", file=sys.stderr, flush=True)


def evaluate(model: str, tasks: str = "all", languages: str = "all", data_dir: str | None = None,
             split: str = "test", output: str = "xtreme-results", **kwargs: Any) -> dict[str, Any]:
    """Score ``model`` (a checkpoint, hub id, suite, manifest or sentence-transformers folder) on ``tasks``;
    write and return results.json. Keyword arguments are :class:`~xtreme_harness.options.EvalOptions`."""
    values = dict(model=model, tasks=tasks, languages=languages, split=split, output=str(output), **kwargs)
    if data_dir is not None:
        values["data_dir"] = str(data_dir)
    return run(EvalOptions.build(values, "evaluate() argument"))


def run(options: EvalOptions, producer: Any = None) -> dict[str, Any]:
    """Run ``options`` (with ``producer``, else the one :data:`PRODUCERS` picks) into ``options.output``."""
    options.validate()
    specs = resolve_tasks(options.tasks, options.version, options.task_dirs)
    producer = producer if producer is not None else producer_for(options)
    try:
        skipped = producer.prepare(specs)
        _apply_defaults(options, producer.defaults())
        if not is_main():
            return _run(options, specs, producer, skipped, Path(options.output))
        with OutputFolder(options.output, options.settings(), options.overwrite) as out:
            return _run(options, specs, producer, skipped, out)
    finally:
        producer.close()


def _apply_defaults(options: EvalOptions, defaults: dict[str, Any]) -> None:
    """A producer's defaults (a manifest's) fill the options still at their own defaults (flags given win)."""
    fields = EvalOptions.__dataclass_fields__
    for name, value in defaults.items():
        if getattr(options, name) == fields[name].default:
            setattr(options, name, value)


def resume_key(options: EvalOptions, spec: TaskSpec, lang: str, settings, identity: Any,
               record: reads.Record) -> str:
    """What the figures of one (task, language) depend on: a changed input means a recomputation."""
    spec_content = asdict(spec)
    spec_content.pop("source_file", None)
    parts = {"state": STATE_VERSION, "harness": __version__, "task": spec.task, "lang": lang, "split": options.split,
             "limit": options.limit, "dtype": options.dtype, "spec": spec_content, "settings": settings.values,
             "producer": identity, "inputs": record.as_list()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _run(options: EvalOptions, specs: list[TaskSpec], producer, skipped: dict[str, str], out: Path) -> dict[str, Any]:
    skipped_langs: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    plan = []
    for spec in specs:
        if spec.task in skipped:
            continue
        if options.split not in spec.splits:
            skipped[spec.task] = f"{spec.task} has no {options.split} split (it has: {', '.join(spec.splits)})"
            continue
        langs = plan_languages(spec, options.languages, options.split, options.data_dir, options.version,
                               skipped_langs, missing)
        plan.append((spec, langs))
    for task, reason in skipped.items():
        _log(f"skipping {task}: {reason}")

    results = Results(producer.model_info(), options.config(), options.version, skipped)
    timings: dict[str, float] = {}
    for spec, langs in plan:
        fam = family_of(spec)
        settings = fam.settings(spec, options.family_settings())
        states: dict[str, dict] = {}
        no_gold: list[str] = []
        t0 = time.perf_counter()
        for lang in langs:
            with reads.recording() as record:
                examples = read_split(spec, options.data_dir, lang, options.split, options.limit)
            if producer.needs_gold and fam.gold(spec, examples) is None:
                no_gold.append(lang)
                _log(f"{spec.task}/{lang}: no gold labels; this backend scores labelled data only, skipped")
                continue
            key = resume_key(options, spec, lang, settings, producer.identity(spec), record)
            state = read_state(safe_join(out, "state", spec.task, f"{lang}.json"))
            if state and state.get("fingerprint") == key:
                _log(f"{spec.task}/{lang}: reusing finished result")
            else:
                state = _predict(producer, spec, lang, examples, settings, out, key, record, options)
            states[lang] = state
        timings[spec.task] = time.perf_counter() - t0
        results.add_task(spec, options.split, states, langs, no_gold=no_gold if producer.needs_gold else None,
                         skipped=skipped_langs.get(spec.task, {}), missing_data=missing.get(spec.task, []))
        if is_main():
            results.write(out, timings)
    return results.write(out, timings) if is_main() else results.document()


def inputs_key(options: EvalOptions, spec: TaskSpec, lang: str, record: reads.Record) -> str:
    """What the examples of one (task, language) are made of: the files read (by content), the split, the
    limit and the task spec; the feature cache keys features on it (with the tokenizer and the settings)."""
    spec_content = asdict(spec)
    spec_content.pop("source_file", None)
    return featcache.digest("inputs", spec.task, lang, options.split, options.limit, spec_content, record.as_list())


def _predict(producer, spec: TaskSpec, lang: str, examples, settings, out: Path, key: str,
             record: reads.Record, options: EvalOptions | None = None) -> dict:
    t0 = time.perf_counter()
    with featcache.inputs(inputs_key(options, spec, lang, record) if options is not None else None):
        predictions = producer.predict(spec, lang, examples, settings)
    seconds = round(time.perf_counter() - t0, 3)
    # every process holds the same predictions; one writes them
    state = score_and_write(out, spec, predictions, key, write=is_main(), seconds=seconds, inputs=record.as_list())
    barrier()
    shown = ", ".join(f"{k}={v:.2f}" for k, v in (state.get("metrics") or {}).items())
    _log(f"{spec.task}/{lang}: {shown or 'no gold labels: predictions written, not scored'} "
         f"({state['n']} examples, {seconds:.1f}s)")
    return state


__all__ = ["PRODUCERS", "evaluate", "producer_for", "resume_key", "run"]
