"""Comparing checkpoints: paired bootstrap, deltas, transfer gaps and the intermediate-task matrix.

Two runs on the same test data differ by chance as well as by skill; the
paired bootstrap resamples examples (the same resample for both runs) so a
difference is reported with a 95% percentile interval, and only called
significant when that interval excludes zero. It needs the per-example records
that ``xtreme-eval`` writes, and refuses runs whose example ids differ.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import UserError, clip, os_error
from ..io.messages import is_number
from ..metrics import METRICS
from ..spec import benchmark
from ..tasks import results
from ..tasks.scoring import task_languages
from .entries import Entry, spec_for

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345
_CHUNK_CELLS = 1_000_000  # resample indices held in memory at once


# --- per-example records ---------------------------------------------------------------

@dataclass
class LangRecords:
    """One language's records reduced to the arrays its metric needs."""

    path: str
    ids: list[str]
    kind: str  # the metric (its name in the registry) whose record fields these are
    arrays: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.ids)


def record_kind(task: str) -> str | None:
    """The metric whose per-example records give the task's figure (None: a corpus-level metric, e.g. BUCC)."""
    spec = spec_for(task)
    if spec is None:
        return None
    name = spec.metrics.official
    return name if METRICS[name].from_sums is not None else None


class NoGold(Exception):
    """Records written for data without gold labels: predictions only, nothing to resample."""


def read_records(path: str | Path, kind: str) -> LangRecords:
    """One language's records (each checked by :func:`xtreme_harness.tasks.results.read_records`) as metric
    arrays."""
    path = str(path)
    recs = results.read_records(path)
    keys = tuple(METRICS[kind].fields)
    if recs and not any(keys[0] in r for _, r in recs):
        raise NoGold(path)
    ids: list[str] = []
    cols: dict[str, list[float]] = {k: [] for k in keys}
    for i, rec in recs:
        ids.append(str(rec["id"]))
        for k in keys:
            v = rec.get(k)
            if not is_number(v):
                raise UserError(f"record '{clip(rec['id'])}' lacks the number '{k}' "
                                f"(expected {results.RECORD_FIELDS[k]})", path, i)
            cols[k].append(v)
    return LangRecords(path, ids, kind, {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()})


def lang_metric(kind: str, sums: dict[str, np.ndarray], n: int | np.ndarray) -> np.ndarray:
    """The primary per-language figure (percent) from summed record columns, as the metric aggregates them."""
    return METRICS[kind].from_sums(sums, n)


def align(a: LangRecords, b: LangRecords, where: str) -> LangRecords:
    """B's records in A's order; refuse unless both runs scored exactly the same examples."""
    if a.ids == b.ids:
        return b
    sa, sb = set(a.ids), set(b.ids)
    if sa == sb and len(sa) == len(a.ids) == len(b.ids):
        pos = {i: k for k, i in enumerate(b.ids)}
        order = np.asarray([pos[i] for i in a.ids])
        return LangRecords(b.path, list(a.ids), b.kind, {k: v[order] for k, v in b.arrays.items()})
    only_a = next((i for i in a.ids if i not in sb), None)
    only_b = next((i for i in b.ids if i not in sa), None)
    detail = (f"id '{only_a}' is only in {a.path}" if only_a is not None
              else f"id '{only_b}' is only in {b.path}" if only_b is not None
              else "the same ids occur a different number of times")
    raise UserError(f"{where}: the two runs' records differ ({len(a.ids)} vs {len(b.ids)} examples; {detail}); "
                    "a paired bootstrap needs both runs on the same examples", b.path)


# --- paired bootstrap -----------------------------------------------------------------

@dataclass
class Diff:
    a: float
    b: float
    diff: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass
class TaskDiff:
    task: str
    overall: Diff
    languages: dict[str, Diff]
    skipped: list[str] = field(default_factory=list)  # languages in only one run


@dataclass
class BootstrapResult:
    resamples: int
    seed: int
    tasks: dict[str, TaskDiff]
    notes: list[str]


