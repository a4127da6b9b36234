"""Results files that ``lm_eval --output_path`` writes for this project's ``xtreme_*`` tasks, read as a board row.

lm-eval names a task ``xtreme_<task>_<lang>`` (groups ``xtreme_<task>``, the
umbrella group ``xtreme``) and keys its figures ``"<metric>,<filter>"``
(``"accuracy,none"``, ``"f1,tags"``, ``"exact_match,answer"``, ``"f1,answer"``:
the filter each task family's lm-eval form names). The figures are already
percentages computed with the official metric functions, so a row is the
per-language figures, aggregated here as ``evaluate.py`` aggregates them (task
averages over the languages present; a task missing languages is partial, as
in any partial run). The row's protocol is ``zero-shot prompted`` (the
``xtreme-encoder`` model is a fine-tuned encoder answering the same prompts:
``fine-tuned transfer``), and the lm-eval model and its arguments are kept.
"""

from __future__ import annotations

import math
from typing import Any

from ..io.errors import clip
from ..io.jsonfile import Where
from ..io.messages import is_number, shown
from ..tasks.registry import registry
from ..tasks.results import SCHEMA
from ..tasks.scoring import aggregate_task

VERSION = "xtreme"
ENCODER_MODEL = "xtreme-encoder"
_GROUP_TOLERANCE = 1e-6  # lm-eval sums its group mean in its own order


def is_lmeval(raw: Any) -> bool:
    """lm-eval's aggregated results: ``results`` and lm-eval's bookkeeping, no schema of ours, no ``tasks``."""
    return (isinstance(raw, dict) and "schema" not in raw and "tasks" not in raw
            and isinstance(raw.get("results"), dict)
            and any(k in raw for k in ("configs", "config", "versions", "n-shot", "group_subtasks")))


def _forms() -> dict[str, Any]:
    """The tasks lm-eval can run (those with an lm-eval form), each with its form."""
    from ..lmeval.forms import form_of

    out = {}
    for task, spec in registry().items():
        form = form_of(spec)
        if form is not None and spec.languages(VERSION):
            out[task] = form
    return out


