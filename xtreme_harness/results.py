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
from pathlib import Path
from typing import Any

from . import __version__
from .data.io import atomic_write_json, atomic_write_text, safe_join
from .errors import UserError
from .families import Predictions, family_of
from .spec import TaskSpec, benchmark_tasks

SCHEMA = "xtreme-harness/results/v1"
STATE_VERSION = 1


# --- which languages run ------------------------------------------------------------------

def plan_languages(spec: TaskSpec, languages: str, split: str, data_dir: str, version: str,
                   skipped: dict[str, dict[str, str]], missing: dict[str, list[str]]) -> list[str]:
    """The languages of ``spec`` to run; the others are reported in ``skipped`` or ``missing``.

    A language outside the task is skipped; a language of the task whose files
    are missing is an error when asked for by name, and reported as missing
    data under ``all``.
    """
    from .data.readers import available, required_files

    task_langs = list(spec.languages(version) or spec.all_languages())
    split_langs = spec.splits.get(split).languages if split in spec.splits else None
    if languages.strip() == "all":
        wanted, explicit = task_langs, False
    else:
        wanted, explicit = [x.strip() for x in languages.split(",") if x.strip()], True
    out = []
    for lang in wanted:
        if lang not in spec.all_languages() and lang not in task_langs:
            skipped.setdefault(spec.task, {})[lang] = f"not a {spec.task} language"
            continue
        if split_langs and lang not in split_langs:
            skipped.setdefault(spec.task, {})[lang] = f"{spec.task} has no {split} split for {lang}"
            continue
        if not available(spec, data_dir, lang, split):
            files = [str(p) for p in required_files(spec, data_dir, lang, split) if not p.is_file()]
            if explicit:
                raise UserError(f"{spec.task} data for '{lang}' not found", files[0] if files else data_dir)
            missing.setdefault(spec.task, []).append(lang)
            continue
        out.append(lang)
    return out


# --- one (task, language) ------------------------------------------------------------------

def score(spec: TaskSpec, predictions: Predictions) -> tuple[Any, dict[str, Any]]:
    """(gold or None, the state entries: n, stats and, with gold, the official and secondary figures)."""
    from .scoring import score_language

    fam = family_of(spec)
    gold = fam.gold(spec, predictions.examples)
    state: dict[str, Any] = {"n": fam.count(predictions.examples), "stats": dict(predictions.stats)}
    if gold is not None:
        metrics, secondary = score_language(spec, gold, fam.scored(spec, predictions), predictions.lang)
        secondary.update(predictions.figures)
        state.update(metrics=metrics, secondary=secondary)
    return gold, state


def write_outputs(out: Path, spec: TaskSpec, predictions: Predictions, gold: Any) -> None:
    """predictions/, labels/ and records/ of one (task, language)."""
    fam = family_of(spec)
    lang, ext = predictions.lang, spec.submission_ext
    fam.write_output(spec, safe_join(out, "predictions", spec.task, f"test-{lang}.{ext}"), predictions.output)
    if gold is not None:
        fam.write_gold(spec, safe_join(out, "labels", spec.task, f"test-{lang}.{ext}"), gold, predictions.examples)
    records = fam.records(spec, predictions, gold)
    if predictions.extra:
        records = [{**rec, **extra} for rec, extra in zip(records, predictions.extra)]
    if records:
        atomic_write_text(safe_join(out, "records", spec.task, f"{lang}.jsonl"),
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


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
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


# --- results.json ------------------------------------------------------------------------------

class Results:
    """Builds ``results.json`` task by task: the official per-task figures, coverage, overall scores."""

    def __init__(self, model: dict[str, Any], config: dict[str, Any], version: str,
                 skipped: dict[str, str] | None = None):
        self.model, self.config, self.version = model, config, version
        self.skipped = dict(skipped or {})
        self.tasks: dict[str, Any] = {}
        self.coverage: dict[str, Any] = {}
        self.complete: set[str] = set()

    def add_task(self, spec: TaskSpec, split: str, states: dict[str, dict], run: list[str],
                 no_gold: list[str] | None = None, skipped: dict[str, str] | None = None,
                 missing_data: list[str] | None = None) -> None:
        """One task from the states of the languages that ran (``run``, in order)."""
        from .scoring import aggregate_task

        per_lang, secondary, counts, stats = {}, {}, {}, {}
        for lang in run:
            if lang not in states:
                continue
            state = states[lang]
            counts[lang] = state["n"]
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
        if not scored_missing:
            self.complete.add(spec.task)

    def document(self) -> dict[str, Any]:
        from .scoring import overall_scores

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
        if overall_secondary:
            doc["overall_secondary"] = overall_secondary
        return doc

    def write(self, out: Path, timings: dict[str, float] | None = None) -> dict[str, Any]:
        doc = self.document()
        atomic_write_json(out / "results.json", doc)
        # Wall-clock times vary run to run; they live beside results.json so that it stays reproducible.
        atomic_write_json(out / "timings.json", {k: round(v, 3) for k, v in (timings or {}).items()})
        return doc


__all__ = ["Results", "SCHEMA", "STATE_VERSION", "plan_languages", "read_state", "score",
           "score_and_write", "write_outputs"]
