"""Scoring prediction folders exactly as the official ``evaluate.py`` does, and aggregating.

The aggregation rules are the official ones: per language, the average over
languages (in the benchmark's language order), ``avg_metric`` (the mean of the
primary figures: (EM+F1)/2 for QA), category scores, and the all-task XTREME
score. Unlike ``evaluate.py``, a language missing from either folder is not an
error: the languages present on both sides are scored and the task is marked
partial, and partial tasks never enter the category or overall scores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..families import Predictions, family_of
from ..io.errors import UserError, clip
from ..io.messages import listing
from ..metrics import METRICS
from ..spec import TaskSpec, benchmark, benchmarks
from .registry import registry


def load_pair(spec: TaskSpec, pred_path: str, label_path: str) -> tuple[Any, Any]:
    """Read a prediction file and its label file in the task's format, checking they line up: (gold, preds)."""
    return family_of(spec).read_pair(spec, pred_path, label_path)


def score_language(spec: TaskSpec, labels: Any, predictions: Any, lang: str) -> tuple[dict[str, float], dict[str, float]]:
    """Official figures and secondary figures for one language, all in percent."""
    try:
        official = METRICS[spec.metrics.official].fn(labels, predictions, lang)
        secondary: dict[str, float] = {}
        for name in spec.metrics.secondary:
            secondary.update(METRICS[name].fn(labels, predictions, lang))
    except ValueError as exc:  # e.g. MLQA normaliser asked for a language it lacks
        raise UserError(f"{spec.task}/{lang}: {exc}") from None
    return official, secondary

def score(spec: TaskSpec, predictions: Predictions) -> tuple[Any, dict[str, Any]]:
    """(gold or None, the state entries of one language: n, stats and, with gold, the official and secondary
    figures). Every producer's predictions are scored here: ``xtreme-eval``'s, lm-eval's and the trainer's."""
    fam = family_of(spec)
    gold = fam.gold(spec, predictions.examples)
    state: dict[str, Any] = {"n": fam.count(predictions.examples), "stats": dict(predictions.stats)}
    if gold is not None:
        metrics, secondary = score_language(spec, gold, fam.scored(spec, predictions), predictions.lang)
        secondary.update(predictions.figures)
        state.update(metrics=metrics, secondary=secondary)
    return gold, state


def records(spec: TaskSpec, predictions: Predictions, gold: Any) -> list[dict[str, Any]]:
    """One record per scored unit: id, prediction, gold and each metric's per-example fields (what a paired
    bootstrap resamples), then the producer's own fields; none for a corpus-level metric such as BUCC's."""
    units = family_of(spec).units(spec, predictions, gold)
    if units is None:
        return []
    lang = predictions.lang
    scorers = [METRICS[name] for name in (spec.metrics.official, *spec.metrics.secondary)
               if METRICS[name].record is not None]
    fields = []
    if gold is not None and units:  # each metric's fields of every unit, computed at once where it can
        golds, preds = [g for _, _, g in units], [p for _, p, _ in units]
        fields = [m.all_records(golds, preds, lang) for m in scorers]
    out = []
    for k, (uid, pred, g) in enumerate(units):
        rec: dict[str, Any] = {"id": uid, "pred": pred}
        if gold is not None:
            rec["gold"] = g
            for per_unit in fields:
                rec.update(per_unit[k])
        out.append(rec)
    if predictions.extra:
        out = [{**rec, **extra} for rec, extra in zip(out, predictions.extra)]
    return out


