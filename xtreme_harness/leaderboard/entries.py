"""Results files as leaderboard entries, checked against the official aggregation.

A leaderboard that trusts a figure it did not recompute can print a score that
``evaluate.py`` would never give. So every file is re-aggregated from its
per-language figures with :mod:`xtreme_harness.tasks.scoring`, and a file whose
averages or overall scores disagree with its own per-language figures is
refused rather than shown.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.errors import UserError, os_error
from ..io.jsonfile import Where
from ..spec import TaskSpec, benchmark
from ..tasks.registry import registry
from ..tasks.results import check_results, read_results
from ..tasks.scoring import overall_scores, task_languages

PROTOCOLS = ("fine-tuned transfer", "zero-shot prompted")
_TOL = 1e-9


def close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL * max(1.0, abs(a), abs(b))


@dataclass
class TaskScore:
    """One task of one entry: the averages, the per-language figures, and whether it is complete."""

    task: str
    primary: tuple[str, ...]
    avgs: dict[str, float | None]  # avg of each primary figure over languages
    avg_metric: float | None
    per_lang: dict[str, dict[str, float]] = field(default_factory=dict)  # figure -> lang -> value
    complete: bool = True
    missing: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    split: str | None = None  # a run's ``tasks.<t>.split`` (None: not recorded)
    counts: dict[str, int] = field(default_factory=dict)  # a run's ``tasks.<t>.n``: examples scored per language

    def lang_score(self, lang: str) -> float | None:
        """Mean of the primary figures in one language: the quantity ``avg_metric`` averages."""
        vals = [self.per_lang.get(k, {}).get(lang) for k in self.primary]
        if not vals or any(v is None for v in vals):
            return None
        return sum(vals) / len(vals)


@dataclass
class Published:
    """Where a reference row was printed and how to read it: split, version read, second-hand, deltas.

    A published figure is only comparable with a run's when the splits agree and
    the figure is absolute, so these marks travel with every reference row.
    """

    row_id: str
    file_id: str
    path: str
    model: str
    short: str
    citation: str
    table: str
    split: str  # test | dev | unstated | n/a, read off the source's own split text
    split_text: str
    split_exceptions: dict[str, str] = field(default_factory=dict)  # task -> the source's text
    figures_are: str = "absolute"  # or "delta"
    delta_vs: str | None = None
    delta_figures: dict[str, dict[str, float]] = field(default_factory=dict)
    intermediate: str | None = None  # the intermediate task as printed (delta rows)
    mlm: bool | None = None
    transfer: str | None = None
    setting: str | None = None
    label_printed: str | None = None
    url: str | None = None
    url_read: str | None = None
    version_read: str | None = None
    page: str | None = None
    caveat: str | None = None
    second_hand: str | None = None
    printed_avg: dict[str, float] = field(default_factory=dict)  # printed label -> value, never our score
    per_language_tables: dict[str, str] = field(default_factory=dict)
    per_language_printed_avg: dict[str, dict[str, float]] = field(default_factory=dict)
    printed_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> {our figure: label printed}
    notes: list[str] = field(default_factory=list)  # the row's own notes, as the source gives them
    file_notes: list[str] = field(default_factory=list)  # notes the source gives for every row of the file
    baseline: Entry | None = field(default=None, repr=False)  # the row delta_vs names (delta rows)

    def split_of(self, task: str) -> str:
        exc = self.split_exceptions.get(task)
        return split_kind(exc) if exc else self.split

    @property
    def is_delta(self) -> bool:
        return self.figures_are == "delta"


SPLIT_KINDS = ("test", "dev", "unstated", "n/a")


def split_kind(text: str) -> str:
    """The split a source's split text names: its first word ("dev (no held-out test data)" is dev)."""
    word = text.strip().split()[0].rstrip(",;:").lower() if text and text.strip() else ""
    return word if word in SPLIT_KINDS else ""


@dataclass
class Entry:
    """A row of the leaderboard: a run (a results file) or a published reference."""

    name: str
    kind: str  # "run" or "reference"
    version: str
    tasks: dict[str, TaskScore]
    overall: dict[str, float]  # recomputed, only figures whose tasks are complete
    source: str = ""  # the results file, or the reference's citation
    overall_secondary: dict[str, float] = field(default_factory=dict)  # XTREME-R's all-task mean (see scoring)
    table: str = ""  # the reference's table
    reference_id: str = ""
    protocol: str | None = None
    intermediate: tuple[str, ...] | None = None  # None: unknown (no ``model.intermediate``)
    base_model: str | None = None
    model_path: str | None = None
    records_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    ref: Published | None = None  # reference rows only

    @property
    def partial(self) -> bool:
        return "all_task" not in self.overall and "all_task" not in self.overall_secondary

    @property
    def score(self) -> float | None:
        """The headline score: the official all-task score, else (XTREME-R) the secondary mean of all tasks."""
        return self.overall.get("all_task", self.overall_secondary.get("all_task"))


