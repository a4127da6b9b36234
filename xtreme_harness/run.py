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
import logging
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from .families import family_of
from .families.base import drop_ahead
from .io import featcache, progress, reads
from .io.errors import UserError
from .io.files import safe_join
from .io.version import __version__
from .options import LMEVAL, EvalOptions
from .outputs import OutputFolder
from .sweeps import check_output_outside, is_sweep, read_sweep
from .producers.distributed import barrier, is_main
from .spec import TaskSpec
from .tasks.data import plan_languages, read_split
from .tasks.registry import resolve_tasks
from .tasks.results import STATE_VERSION, Results, read_state, score_and_write

log = logging.getLogger(__name__)


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
        progress.say("xtreme-eval", msg)


def evaluate(model: str, tasks: str = "all", languages: str = "all", data_dir: str | None = None,
             split: str = "test", output: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Score ``model`` (a checkpoint, hub id, suite, manifest or sentence-transformers folder) on ``tasks``;
    write and return results.json. Keyword arguments are :class:`~xtreme_harness.options.EvalOptions`."""
    values = dict(model=model, tasks=tasks, languages=languages, split=split, **kwargs)
    if output is not None:
        values["output"] = str(output)
    if data_dir is not None:
        values["data_dir"] = str(data_dir)
    return run(EvalOptions.build(values, "evaluate() argument"))


def run(options: EvalOptions, producer: Any = None) -> dict[str, Any]:
    """Run ``options`` (with ``producer``, else the one :data:`PRODUCERS` picks) into ``options.output``; a
    ``--model`` folder holding ``sweep.json`` is evaluated suite by suite (:func:`run_sweep`)."""
    if producer is None and options.backend != LMEVAL and is_sweep(options.model):
        return run_sweep(options)
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

    info, config = producer.model_info(), options.config()
    timings: dict[str, float] = {}
    done: dict[str, dict] = {}  # task -> {"spec", "states", "langs", "no_gold"} of this run

    def publish() -> dict[str, Any]:
        """results.json from this run's languages and every other finished one the folder holds, so that it always
        describes exactly what predictions/, labels/ and records/ hold."""
        results = Results(info, config, options.version, skipped)
        entries = _finished(out, options, done)
        for task in done:
            entries.setdefault(task, done[task])
        for task, entry in sorted(entries.items(), key=lambda kv: list(done).index(kv[0]) if kv[0] in done else
                                  len(done)):
            results.add_task(entry["spec"], options.split, entry["states"], entry["langs"],
                             no_gold=entry.get("no_gold"), skipped=skipped_langs.get(task, {}),
                             missing_data=missing.get(task, []))
        return results.write(out, timings) if is_main() else results.document()

    settings_of = {spec.task: family_of(spec).settings(spec, options.family_settings()) for spec, _ in plan}
    units = [(spec, lang, family_of(spec), settings_of[spec.task]) for spec, langs in plan for lang in langs]
    ahead = _Ahead(lambda unit, decided: _prepare(options, producer, out, *unit, decided=decided), units)
    warm = getattr(producer, "warm", None)
    position = 0
    try:
        with progress.overall("xtreme-eval", len(units), len(plan), options.progress and is_main()) as line:
            for spec, langs in plan:
                fam = family_of(spec)
                settings = settings_of[spec.task]
                entry = done.setdefault(spec.task, {"spec": spec, "states": {}, "langs": list(langs),
                                                    "no_gold": [] if producer.needs_gold else None})
                t0 = time.perf_counter()
                for i, lang in enumerate(langs, 1):
                    line.start(f"{spec.task}/{lang}")
                    progress.status("reading the data")
                    if warm is not None and ahead.will_compute(position):
                        warm(spec)  # the model loads while the data is being featurised
                    examples, record, resume = ahead.take(position)
                    position += 1
                    ahead.start(position)  # the next language is read and featurised while this one runs
                    computed = False
                    if producer.needs_gold and fam.gold(spec, examples) is None:
                        entry["no_gold"].append(lang)
                        said = "no gold labels; this backend scores labelled data only, skipped"
                    else:
                        key, state = resume or _resume(options, producer, out, spec, lang, settings, record)
                        if state and state.get("fingerprint") == key:
                            said = "reusing finished result"
                        else:
                            state, said = _predict(producer, spec, lang, examples, settings, out, key, record, options)
                            computed = True
                        entry["states"][lang] = state
                    line.finish(computed, i == len(langs))
                    _log(f"{spec.task}/{lang}: {said}" + ("" if line.bar else f" [{line.counts()}]"))
                    if computed:
                        timings[spec.task] = timings.get(spec.task, 0.0) + time.perf_counter() - t0
                        t0 = time.perf_counter()
                        publish()
                timings[spec.task] = timings.get(spec.task, 0.0) + time.perf_counter() - t0
    finally:
        ahead.close()
        doc = publish()  # also when interrupted: what finished is described, nothing more
    return doc


def _resume(options: EvalOptions, producer, out: Path, spec: TaskSpec, lang: str, settings,
            record: reads.Record) -> tuple[str, dict | None]:
    """The (task, language)'s resume key and the state its folder holds (finished when the two agree)."""
    key = resume_key(options, spec, lang, settings, producer.identity(spec), record)
    return key, read_state(safe_join(out, "state", spec.task, f"{lang}.json"))


def _prepare(options: EvalOptions, producer, out: Path, spec: TaskSpec, lang: str, fam, settings,
             decided: Callable[[bool], None]):
    """One (task, language) read, with what was read recorded, its resume key and state (:func:`_resume`), and
    (if it will be computed) featurised by the producer ahead of its turn; ``decided`` hears as soon as it is
    known whether it will be computed. Beyond the read, this is an optimisation only: a failure is left for the
    main thread to meet (and report) in its place, the resume check then None."""
    with reads.recording() as record:
        examples = read_split(spec, options.data_dir, lang, options.split, options.limit)
    if producer.needs_gold and fam.gold(spec, examples) is None:
        return examples, record, None
    prefetch = getattr(producer, "prefetch", None)
    resume = None
    try:
        key, state = _resume(options, producer, out, spec, lang, settings, record)
        resume = key, state
        compute = not (state and state.get("fingerprint") == key)
        decided(compute)
        if compute and prefetch is not None:
            with featcache.inputs(inputs_key(options, spec, lang, record)):
                prefetch(spec, lang, examples, settings)
    except Exception as exc:  # noqa: BLE001 - the main thread does the same work again and reports what fails
        log.debug("preparing %s/%s ahead failed: %s", spec.task, lang, exc)
    return examples, record, resume


class _Ahead:
    """The next unit of the run, prepared in a thread while the model runs on the current one.

    A daemon thread per unit, never more than one unit ahead: an interrupted run does not wait for it. The
    tokenizer calls it makes take turns with the main thread's (:func:`~.families.tokens.encode` and
    :func:`~.families.tokens.call`), transformers is imported one thread at a time, and it has
    a context of its own, so the reads it records and the feature inputs it names are its unit's only."""

    def __init__(self, prepare: Callable[[Any, Callable[[bool], None]], Any], units: list):
        self.prepare, self.units = prepare, units
        self.jobs: dict[int, tuple[threading.Thread | None, dict]] = {}

    def start(self, index: int) -> None:
        if index >= len(self.units) or index in self.jobs:
            return
        known = threading.Event()
        box: dict[str, Any] = {"known": known}

        def decided(compute: bool) -> None:
            box["compute"] = compute
            known.set()

        def work() -> None:
            try:
                box["value"] = self.prepare(self.units[index], decided)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
                box["error"] = exc
            finally:
                known.set()

        thread = threading.Thread(target=work, name=f"xtreme-ahead-{index}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (a process or thread limit): prepare it here, now
            work()
            thread = None
        self.jobs[index] = (thread, box)

    def will_compute(self, index: int) -> bool:
        """Whether the unit will be computed (not resumed, not skipped), as soon as its thread knows."""
        self.start(index)
        box = self.jobs[index][1]
        box["known"].wait()
        return bool(box.get("compute"))

    def take(self, index: int) -> Any:
        self.start(index)
        thread, box = self.jobs.pop(index)
        if thread is not None:
            thread.join()
        if "error" in box:
            raise box.pop("error")
        return box["value"]

    def close(self) -> None:
        self.jobs.clear()
        drop_ahead()


def _finished(out: Path, options: EvalOptions, done: dict[str, dict]) -> dict[str, dict]:
    """The finished (task, language) states the folder holds beyond this run's (all of one set of settings, which
    settings.json guarantees), each with its prediction file still there."""
    from .tasks.registry import registry

    state_root = out / "state"
    if not state_root.is_dir():
        return {}
    specs = registry(tuple(options.task_dirs))
    found: dict[str, dict] = {}
    for task in sorted(os.listdir(state_root)):
        spec = specs.get(task)
        if spec is None or not (state_root / task).is_dir():
            continue
        langs = done[task]["langs"] if task in done else []
        states = {}
        for name in sorted(os.listdir(state_root / task)):
            lang = name[:-len(".json")]
            if not name.endswith(".json") or lang in langs:
                continue
            state = read_state(state_root / task / name)
            prediction = out / "predictions" / task / f"test-{lang}.{spec.submission_ext}"
            if state and prediction.is_file():
                states[lang] = state
        if states or task in done:
            order = list(spec.languages(options.version) or spec.all_languages())
            merged = {**states, **(done[task]["states"] if task in done else {})}
            found[task] = {"spec": spec, "states": merged,
                           "langs": [lang for lang in order if lang in merged] + [
                               lang for lang in merged if lang not in order],
                           "no_gold": done[task].get("no_gold") if task in done else None}
    return found


def inputs_key(options: EvalOptions, spec: TaskSpec, lang: str, record: reads.Record) -> str:
    """What the examples of one (task, language) are made of: the files read (by content), the split, the
    limit and the task spec; the feature cache keys features on it (with the tokenizer and the settings)."""
    spec_content = asdict(spec)
    spec_content.pop("source_file", None)
    return featcache.digest("inputs", spec.task, lang, options.split, options.limit, spec_content, record.as_list())


def _predict(producer, spec: TaskSpec, lang: str, examples, settings, out: Path, key: str,
             record: reads.Record, options: EvalOptions | None = None) -> tuple[dict, str]:
    t0 = time.perf_counter()
    with featcache.inputs(inputs_key(options, spec, lang, record) if options is not None else None):
        predictions = producer.predict(spec, lang, examples, settings)
    seconds = round(time.perf_counter() - t0, 3)
    # every process holds the same predictions; one writes them
    state = score_and_write(out, spec, predictions, key, write=is_main(), seconds=seconds, inputs=record.as_list())
    barrier()
    shown = ", ".join(f"{k}={v:.2f}" for k, v in (state.get("metrics") or {}).items())
    return state, f"{shown or 'no gold labels: predictions written, not scored'} ({state['n']} examples, {seconds:.1f}s)"


SWEEP_RESULTS = "xtreme-harness/sweep-results/v1"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def run_sweep(options: EvalOptions) -> dict[str, Any]:
    """Every finished suite ``MODEL/sweep.json`` lists, each an ordinary (resumable) run into
    ``OUTPUT/<the suite's path>``, with one progress line for the sweep; returns ``{"suites": {path: results}}``.

    Suites the file lists as planned (or whose folder is missing) are not trained yet: named once and left
    out, so a rerun after their training evaluates them and reuses everything else."""
    options.validate()
    root = Path(options.model).expanduser()
    check_output_outside(root, options.output)
    suites = read_sweep(root)
    ready = [s for s in suites if s.status == "finished" and (root / s.path).is_dir()]
    waiting = [s.path for s in suites if s not in ready]
    if waiting:
        _log(f"sweep: {len(waiting)} suite(s) not trained yet, left out: {', '.join(waiting)}")
    if not ready:
        raise UserError(f"no trained suite in the sweep {root} yet ({len(suites)} listed); train them with the "
                        "xtreme-train command that wrote its sweep.json", root / "sweep.json")
    out = Path(options.output)
    docs: dict[str, Any] = {}
    t0 = time.perf_counter()
    _log(f"sweep: 0/{len(ready)} suites done")
    for i, suite in enumerate(ready, 1):
        one = options.replace(model=str(root / suite.path), output=str(safe_join(out, suite.path)))
        docs[suite.path] = run(one)
        elapsed = time.perf_counter() - t0
        eta = elapsed / i * (len(ready) - i)
        _log(f"sweep: {i}/{len(ready)} suites done ({suite.path}), elapsed {_duration(elapsed)}"
             + (f", ETA {_duration(eta)}" if i < len(ready) else ""))
    return {"schema": SWEEP_RESULTS, "model": str(root), "output": str(out), "suites": docs, "not_trained": waiting}


__all__ = ["PRODUCERS", "evaluate", "producer_for", "resume_key", "run", "run_sweep"]