def aggregate_task(spec: TaskSpec, per_lang: dict[str, dict[str, float]],
                   secondary: dict[str, dict[str, float]] | None = None,
                   order: list[str] | tuple[str, ...] | None = None,
                   average_over: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
    """The official per-task dict: ``{metric: {lang: v}, avg_<metric>: v, avg_metric: v}``.

    Averages run over ``average_over`` (default: every language given), summed
    in ``order`` as the official scorer sums them.
    """
    ordered = set(order or ())  # sets: a spec may list hundreds of languages, and this must stay linear
    langs = [lang for lang in (order or ()) if lang in per_lang] + [lang for lang in per_lang if lang not in ordered]
    over = None if average_over is None else set(average_over)
    avg_langs = [lang for lang in langs if over is None or lang in over]
    score: dict[str, Any] = {}
    for lang in langs:
        for metric, value in per_lang[lang].items():
            score.setdefault(metric, {})[lang] = value
    for m in list(score):
        score[f"avg_{m}"] = sum(score[m][lang] for lang in avg_langs) / len(avg_langs)
    if langs:
        prim = [score[f"avg_{k}"] for k in spec.metrics.primary]
        score["avg_metric"] = prim[0] if len(prim) == 1 else sum(prim) / len(prim)
    if secondary:
        sec: dict[str, Any] = {}
        for lang in langs:
            for metric, value in (secondary.get(lang) or {}).items():
                sec.setdefault(metric, {})[lang] = value
        for m in list(sec):
            sec[f"avg_{m}"] = sum(sec[m][lang] for lang in avg_langs) / len(avg_langs)
        if sec:
            score["secondary"] = sec
    return score


def overall_scores(tasks: dict[str, dict[str, Any]], complete: set[str],
                   version: str) -> tuple[dict[str, float], dict[str, float]]:
    """(official, secondary): the all-task and category scores, each only when every task it needs is complete.

    ``evaluate.py`` gives XTREME-R's LAReQA no languages, so LAReQA never has
    an ``avg_metric`` there and the XTREME-R all-task score is never reported;
    mirrored here, the mean over all tasks (LAReQA's mAP@20 included) goes to
    the secondary figures instead.
    """
    bench = benchmark(version)
    specs = registry()
    official: dict[str, float] = {}
    secondary: dict[str, float] = {}
    all_tasks = list(bench["tasks"])
    if all(t in complete and "avg_metric" in tasks.get(t, {}) for t in all_tasks):
        value = sum(tasks[t]["avg_metric"] for t in all_tasks) / len(all_tasks)
        reachable = all(specs[t].languages(version) for t in all_tasks if t in specs)
        (official if reachable else secondary)["all_task"] = value
    for group, group_tasks in bench["categories"].items():
        if all(t in complete and "avg_metric" in tasks.get(t, {}) for t in group_tasks):
            official[group] = sum(tasks[t]["avg_metric"] for t in group_tasks) / len(group_tasks)
    return official, secondary


def task_languages(spec: TaskSpec, version: str) -> tuple[str, ...]:
    return spec.languages(version) or spec.all_languages()


def _folder_langs(folder: Path, ext: str) -> dict[str, Path]:
    out = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            name = p.name
            # whatever holds the name (a folder, a FIFO, a dangling link) is read and refused by name, not skipped
            if name.startswith("test-") and name.endswith(f".{ext}"):
                out[name[len("test-"):-len(ext) - 1]] = p
    return out


def score_folders(predictions: str | os.PathLike, labels: str | os.PathLike, tasks: list[str] | None = None,
                  version: str = "xtreme", task_dirs=None, warn=None) -> dict[str, Any]:
    """Score ``<predictions>/<task>/test-<lang>.<ext>`` against ``<labels>/...`` as ``evaluate.py`` does."""
    warn = warn or (lambda msg: print(f"xtreme-score: {msg}", file=sys.stderr))
    pred_root, label_root = Path(predictions), Path(labels)
    for root, what in ((pred_root, "predictions"), (label_root, "labels")):
        if not root.is_dir():
            raise UserError(f"{what} folder not found", str(root))
    specs = registry(tuple(task_dirs) if task_dirs else None)
    benchmark(version)  # validates the version
    if tasks:
        for t in tasks:
            if t not in specs:
                raise UserError(f"unknown task {clip(repr(t), 80)} (known: {listing(sorted(specs), 40)})")
        names = list(tasks)
    else:
        bench_tasks = [t for t in benchmark(version)["tasks"] if t in specs]
        # user tasks of no benchmark are scored too; another version's tasks only with that --version
        other = {t for v in benchmarks() if v != version for t in benchmark(v)["tasks"]}
        extra = sorted(t for t in specs if t not in bench_tasks and t not in other)
        names = [t for t in bench_tasks + extra
                 if (pred_root / t).is_dir() and (label_root / t).is_dir()]
        ignored = sorted(p.name for p in pred_root.iterdir() if p.is_dir() and p.name not in names)
        if ignored:
            warn(f"ignoring folders that are not {version} tasks with labels: {listing(ignored, 40)}")

    detailed: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    complete: set[str] = set()
    for name in names:
        spec = specs[name]
        langs = task_languages(spec, version)
        in_version = set(langs)
        preds = _folder_langs(pred_root / name, spec.submission_ext)
        golds = _folder_langs(label_root / name, spec.submission_ext)
        known = set(spec.all_languages())
        for side, files in (("prediction", preds), ("labels", golds)):
            for lang, path in files.items():
                if lang not in known:
                    raise UserError(f"unknown language {clip(repr(lang), 80)} for task {name} "
                                    f"(expected one of: {listing(sorted(known), 40)})", str(path))
        per_lang, secondary = {}, {}
        order = list(langs) + [lang for lang in spec.all_languages() if lang not in in_version]
        for lang in order:
            if lang in preds and lang in golds:
                gold, pred = load_pair(spec, str(preds[lang]), str(golds[lang]))
                per_lang[lang], secondary[lang] = score_language(spec, gold, pred, lang)
        if not per_lang:
            warn(f"{name}: no language has both predictions and labels; skipped")
            continue
        missing = [lang for lang in langs if lang not in per_lang]
        outside = [lang for lang in per_lang if lang not in in_version]
        # Complete: average over the version's languages, exactly as evaluate.py.
        # Partial: average over every language scored, and say so.
        detailed[name] = aggregate_task(spec, per_lang, secondary, order, None if missing else langs)
        coverage[name] = {"complete": not missing, "languages": list(per_lang), "missing": missing}
        if outside:
            coverage[name]["not_in_version"] = outside
        if not missing:
            complete.add(name)
    overall, overall_secondary = overall_scores(detailed, complete, version)
    bench_tasks = benchmark(version)["tasks"]
    absent = {t: ("no task spec" if t not in specs else "no predictions folder" if not (pred_root / t).is_dir()
                  else "no labels folder" if not (label_root / t).is_dir() else "no language on both sides")
              for t in bench_tasks if t not in detailed}
    if absent and not tasks:
        warn(f"not scored ({version}): " + listing([f"{t} ({why})" for t, why in absent.items()], 40))
    result = {"overall": overall, "tasks": detailed, "coverage": coverage,
              "partial": not all(t in complete for t in bench_tasks), "version": version}
    if absent:
        result["not_scored"] = absent
    if overall_secondary:
        result["overall_secondary"] = overall_secondary
    return result