def spec_for(task: str) -> TaskSpec | None:
    return registry().get(task)


def primary_of(task: str, score: dict[str, Any]) -> tuple[str, ...]:
    spec = spec_for(task)
    if spec is not None:
        return spec.metrics.primary
    # A task without a spec: every per-language figure with an average.
    return tuple(k for k, v in score.items() if isinstance(v, dict) and k != "secondary"
                 and isinstance(score.get(f"avg_{k}"), (int, float)))


def resolve_results_path(path: str | os.PathLike) -> Path:
    """A results file, or a folder holding ``results.json`` (what ``xtreme-eval --output`` writes).

    Anything else (a missing path, a FIFO, a link loop) is returned as it is,
    for the reader to refuse with its own message.
    """
    p = Path(path)
    try:
        is_dir = stat.S_ISDIR(os.stat(p).st_mode)
    except (OSError, ValueError):
        return p
    if not is_dir:
        return p
    inner = p / "results.json"
    try:
        os.lstat(inner)
    except FileNotFoundError:
        raise UserError("folder has no results.json", str(p)) from None
    except OSError as exc:
        raise os_error(exc, inner, "results file") from None
    return inner


def results_key(path: str | os.PathLike) -> str:
    """The file a results argument names, for telling two arguments apart (never raises on link loops)."""
    return os.path.realpath(resolve_results_path(path))


def load_results(path: str | os.PathLike, name: str | None = None) -> Entry:
    """Read, validate and re-aggregate one results file (or an ``xtreme-score --json`` file)."""
    p = resolve_results_path(path)
    raw, loc = read_results(p)
    return _entry(raw, str(p), Where(str(p), loc), name, p.parent)


def entry_from_dict(raw: Any, path: str = "<results>", name: str | None = None,
                    base_dir: Path | None = None) -> Entry:
    """A results document already in memory, checked as :func:`load_results` checks a file."""
    w = Where(path)
    check_results(raw, path, w)
    return _entry(raw, path, w, name, base_dir)


def _entry(raw: dict, path: str, w: Where, name: str | None, base_dir: Path | None) -> Entry:
    version = raw.get("version") or "xtreme"
    try:
        benchmark(version)
    except UserError as exc:
        w.fail(exc.message, "version")
    coverage = raw.get("coverage") or {}

    tasks: dict[str, TaskScore] = {}
    notes: list[str] = []
    replaced: set[str] = set()
    for task, score in raw["tasks"].items():
        tasks[task] = _task_score(task, score, coverage.get(task), version, w)
        spec_file = (coverage.get(task) or {}).get("replaces_builtin")
        if spec_file:  # a user spec under a built-in id: shown, never counted in an overall score
            tasks[task].complete = False
            replaced.add(task)
            notes.append(f"{task}: evaluated with a task spec that replaces the built-in one ({spec_file}); "
                         "not the official task, so left out of every overall score")

    complete = {t for t, ts in tasks.items() if ts.complete and ts.avg_metric is not None}
    overall, overall_secondary = overall_scores({t: {"avg_metric": ts.avg_metric} for t, ts in tasks.items()
                                                 if ts.avg_metric is not None}, complete, version)
    for block, recomputed in (("overall", overall), ("overall_secondary", overall_secondary)):
        for key, value in (raw.get(block) or {}).items():
            if key not in recomputed:
                bench = benchmark(version)
                needed = bench["tasks"] if key == "all_task" else bench["categories"].get(key, [])
                lacking = [t for t in needed if t not in complete]
                why = (f"task(s) {', '.join(lacking)} are partial or missing" if set(lacking) - replaced
                       else f"task(s) {', '.join(lacking)} were evaluated with a replacement spec" if lacking
                       else "it is not a figure of this benchmark version")
                w.fail(f"{block}.{key} = {value} is reported but {why}; it cannot be recomputed", block, key)
            elif not close(float(value), recomputed[key]):
                w.fail(f"{block}.{key} = {value!r} but the task figures give {recomputed[key]!r} "
                       "(mean of avg_metric, as evaluate.py computes it)", block, key)
    if raw.get("partial") is True and ("all_task" in overall or "all_task" in overall_secondary):
        # The file knows what ran; a complete-looking set of figures does not overrule it.
        overall.pop("all_task", None)
        overall_secondary.pop("all_task", None)
        notes.append("its results file marks the run partial ('partial': true), so no overall score is shown")

    model = raw.get("model") or {}
    label = name or model.get("name") or _default_name(path)
    protocol = model.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        w.fail(f"model.protocol '{protocol}' is not one of: {', '.join(PROTOCOLS)}", "model", "protocol")
    if protocol is not None and protocol != PROTOCOLS[0]:
        notes.append(f"protocol: {protocol}, not XTREME's {PROTOCOLS[0]}")
    inter = model.get("intermediate")  # null or absent: unknown; []: the no-intermediate baseline
    if isinstance(inter, str):
        inter = [inter] if inter else []
    records_dir = None
    if isinstance(raw.get("records"), str) and base_dir is not None:
        records_dir = Path(os.path.realpath(Path(base_dir) / raw["records"]))
    config = raw.get("config") or {}
    if config.get("limit"):
        notes.append(f"evaluated on at most {config['limit']} examples per language (--limit); "
                     "not comparable to full test-set figures")
    from ..options import unofficial_options

    notes += [f"not XTREME's protocol: {why}" for why in unofficial_options(config)]
    split = {ts.get("split") for ts in raw["tasks"].values() if ts.get("split")}
    if split - {"test"}:
        notes.append(f"split: {', '.join(sorted(split))}")
    return Entry(name=str(label), kind="run", version=version, tasks=tasks, overall=overall, source=path,
                 overall_secondary=overall_secondary,
                 protocol=protocol, intermediate=tuple(inter) if inter is not None else None,
                 base_model=model.get("base_model"), model_path=model.get("path"), records_dir=records_dir,
                 notes=notes)


