"""What every producer of predictions shares: scoring, the output files, and the results document.

``xtreme-eval``'s engine, the lm-eval backend and (for dev figures) the
trainer each turn a model into :class:`~xtreme_harness.families.Predictions`;
from there one path scores them with the official metric functions (the very
ones ``xtreme-score`` uses), writes the submission file, the gold labels it
was scored against, per-example records and a state file, and one builder
assembles ``results.json`` (schema ``xtreme-harness/results/v1``, declared
here only). All files are written to a temporary file and renamed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

from ..families import Predictions, family_of
from ..io.errors import UserError, clip
from ..io.files import (
    atomic_write_json,
    atomic_write_text,
    read_lines,
    read_text,
    safe_join,
)
from ..io.jsonfile import JsonLocator, RepeatedKey, Where, load_json_text, unique_keys
from ..io.messages import is_number, shown
from ..io.version import __version__
from ..metrics import FLAG, FRACTION, record_fields
from ..spec import TaskSpec, benchmark_tasks
from .scoring import aggregate_task, overall_scores, records, score

SCHEMA = "xtreme-harness/results/v1"
RECORD_FIELDS = record_fields()  # what each per-example record field may hold, as the metrics declare it
STATE_VERSION = 1
_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False)


# --- one (task, language) ------------------------------------------------------------------


def write_outputs(out: Path, spec: TaskSpec, predictions: Predictions, gold: Any) -> None:
    """predictions/, labels/ and records/ of one (task, language)."""
    fam = family_of(spec)
    lang, ext = predictions.lang, spec.submission_ext
    fam.write_output(spec, safe_join(out, "predictions", spec.task, f"test-{lang}.{ext}"), predictions.output)
    if gold is not None:
        fam.write_gold(spec, safe_join(out, "labels", spec.task, f"test-{lang}.{ext}"), gold, predictions.examples)
    recs = records(spec, predictions, gold)
    if recs:
        encode = _RECORD_ENCODER.encode  # json.dumps(r, ensure_ascii=False), without a new encoder per record
        atomic_write_text(safe_join(out, "records", spec.task, f"{lang}.jsonl"),
                          "".join([encode(r) + "\n" for r in recs]))


def score_and_write(out: Path, spec: TaskSpec, predictions: Predictions, fingerprint: str | None = None,
                    write: bool = True, **extra_state: Any) -> dict[str, Any]:
    """Score one (task, language), write its files (``write``: this process writes) and return its state.

    With a ``fingerprint`` the state is kept in ``state/<task>/<lang>.json``,
    which a rerun reuses while the fingerprint holds.
    """
    gold, entries = score(spec, predictions)
    state: dict[str, Any] = {"fingerprint": fingerprint, "task": spec.task, "lang": predictions.lang, **entries,
                             **extra_state}
    if write:
        write_outputs(out, spec, predictions, gold)
        if fingerprint is not None:
            atomic_write_json(safe_join(out, "state", spec.task, f"{predictions.lang}.json"), state)
    return state


def read_state(path: Path) -> dict | None:
    """A saved state, or None (then it is recomputed) for one that is missing, unreadable, not a regular file
    (a FIFO would block), malformed, absurdly nested or holding figures no scorer gives."""
    try:
        state = json.loads(read_text(path, "state file"))
    except (UserError, OSError, ValueError, RecursionError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("n"), int) or isinstance(state["n"], bool) \
            or state["n"] < 0 or not isinstance(state.get("stats", {}), dict):
        return None
    for key in ("metrics", "secondary"):
        figs = state.get(key, {})
        if not isinstance(figs, dict) or not all(
                is_number(v) and math.isfinite(v) and -PERCENT_SLACK <= v <= 100 + PERCENT_SLACK
                for v in figs.values()):
            return None
    return state


# --- reading results files and records -------------------------------------------------------
# A board, a comparison and an export all read these files; a figure that cannot be (NaN, 105%, a
# per-example ``correct`` of 7) would be shown or resampled as if it were real, so every reader goes
# through the checks below and refuses the file at the offending line.

PERCENT_SLACK = 1e-9  # float rounding of a mean of 100s


def _dotted(keys: tuple) -> str:
    return ".".join(str(k) for k in keys)


def _percent(w: Where, v: Any, *keys) -> None:
    if not is_number(v) or not math.isfinite(v) or not -PERCENT_SLACK <= v <= 100 + PERCENT_SLACK:
        w.fail(f"{_dotted(keys)} is {shown(v)}; expected a percentage, a number from 0 to 100", *keys)


def _count(w: Where, v: Any, *keys) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        w.fail(f"{_dotted(keys)} is {shown(v)}; expected a count, an integer of 0 or more", *keys)


def _kind(w: Where, v: Any, types: tuple, expected: str, *keys, optional: bool = True) -> None:
    if (v is None and optional) or (isinstance(v, types) and not (isinstance(v, bool) and bool not in types)):
        return
    w.fail(f"{_dotted(keys)} is {shown(v)}; expected {expected}", *keys)


def _strings(w: Where, v: Any, *keys) -> None:
    if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        w.fail(f"{_dotted(keys)} is {shown(v)}; expected a list of strings", *keys)


def _per_language(w: Where, figs: Any, *keys) -> None:
    if not isinstance(figs, dict):
        w.fail(f"{_dotted(keys)} is {shown(figs)}; expected an object mapping languages to percentages", *keys)
    for lang, v in figs.items():
        _percent(w, v, *keys, lang)


def _figures(w: Where, block: dict, *keys) -> None:
    """A task's (or its secondary block's) figures: ``{figure: {lang: %}}`` and ``avg_<figure>: %``."""
    for key, v in block.items():
        if v is None:
            continue
        if key.startswith("avg_") or is_number(v):
            _percent(w, v, *keys, key)
        else:
            _per_language(w, v, *keys, key)


_TASK_KEYS = ("split", "n", "stats", "secondary")


def check_results(raw: Any, path: str, loc: Any = None) -> None:
    """Refuse a results document (``results.json`` or ``xtreme-score --json``) holding a figure that cannot be.

    Every figure is a finite percentage (0-100), every count a non-negative
    integer, every flag true or false and every name a string; ``true`` is
    never read as the number 1. The error names the key path and its line.
    """
    w = loc if isinstance(loc, Where) else Where(path, loc)
    if not isinstance(raw, dict):
        w.fail("expected a JSON object (an xtreme-harness results file)")
    schema = raw.get("schema")
    if schema is not None and schema != SCHEMA:
        w.fail(f"unsupported schema {clip(repr(schema), 80)}; expected '{SCHEMA}' or an xtreme-score --json file",
               "schema")
    if schema is None and not (isinstance(raw.get("tasks"), dict) and isinstance(raw.get("overall"), dict)):
        w.fail(f"not a results file: no 'schema' ({SCHEMA}) and no 'tasks'/'overall' objects")
    for key in ("tasks", "overall"):
        if not isinstance(raw.get(key), dict):
            w.fail(f"'{key}' is {shown(raw.get(key))}; expected an object", key)
    for key in ("version", "harness_version", "created", "records"):
        _kind(w, raw.get(key), (str,), "a string", key)
    if isinstance(raw.get("records"), str) and (not raw["records"].strip() or "\0" in raw["records"]):
        w.fail(f"records is {shown(raw['records'])}; expected the records folder, relative to the file", "records")
    _kind(w, raw.get("partial"), (bool,), "true or false", "partial")
    for key in ("model", "config", "coverage", "skipped", "overall_secondary"):
        _kind(w, raw.get(key), (dict,), "an object", key)
    for block in ("overall", "overall_secondary"):
        for key, v in (raw.get(block) or {}).items():
            _percent(w, v, block, key)
    model = raw.get("model") or {}
    for key in ("name", "path", "base_model", "protocol", "revision"):
        _kind(w, model.get(key), (str,), "a string", "model", key)
    inter = model.get("intermediate")
    if inter is not None and not isinstance(inter, str):
        _strings(w, inter, "model", "intermediate")
    config = raw.get("config") or {}
    if config.get("limit") is not None:
        _count(w, config["limit"], "config", "limit")
    for task, cov in (raw.get("coverage") or {}).items():
        _kind(w, cov, (dict,), "an object", "coverage", task, optional=False)
        _kind(w, cov.get("complete"), (bool,), "true or false", "coverage", task, "complete")
        _kind(w, cov.get("replaces_builtin"), (str,), "the file of the spec that replaces the task", "coverage",
              task, "replaces_builtin")
        for key in ("languages", "missing", "no_gold", "missing_data"):
            _strings(w, cov.get(key), "coverage", task, key)
    for task, figures in raw["tasks"].items():
        if not isinstance(figures, dict):
            w.fail(f"tasks.{task} is {shown(figures)}; expected an object of figures", "tasks", task)
        _kind(w, figures.get("split"), (str,), "a string (the split)", "tasks", task, "split")
        for key in ("n", "stats", "secondary"):
            _kind(w, figures.get(key), (dict,), "an object", "tasks", task, key)
        for lang, v in (figures.get("n") or {}).items():
            _count(w, v, "tasks", task, "n", lang)
        for lang, v in (figures.get("stats") or {}).items():
            _kind(w, v, (dict,), "an object", "tasks", task, "stats", lang, optional=False)
        _figures(w, {k: v for k, v in figures.items() if k not in _TASK_KEYS}, "tasks", task)
        _figures(w, figures.get("secondary") or {}, "tasks", task, "secondary")


def read_results(path: str | os.PathLike, what: str = "results file") -> tuple[dict, JsonLocator]:
    """A results document, read (regular file, size cap, UTF-8) and checked; with its line locator."""
    path = os.fspath(path)
    text = read_text(path, what)
    raw = load_json_text(text, path, what)
    loc = JsonLocator(text)
    check_results(raw, path, loc)
    return raw, loc


def _record_field_ok(kind: str, v: Any) -> bool:
    if kind == FRACTION:
        return is_number(v) and math.isfinite(v) and 0 <= v <= 1
    if not isinstance(v, int) or isinstance(v, bool):
        return False
    return v in (0, 1) if kind == FLAG else v >= 0


def check_record(rec: Any, path: str, line: int) -> None:
    """One per-example record: an object with an id, and every known field within its range."""
    if not isinstance(rec, dict) or "id" not in rec:
        raise UserError("a record must be a JSON object with an 'id'", path, line)
    rid = rec["id"]
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise UserError(f"record id {shown(rid)}; expected a string or an integer", path, line)
    for key, kind in RECORD_FIELDS.items():
        if key in rec and not _record_field_ok(kind, rec[key]):
            raise UserError(f"record '{clip(rid)}': {key} is {shown(rec[key])}; expected {kind}", path, line)
    if "tp" in rec:
        for key in ("n_pred", "n_gold"):
            if key in rec and rec["tp"] > rec[key]:
                raise UserError(f"record '{clip(rid)}': tp is {rec['tp']} but {key} is {rec[key]}; expected tp "
                                "(chunks both predicted and gold) no larger than either count", path, line)


def read_records(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """A records file (``records/<task>/<lang>.jsonl``) as (line, record) pairs, every record checked."""
    path = os.fspath(path)
    numbered = [(i, ln) for i, ln in enumerate(read_lines(path, "records file"), 1) if ln.strip()]
    try:  # one parse for the whole file: per-line json.loads dominates on large test sets
        recs = json.loads("[" + ",".join(ln for _, ln in numbered) + "]", object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, RecursionError, RepeatedKey):
        recs = None
    if recs is None or len(recs) != len(numbered):
        recs = []
        for i, ln in numbered:
            try:
                recs.append(json.loads(ln, object_pairs_hook=unique_keys))
            except json.JSONDecodeError as exc:
                raise UserError(f"malformed JSON record: {exc.msg} (column {exc.colno})", path, i) from None
            except RecursionError:
                raise UserError("record nested too deeply; expected one flat JSON object per line", path, i) from None
            except RepeatedKey as exc:
                raise UserError(f"record repeats the key '{clip(exc.key)}'; expected each key once", path, i) \
                    from None
    seen: dict[str, int] = {}
    out = []
    for (i, _), rec in zip(numbered, recs):
        check_record(rec, path, i)
        rid = str(rec["id"])
        if rid in seen:
            raise UserError(f"record id '{clip(rid)}' repeats line {seen[rid]}; expected one record per example",
                            path, i)
        seen[rid] = i
        out.append((i, rec))
    return out


# --- results.json ------------------------------------------------------------------------------

class Results:
    """Builds ``results.json`` task by task: the official per-task figures, coverage, overall scores."""

    def __init__(self, model: dict[str, Any], config: dict[str, Any], version: str,
                 skipped: dict[str, str] | None = None):
        self.model, self.config, self.version = model, config, version
        self.skipped = dict(skipped or {})
        self.tasks: dict[str, Any] = {}
        self.coverage: dict[str, Any] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.complete: set[str] = set()

    def add_task(self, spec: TaskSpec, split: str, states: dict[str, dict], run: list[str],
                 no_gold: list[str] | None = None, skipped: dict[str, str] | None = None,
                 missing_data: list[str] | None = None) -> None:
        """One task from the states of the languages that ran (``run``, in order)."""
        per_lang, secondary, counts, stats = {}, {}, {}, {}
        for lang in run:
            if lang not in states:
                continue
            state = states[lang]
            counts[lang] = state["n"]
            if state.get("inputs") is not None:
                self.inputs.setdefault(spec.task, {})[lang] = state["inputs"]
            stats[lang] = state.get("stats", {})
            if state.get("metrics"):
                per_lang[lang] = state["metrics"]
                secondary[lang] = state.get("secondary", {})
        version_langs = list(spec.languages(self.version) or spec.all_languages())
        scored_missing = [lang for lang in version_langs if lang not in per_lang]
        entry: dict[str, Any] = {}
        if per_lang:
            entry = aggregate_task(spec, per_lang, secondary, version_langs, None if scored_missing else version_langs)
        entry.update(split=split, n=counts, stats=stats)
        self.tasks[spec.task] = entry
        self.coverage[spec.task] = {
            "complete": not scored_missing, "languages": list(per_lang), "missing": scored_missing,
            "no_gold": no_gold if no_gold is not None else [lang for lang in run if lang not in per_lang],
            "skipped": dict(skipped or {}), "missing_data": list(missing_data or [])}
        if spec.replaces_builtin:  # not the official task: shown, but never part of an overall score
            self.coverage[spec.task]["replaces_builtin"] = spec.source_file
        elif not scored_missing:
            self.complete.add(spec.task)

    def document(self) -> dict[str, Any]:
        overall, overall_secondary = overall_scores(self.tasks, self.complete, self.version)
        doc = {
            "schema": SCHEMA, "harness_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "model": self.model, "config": self.config, "version": self.version,
            "overall": overall,
            "tasks": self.tasks, "coverage": self.coverage, "skipped": self.skipped,
            "partial": not all(t in self.complete for t in benchmark_tasks(self.version)),
            "records": "records",
        }
        if self.inputs:  # what each (task, language) read, each input with its content fingerprint
            doc["inputs"] = self.inputs
        if overall_secondary:
            doc["overall_secondary"] = overall_secondary
        return doc

    def write(self, out: Path, timings: dict[str, float] | None = None) -> dict[str, Any]:
        doc = self.document()
        atomic_write_json(out / "results.json", doc)
        # Wall-clock times vary run to run; they live beside results.json so that it stays reproducible.
        atomic_write_json(out / "timings.json", {k: round(v, 3) for k, v in (timings or {}).items()})
        return doc