def _interval(diffs: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def _lang_bootstrap(a: LangRecords, b: LangRecords, resamples: int, seed: int, key: str) -> tuple[Diff, np.ndarray]:
    kind, n = a.kind, a.n
    names = list(a.arrays)
    cols = np.stack([a.arrays[k] for k in names] + [b.arrays[k] for k in names], axis=1)  # (n, 2k)
    full = cols.sum(axis=0)
    full_a = float(lang_metric(kind, dict(zip(names, full[:len(names)])), n))
    full_b = float(lang_metric(kind, dict(zip(names, full[len(names):])), n))
    # One stream per task/language, so adding a language never changes another's interval.
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    diffs = np.empty(resamples)
    chunk = min(resamples, max(1, _CHUNK_CELLS // max(n, 1)))
    offsets = (np.arange(chunk) * n)[:, None]
    counts = np.empty((chunk, n))  # reused: fresh large arrays cost more in page faults than in arithmetic
    for start in range(0, resamples, chunk):
        c = min(resamples, start + chunk) - start
        # Each resample as counts per example; the same counts weigh A and B (paired).
        idx = rng.integers(0, n, size=(c, n))
        idx += offsets[:c]
        np.copyto(counts[:c], np.bincount(idx.ravel(), minlength=c * n).reshape(c, n))
        sums = counts[:c] @ cols  # (c, 2k)
        ma = lang_metric(kind, {k: sums[:, i] for i, k in enumerate(names)}, n)
        mb = lang_metric(kind, {k: sums[:, len(names) + i] for i, k in enumerate(names)}, n)
        diffs[start:start + c] = mb - ma
    lo, hi = _interval(diffs)
    return Diff(full_a, full_b, full_b - full_a, lo, hi, n), diffs


def paired_bootstrap(a: Entry, b: Entry, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                     tasks: list[str] | None = None) -> BootstrapResult:
    """B − A of each task's primary figure, per language and task average, with 95% intervals.

    The task figure is the mean over the languages both runs have records for
    (each language resampled on its own, as the task average weighs languages
    equally); it equals ``avg_metric`` when those are all the task's languages.
    """
    if resamples < 1:
        raise UserError("--bootstrap must be at least 1")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, not {seed}")
    notes: list[str] = []
    out: dict[str, TaskDiff] = {}
    if tasks is None:
        both = set(a.tasks) | set(b.tasks)
        bench = list(benchmark(a.version)["tasks"])
        tasks = [t for t in bench if t in both] + sorted(both - set(bench))
    for task in tasks:
        kind = record_kind(task)
        if kind is None:
            if task in a.tasks and task in b.tasks:
                notes.append(f"{task}: no per-example records (a corpus-level metric); not bootstrapped")
            continue
        if task in a.tasks and task in b.tasks:
            _same_split(a, b, task)
        spec = spec_for(task)
        order = list(task_languages(spec, a.version)) if spec else []
        langs_a = _record_langs(a, task)
        langs_b = _record_langs(b, task)
        if not langs_a or not langs_b:
            if task in a.tasks and task in b.tasks:
                who = " and ".join(e.name for e, ls in ((a, langs_a), (b, langs_b)) if not ls)
                notes.append(f"{task}: no per-example records for {who}; not bootstrapped")
            continue
        common = [lang for lang in order if lang in langs_a and lang in langs_b]
        common += sorted(lang for lang in langs_a if lang in langs_b and lang not in common)
        skipped = sorted(set(langs_a) ^ set(langs_b))
        per_lang: dict[str, Diff] = {}
        stacked = []
        for lang in common:
            try:
                ra = read_records(langs_a[lang], kind)
                _check_figure(a, task, lang, ra)
                rb = read_records(langs_b[lang], kind)
                _check_figure(b, task, lang, rb)
            except NoGold as exc:
                notes.append(f"{task}/{lang}: records without gold labels ({exc}); left out")
                continue
            _same_data(a, b, task, lang, notes)
            rb = align(ra, rb, f"{task}/{lang}")
            if ra.n == 0:
                notes.append(f"{task}/{lang}: no records; left out")
                continue
            per_lang[lang], diffs = _lang_bootstrap(ra, rb, resamples, seed, f"{task}/{lang}")
            stacked.append(diffs)
        if not per_lang:
            continue
        mean = np.mean(np.stack(stacked), axis=0)
        lo, hi = _interval(mean)
        va = sum(d.a for d in per_lang.values()) / len(per_lang)
        vb = sum(d.b for d in per_lang.values()) / len(per_lang)
        overall = Diff(va, vb, vb - va, lo, hi, sum(d.n for d in per_lang.values()))
        out[task] = TaskDiff(task, overall, per_lang, skipped)
        if skipped:
            notes.append(f"{task}: languages in only one run left out: {', '.join(skipped)}")
    return BootstrapResult(resamples, seed, out, notes)


def _same_split(a: Entry, b: Entry, task: str) -> None:
    sa, sb = a.tasks[task].split or "test", b.tasks[task].split or "test"
    if sa != sb:
        raise UserError(f"--compare: {task} was scored on the {sa} split in {a.source} and on {sb} in {b.source}; "
                        "a paired comparison needs both runs on the same examples")


def _content(read: Any) -> list:
    """What a (task, language) read, by content alone (the same file may live in two folders)."""
    if not isinstance(read, list):
        return []
    return [{k: v for k, v in item.items() if k != "path"} for item in read if isinstance(item, dict)]


def _same_data(a: Entry, b: Entry, task: str, lang: str, notes: list[str]) -> None:
    """Refuse two runs whose (task, language) read other data; say so where a file does not record it."""
    ra, rb = (e.inputs.get(task, {}).get(lang) for e in (a, b))
    if ra is None or rb is None:
        note = f"{task}/{lang}: a results file without a record of its inputs; the data could not be compared"
        if note not in notes:
            notes.append(note)
        return
    if _content(ra) != _content(rb):
        raise UserError(f"--compare: {task}/{lang} read other data in the two runs ({a.source} and {b.source}: the "
                        "files' contents differ); a paired comparison needs the same examples")


def _record_langs(e: Entry, task: str) -> dict[str, Path]:
    """``records/<task>/<lang>.jsonl`` by language; a folder that cannot be read is an error, not "no records"."""
    base = e.records_by_task.get(task, e.records_dir)
    if base is None:
        return {}
    d = base / task
    try:
        with os.scandir(d) as it:
            names = sorted(x.name for x in it if x.name.endswith(".jsonl"))
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        raise UserError("expected a folder of per-example records (<lang>.jsonl); found a file", str(d)) from None
    except OSError as exc:
        raise os_error(exc, d, "records folder") from None
    return {name[:-len(".jsonl")]: d / name for name in names}


FIGURE_TOLERANCE = 1e-6  # percentage points between a figure and the same figure recomputed from records


def _check_figure(e: Entry, task: str, lang: str, recs: LangRecords) -> None:
    """Records that do not give the figure their results file reports are of another run (or edited)."""
    ts = e.tasks.get(task)
    if ts is None:
        return
    n = ts.counts.get(lang)
    if n is not None and n != recs.n:
        raise UserError(f"{task}/{lang}: the records hold {recs.n} examples but {e.source} scored {n} "
                        f"(tasks.{task}.n.{lang}); expected one record per example", recs.path)
    given = ts.lang_score(lang)
    if given is None or recs.n == 0:
        return
    value = float(lang_metric(recs.kind, {k: v.sum() for k, v in recs.arrays.items()}, recs.n))
    if abs(given - value) > FIGURE_TOLERANCE:
        raise UserError(f"{task}/{lang}: these records give {value:.4f} but {e.source} reports {given:.4f} "
                        f"(mean of {', '.join(ts.primary)}); expected the records written with that results file",
                        recs.path)


# --- delta table, transfer gap --------------------------------------------------------

def headline_figures(e: Entry) -> dict[str, float | None]:
    """The figures a delta table compares: overall/category scores and each task's averages."""
    bench = benchmark(e.version)
    out: dict[str, float | None] = {"all_task": e.overall.get("all_task")}
    for cat in bench["categories"]:
        out[cat] = e.overall.get(cat)
    for task in bench["tasks"]:
        ts = e.tasks.get(task)
        out[f"{task}.avg_metric"] = ts.avg_metric if ts else None
        if ts and len(ts.primary) > 1:
            for k in ts.primary:
                out[f"{task}.{k}"] = ts.avgs.get(k)
    return out


def delta(a: Entry, b: Entry) -> list[tuple[str, float | None, float | None, float | None]]:
    """(figure, A, B, B − A) for every headline figure either run has."""
    fa, fb = headline_figures(a), headline_figures(b)
    rows = []
    for key in fa:
        va, vb = fa.get(key), fb.get(key)
        if va is None and vb is None:
            continue
        rows.append((key, va, vb, vb - va if va is not None and vb is not None else None))
    return rows


def transfer_gap(e: Entry, task: str) -> tuple[float | None, bool]:
    """English minus the mean of the other languages (per-language score), and whether it is partial."""
    ts = e.tasks.get(task)
    if ts is None or not ts.per_lang:
        return None, False
    en = ts.lang_score("en")
    others = [v for v in (ts.lang_score(lang) for lang in ts.languages if lang != "en") if v is not None]
    if en is None or not others:
        return None, False
    return en - sum(others) / len(others), not ts.complete


# --- intermediate-task transfer matrix ------------------------------------------------

@dataclass
class MatrixRow:
    label: str
    base_model: str | None
    intermediate: tuple[str, ...]
    values: dict[str, float]  # target task -> avg_metric
    partial: set[str]
    sources: dict[str, str]


@dataclass
class TransferMatrix:
    """Gains of ``avg_metric`` over the no-intermediate baseline, one row per intermediate task."""

    tasks: list[str]
    baselines: list[MatrixRow]
    rows: list[tuple[MatrixRow, MatrixRow]]  # (row, its baseline)

    def gain(self, row: MatrixRow, base: MatrixRow, task: str) -> float | None:
        if task in row.values and task in base.values:
            return row.values[task] - base.values[task]
        return None

    def mean_gain(self, row: MatrixRow, base: MatrixRow) -> float | None:
        gains = [g for g in (self.gain(row, base, t) for t in self.tasks) if g is not None]
        return sum(gains) / len(gains) if gains else None


def transfer_matrix(entries: list[Entry]) -> TransferMatrix | None:
    """Rows grouped by ``model.intermediate``, each against the no-intermediate run of its base model.

    None when no run names an intermediate task or none has a baseline. A
    baseline's own ``base_model`` is usually empty (it *is* the base model), so
    it matches rows by its base model, path or name; with a single baseline,
    every row uses it. Two results giving the same target task for the same
    row are ambiguous and refused.
    """
    runs = [e for e in entries if e.kind == "run" and e.intermediate is not None]
    if not any(e.intermediate for e in runs):
        return None
    groups: dict[tuple[Any, tuple[str, ...]], MatrixRow] = {}
    idents: dict[tuple[Any, tuple[str, ...]], set[str]] = {}
    for e in runs:
        base = e.base_model if e.intermediate or e.base_model else (e.model_path or e.name)
        key = (base, e.intermediate)
        row = groups.get(key)
        if row is None:
            label = "+".join(e.intermediate) if e.intermediate else "baseline (no intermediate task)"
            row = groups[key] = MatrixRow(label, base, e.intermediate, {}, set(), {})
            idents[key] = set()
        idents[key] |= {x for x in (e.base_model, e.model_path, e.name) if x}
        for task, ts in e.tasks.items():
            if ts.avg_metric is None:
                continue
            if task in row.values:
                raise UserError(f"two results give {task} for intermediate task(s) '{row.label}'"
                                f"{f' on {base}' if base else ''}: {row.sources[task]} and {e.source}; "
                                "the transfer matrix needs one per cell", e.source)
            row.values[task] = ts.avg_metric
            row.sources[task] = e.source
            if not ts.complete:
                row.partial.add(task)
    baselines = [(k, r) for k, r in groups.items() if not k[1]]
    rows = []
    for key, row in groups.items():
        if not key[1]:
            continue
        if len(baselines) == 1:
            rows.append((row, baselines[0][1]))
            continue
        match = [b for k, b in baselines if key[0] is not None and key[0] in idents[k]]
        if len(match) == 1:
            rows.append((row, match[0]))
    if not rows:
        return None
    used = list({id(b): b for _, b in rows}.values())
    version = runs[0].version
    bench_tasks = list(benchmark(version)["tasks"])
    seen = {t for r, b in rows for t in list(r.values) + list(b.values)}
    order = [t for t in bench_tasks if t in seen] + sorted(seen - set(bench_tasks))
    return TransferMatrix(order, used, rows)


# --- a run against a published row ----------------------------------------------------

@dataclass
class PublishedComparison:
    """B − A where one side (or both) is a published row: figures only, no per-example records.

    Tasks whose splits differ (a dev-set row against a test-set run) are not
    compared; tasks where a split is unstated or not a test measurement are
    compared but flagged, and so are a run's partial task averages.
    """

    a: Entry
    b: Entry
    rows: list[tuple[str, float | None, float | None, float | None]]  # headline key, A, B, B − A
    languages: list[tuple[str, str, str, float, float, float]]  # task, lang, figure, A, B, B − A
    not_compared: dict[str, str]  # task -> why its delta is left blank
    flagged: dict[str, str]  # task -> why its delta needs care
    partial: set[str]  # tasks a run averages over only some languages

    def key_status(self, key: str) -> str:
        """``skip``, ``flag``, ``partial`` or ``ok`` for a headline figure, from the tasks it is made of."""
        tasks = key_tasks(key, self.a.version)
        if any(t in self.not_compared for t in tasks):
            return "skip"
        if any(t in self.flagged for t in tasks):
            return "flag"
        if any(t in self.partial for t in tasks):
            return "partial"
        return "ok"


def key_tasks(key: str, version: str) -> list[str]:
    """The tasks a headline figure (``all_task``, a category or ``task.figure``) is computed from."""
    bench = benchmark(version)
    if key == "all_task":
        return list(bench["tasks"])
    if key in bench["categories"]:
        return list(bench["categories"][key])
    return [key.split(".", 1)[0]]


def task_split(e: Entry, task: str) -> str:
    """The split a task figure is on: a row's printed split, a run's ``tasks.<t>.split`` (absent: test)."""
    if e.ref is not None:
        return e.ref.split_of(task)
    ts = e.tasks.get(task)
    return ts.split if ts is not None and ts.split else "test"


def _where(e: Entry) -> str:
    return e.ref.path if e.ref is not None else e.source


def compare_published(a: Entry, b: Entry) -> PublishedComparison:
    for e in (a, b):
        if e.ref is not None and e.ref.is_delta:
            raise UserError(f"--compare: '{e.ref.row_id}' is printed as differences from '{e.ref.delta_vs}', "
                            "not as scores; compare with that row (the published transfer matrix shows the "
                            "differences)", e.ref.path)
    if a.version != b.version:
        raise UserError(f"--compare: {a.name} is {a.version} and {b.name} is {b.version}")
    order = list(benchmark(a.version)["tasks"])
    common = [t for t in order if t in a.tasks and t in b.tasks]
    if not common:
        raise UserError(f"--compare: {a.name} and {b.name} have no task in common", _where(b))
    not_compared: dict[str, str] = {}
    flagged: dict[str, str] = {}
    partial: set[str] = set()
    for t in common:
        sa, sb = task_split(a, t), task_split(b, t)
        if {sa, sb} & {"unstated", "n/a"}:
            flagged[t] = f"A on {sa}, B on {sb}"
        elif sa != sb:
            not_compared[t] = f"A on {sa}, B on {sb}"
        for e in (a, b):
            if e.kind == "run" and not e.tasks[t].complete:
                partial.add(t)
    if len(not_compared) == len(common):
        t = common[0]
        run = next((e for e in (a, b) if e.kind == "run"), b)
        raise UserError(f"--compare: {a.name} is on {task_split(a, t)} and {b.name} on {task_split(b, t)} "
                        f"(tasks.{t}.split) for every task they share; compare like with like: a dev-split row "
                        "with a dev-split run, a test-split row with a test-split run", _where(run))
    languages = []
    for t in common:
        if t in not_compared:
            continue
        ta, tb = a.tasks[t], b.tasks[t]
        order = list(task_languages(spec_for(t), a.version))
        for k in sorted(ta.primary, key=lambda k: 1 if k == "exact_match" else 0):
            fa, fb = ta.per_lang.get(k, {}), tb.per_lang.get(k, {})
            langs = [lang for lang in order if lang in fa and lang in fb]
            langs += sorted(lang for lang in fa if lang in fb and lang not in langs)
            languages += [(t, lang, k, fa[lang], fb[lang], fb[lang] - fa[lang]) for lang in langs]
    return PublishedComparison(a, b, delta(a, b), languages, not_compared, flagged, partial)


# --- published intermediate-task deltas -----------------------------------------------

@dataclass
class PublishedMatrix:
    """A paper's intermediate-task rows, printed as differences from one baseline row."""

    baseline: Entry
    rows: list[Entry]
    columns: list[tuple[str, str]]  # (task, figure) in board order, QA as F1 then EM


def published_matrices(refs: list[Entry], task_order: list[str]) -> list[PublishedMatrix]:
    """The selected delta rows grouped by the row they are printed against, in file order."""
    groups: dict[int, PublishedMatrix] = {}
    for e in refs:
        if e.ref is None or not e.ref.is_delta or e.ref.baseline is None:
            continue
        base = e.ref.baseline
        m = groups.get(id(base))
        if m is None:
            m = groups[id(base)] = PublishedMatrix(base, [], [])
        if all(r.ref.row_id != e.ref.row_id for r in m.rows):
            m.rows.append(e)
    for m in groups.values():
        m.rows.sort(key=lambda r: bool(r.ref.mlm))  # the paper's order: without MLM, then with
        seen = {t for r in m.rows for t in r.ref.delta_figures} | set(m.baseline.tasks)
        for t in [t for t in task_order if t in seen]:
            figs = {k for r in m.rows for k in r.ref.delta_figures.get(t, {})}
            if t in m.baseline.tasks:
                figs |= {k for k, v in m.baseline.tasks[t].avgs.items() if v is not None}
            m.columns += [(t, k) for k in sorted(figs, key=lambda k: 1 if k == "exact_match" else 0)]
    return list(groups.values())