def _default_name(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.name == "results.json" and p.parent.name else p.stem


def _task_score(task: str, score: dict[str, Any], cov: Any, version: str, w: Where) -> TaskScore:
    """One task, its averages recomputed from its per-language figures (types and ranges are checked already)."""
    primary = primary_of(task, score)
    spec = spec_for(task)
    per_lang: dict[str, dict[str, float]] = {}
    for k in primary:
        figs = score.get(k)
        if figs is None:
            continue
        if not isinstance(figs, dict):
            w.fail(f"tasks.{task}.{k} must map language to a number", "tasks", task, k)
        per_lang[k] = {str(lang): float(v) for lang, v in figs.items()}
    avgs: dict[str, float | None] = {}
    for k in primary:
        v = score.get(f"avg_{k}")
        avgs[k] = float(v) if v is not None else None
    avg_metric = score.get("avg_metric")

    bench_langs = list(task_languages(spec, version)) if spec else []
    scored = list(dict.fromkeys(lang for figs in per_lang.values() for lang in figs))
    present_all = [lang for lang in scored if all(lang in per_lang.get(k, {}) for k in primary)]
    missing = [lang for lang in bench_langs if lang not in present_all]
    complete = bool(primary) and not missing and bool(per_lang)
    if isinstance(cov, dict):
        if cov.get("complete") is False:
            complete = False
        for lang in cov.get("missing") or []:
            if lang not in missing:
                missing.append(lang)

    # Re-aggregate as the official scorer does: complete tasks over the version's languages.
    over = bench_langs if complete and bench_langs else present_all
    for k in primary:
        figs = per_lang.get(k)
        if not figs or not over:
            continue
        recomputed = sum(figs[lang] for lang in over if lang in figs) / len([lang for lang in over if lang in figs])
        if avgs.get(k) is None:
            avgs[k] = recomputed
        elif not close(avgs[k], recomputed):
            w.fail(f"tasks.{task}.avg_{k} = {avgs[k]!r} but its per-language figures average to {recomputed!r}",
                   "tasks", task, f"avg_{k}")
    if primary and all(avgs.get(k) is not None for k in primary):
        recomputed_metric = sum(avgs[k] for k in primary) / len(primary)
        if avg_metric is None:
            avg_metric = recomputed_metric
        elif not close(float(avg_metric), recomputed_metric):
            w.fail(f"tasks.{task}.avg_metric = {avg_metric!r} but the mean of its primary averages "
                   f"({', '.join(primary)}) is {recomputed_metric!r}", "tasks", task, "avg_metric")
    split = score.get("split")
    return TaskScore(task=task, primary=primary, avgs=avgs,
                     avg_metric=float(avg_metric) if avg_metric is not None else None,
                     per_lang=per_lang, complete=complete, missing=missing, languages=present_all, split=split,
                     counts=dict(score.get("n") or {}))


def dedupe_names(entries: list[Entry]) -> None:
    """Give runs that share a name a distinguishing suffix, so no two rows look alike."""
    def dups() -> set[str]:
        names = [e.name for e in entries]
        return {n for n in names if names.count(n) > 1}

    clash = dups()
    for e in entries:
        if e.name in clash and e.kind == "run" and Path(e.source).parent.name:
            e.name = f"{e.name} ({Path(e.source).parent.name})"
    clash = dups()
    counter: dict[str, int] = {}
    for e in entries:
        if e.name in clash:
            counter[e.name] = counter.get(e.name, 0) + 1
            e.name = f"{e.name} #{counter[e.name]}"