def _model_args(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def lmeval_document(raw: dict, w: Where) -> tuple[dict, dict]:
    """A results document (our schema) holding the lm-eval file's figures, and the lm-eval model info."""
    forms = _forms()
    specs = registry()
    per_task: dict[str, dict[str, dict[str, float]]] = {}
    groups: dict[str, dict] = {}
    splits: dict[str, set[str]] = {}
    shots: set[int] = set()
    limits: set[Any] = set()
    configs = raw.get("configs") if isinstance(raw.get("configs"), dict) else {}
    n_shot = raw.get("n-shot") if isinstance(raw.get("n-shot"), dict) else {}
    for name, figs in raw["results"].items():
        name = str(name)
        if name == "xtreme":
            continue
        if not name.startswith("xtreme_"):
            w.fail(f"lm-eval task '{clip(name)}' is not one of this project's xtreme_<task>_<lang> tasks; a board "
                   "reads lm-eval results of the xtreme_* tasks only (run lm-eval's other tasks on their own)",
                   "results", name)
        rest = name[len("xtreme_"):]
        if rest in forms:
            groups[rest] = figs
            continue
        task, _, lang = rest.rpartition("_")
        if task not in forms:
            known = ", ".join(f"xtreme_{t}" for t in forms)
            w.fail(f"lm-eval task '{clip(name)}' names no task of this project's lm-eval tasks ({known}, each "
                   "with _<lang>)", "results", name)
        spec = specs[task]
        if lang not in spec.languages(VERSION):
            w.fail(f"lm-eval task '{clip(name)}': '{clip(lang)}' is not an XTREME language of {task}",
                   "results", name)
        if not isinstance(figs, dict):
            w.fail(f"results.{name} is {shown(figs)}; expected lm-eval's object of figures", "results", name)
        form = forms[task]
        values: dict[str, float] = {}
        for metric in spec.metrics.primary:
            key = f"{metric},{form.filter_name}"
            v = figs.get(key)
            if v is None:
                continue
            if not is_number(v) or not math.isfinite(v) or not 0 <= v <= 100 + 1e-9:
                w.fail(f"results.{name}.\"{key}\" is {shown(v)}; expected a percentage from 0 to 100 (the "
                       "xtreme_* tasks report percentages)", "results", name, key)
            values[metric] = float(v)
        if len(values) != len(spec.metrics.primary):
            continue  # lm-eval lists a language it had no data for (sample_len 0) without figures
        per_task.setdefault(task, {})[lang] = values
        meta = ((configs.get(name) or {}).get("metadata") or {}) if isinstance(configs.get(name), dict) else {}
        splits.setdefault(task, set()).add(str(meta.get("xtreme_split") or "test"))
        if meta.get("xtreme_limit") is not None:
            limits.add(meta["xtreme_limit"])
        if is_number(n_shot.get(name)):
            shots.add(int(n_shot[name]))
    if not per_task:
        w.fail("lm-eval results file with no figures of an xtreme_<task>_<lang> task; expected lm-eval's output "
               "for this project's xtreme_* tasks", "results")

    tasks: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    for task, by_lang in per_task.items():
        spec = specs[task]
        langs = list(spec.languages(VERSION))
        missing = [lang for lang in langs if lang not in by_lang]
        tasks[task] = aggregate_task(spec, by_lang, None, langs, None if missing else langs)
        if len(splits[task]) > 1:
            w.fail(f"lm-eval results for {task} mix splits ({', '.join(sorted(splits[task]))}); expected one split "
                   "per task", "results")
        tasks[task]["split"] = next(iter(splits[task]))
        coverage[task] = {"complete": not missing, "languages": [lang for lang in langs if lang in by_lang],
                          "missing": missing}
        _check_group(task, groups.get(task), tasks[task], forms[task], spec, w)

    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    model = str(config.get("model") or raw.get("model_source") or "unknown")
    args = _model_args(config.get("model_args"))
    model_name = raw.get("model_name") if isinstance(raw.get("model_name"), str) and raw.get("model_name") else None
    name = model_name or (args or model)
    protocol = "fine-tuned transfer" if model == ENCODER_MODEL else "zero-shot prompted"
    limit = config.get("limit")
    if limit is None and limits:
        limit = max(limits)
    doc = {"schema": SCHEMA, "model": {"name": f"{name} (lm-eval {model})", "path": model_name,
                                       "protocol": protocol, "lm_eval": {"model": model, "model_args": args}},
           "config": {"limit": limit} if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
           else {},
           "version": VERSION, "overall": {}, "tasks": tasks, "coverage": coverage, "partial": True}
    info = {"source": "lm-eval", "model": model, "model_args": args, "model_name": model_name,
            "lm_eval_version": raw.get("lm_eval_version"), "n_shot": sorted(shots)}
    return doc, info


def _check_group(task: str, figs: Any, scored: dict, form, spec, w: Where) -> None:
    """lm-eval's group line (the unweighted mean over the languages present) must agree with the languages."""
    if not isinstance(figs, dict):
        return
    name = f"xtreme_{task}"
    for metric in spec.metrics.primary:
        key = f"{metric},{form.filter_name}"
        v = figs.get(key)
        if v is None or not is_number(v):
            continue
        mine = scored.get(f"avg_{metric}")
        if mine is None:
            continue
        langs = scored.get(metric) or {}
        present = sum(langs.values()) / len(langs) if langs else mine
        if abs(float(v) - present) > _GROUP_TOLERANCE * max(1.0, abs(present)):
            w.fail(f"results.{name}.\"{key}\" = {v!r} but its languages' figures average to {present!r}; expected "
                   "the lm-eval output as written", "results", name, key)
