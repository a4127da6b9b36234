"""The intermediate-task transfer table across seeds (STILTs studies).

Runs made by ``xtreme-train`` carry ``model.training`` (seed, intermediate
tasks, MLM, base model, target settings). Runs that differ only in the seed
are repeats of one configuration: a row of the table. Each cell is the mean
over seeds of (run − the same seed's baseline) of a target task's
``avg_metric``, with the standard deviation of those per-seed differences, the
number of seeds and a 95% interval.

The interval (see the README, "Transfer across seeds"): a Student t interval
over the per-seed differences, mean ± t(0.975, n−1) · se, where

    se² = sd² / n  +  se_test²

``sd²/n`` is the seed variance of the mean (training randomness: the
intermediate and target fine-tuning of each seed), and ``se_test`` is the
standard error that comes from the test set itself, which every seed shares
(so more seeds do not shrink it): the standard deviation of the seed-mean
difference over bootstrap resamples of the test examples, the same resampled
examples for every seed and both arms, each language resampled on its own. By
the law of total variance the two add. It needs per-example records for every
run of the cell; without them (BUCC, or no records) the interval is the seed
part alone, and says so. One seed gives no interval (the seed variance cannot
be estimated) and is never significant. A cell is significant only when its
interval excludes 0.

Why not a bootstrap over seeds: with the two or three seeds a study has, a
seed-level bootstrap has three (or ten) distinct resamples and its percentile
interval cannot reach beyond the observed per-seed differences, so it calls a
gain that two seeds agree on by chance significant. The t interval widens
with few seeds (t(0.975, 1) = 12.7), which is what two seeds warrant.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import UserError
from ..spec import benchmark
from .entries import Entry, TaskScore, board_tasks, intermediate_label, transfer_label

_CHUNK_CELLS = 1_000_000


# --- Student t ------------------------------------------------------------------------------------------

def t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with ``df`` (a positive integer) degrees of freedom.

    The finite series of Abramowitz & Stegun 26.7.3-4, exact for integer df
    (no SciPy needed): with θ = atan(t/√df),
    odd df: (2/π)(θ + sinθ·(cosθ + ⅔cos³θ + … )), even df: sinθ·(1 + ½cos²θ + ⅜cos⁴θ + …).
    """
    if df < 1:
        raise ValueError("df must be at least 1")
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        total, term = 0.0, c
        if df > 1:
            total = term
            for k in range(3, df - 1, 2):
                term *= c * c * (k - 1) / k
                total += term
        return (2 / math.pi) * (theta + s * total)
    total, term = 1.0, 1.0
    for k in range(2, df, 2):
        term *= c * c * (k - 1) / k
        total += term
    return s * total


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (p > 0.5) of Student's t: bisection on the exact two-sided mass."""
    target = 2 * p - 1
    lo, hi = 0.0, 1.0
    while t_two_sided_mass(hi, df) < target:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_mass(mid, df) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --- the table model ------------------------------------------------------------------------------------

@dataclass
class Cell:
    """One (row, target task) of the table."""

    delta: float | None = None  # mean over seeds of run − baseline (the baseline row: the mean itself)
    sd: float | None = None  # sample standard deviation over seeds (n − 1)
    seeds: list[int] = field(default_factory=list)  # the seeds that entered
    ci95: tuple[float, float] | None = None
    significant: bool = False
    per_seed: dict[int, float] = field(default_factory=dict)  # seed -> run − baseline (or the value)
    run_values: dict[int, float] = field(default_factory=dict)
    base_values: dict[int, float] = field(default_factory=dict)
    se_seed: float | None = None
    se_test: float | None = None
    t_crit: float | None = None
    method: str = ""
    partial: bool = False
    split: str | None = None
    unpaired: list[int] = field(default_factory=list)  # seeds of the run without the same seed's baseline
    why_blank: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"delta": self.delta, "sd": self.sd, "seeds": len(self.seeds),
                "ci95": list(self.ci95) if self.ci95 is not None else None, "significant": self.significant,
                "seed_list": list(self.seeds), "per_seed": {str(k): v for k, v in self.per_seed.items()},
                "run": {str(k): v for k, v in self.run_values.items()},
                "baseline": {str(k): v for k, v in self.base_values.items()},
                "se_seed": self.se_seed, "se_test": self.se_test, "t_critical": self.t_crit,
                "method": self.method, "partial": self.partial, "split": self.split,
                "unpaired_seeds": list(self.unpaired), **({"blank": self.why_blank} if self.why_blank else {})}


@dataclass(eq=False)
class Row:
    """Every seed of one configuration: what was trained, less the seed."""

    config: str
    intermediate: tuple[str, ...]
    mlm: dict | None
    base: tuple[str | None, str | None, str | None]
    target: dict[str, Any]
    parameters: int | None
    runs: dict[int, dict[str, tuple[TaskScore, Entry]]] = field(default_factory=dict)  # seed -> task -> figure
    cells: dict[str, Cell] = field(default_factory=dict)
    key: str = ""
    label: str = ""
    baseline_for: dict[str, list["Row"]] = field(default_factory=dict)  # task -> the baseline row(s) used

    @property
    def is_baseline(self) -> bool:
        return not self.intermediate and self.mlm is None

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def values(self, task: str) -> dict[int, tuple[TaskScore, Entry]]:
        return {s: by_task[task] for s, by_task in sorted(self.runs.items()) if task in by_task}


@dataclass
class SeedTransfer:
    tasks: list[str]
    baselines: list[Row]
    rows: list[Row]
    resamples: int
    boot_seed: int
    notes: list[str] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # runs without the same seed's baseline
    several_bases: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "transfer_matrix": {r.key: {t: c.as_json() for t, c in r.cells.items()} for r in self.rows},
            "transfer_baseline": {b.key: {t: c.as_json() for t, c in b.cells.items()} for b in self.baselines},
            "transfer_rows": [_row_json(r) for r in self.baselines + self.rows],
            "transfer_missing_baselines": self.missing,
            "transfer_method": {"interval": "student-t over per-seed differences, se^2 = sd^2/n + se_test^2",
                                "confidence": 0.95, "test_set_resamples": self.resamples,
                                "bootstrap_seed": self.boot_seed},
        }


def _row_json(r: Row) -> dict[str, Any]:
    return {"key": r.key, "label": r.label, "baseline": r.is_baseline, "intermediate": list(r.intermediate),
            "mlm": r.mlm, "base_model": r.base[0], "base_model_fingerprint": r.base[1],
            "base_model_revision": r.base[2], "parameters": r.parameters, "target": r.target, "seeds": r.seeds,
            "sources": {str(s): sorted({e.source for _, e in by_task.values()}) for s, by_task in r.runs.items()}}


# --- building -------------------------------------------------------------------------------------------

def seed_transfer(entries: list[Entry], resamples: int = 1000, boot_seed: int = 12345) -> SeedTransfer | None:
    """The table of ``entries`` that carry ``model.training``; None when none names an intermediate task (or MLM)."""
    runs = [e for e in entries if e.kind == "run" and e.training is not None]
    if not runs:
        return None
    rows: dict[str, Row] = {}
    for e in runs:
        t = e.training
        row = rows.get(t.configuration())
        if row is None:
            row = rows[t.configuration()] = Row(t.configuration(), t.intermediate, t.mlm, t.base, t.target,
                                                t.parameters)
        row.parameters = row.parameters or t.parameters
        slot = row.runs.setdefault(t.seed, {})
        for task, ts in e.tasks.items():
            if ts.avg_metric is None:
                continue
            if task in slot:
                raise UserError(f"two results give {task} for {transfer_label(t.intermediate, t.mlm)} "
                                f"({t.base_model or 'base model'}), seed {t.seed}: {slot[task][1].source} and "
                                f"{e.source}; expected one per seed and task", e.source)
            slot[task] = (ts, e)
    baselines = [r for r in rows.values() if r.is_baseline]
    others = [r for r in rows.values() if not r.is_baseline]
    if not others:
        return None
    version = runs[0].version
    bench = list(benchmark(version)["tasks"])
    seen = {t for r in rows.values() for by_task in r.runs.values() for t in by_task}

    order = [t for t in board_tasks(version) if t in seen] + [t for t in bench if t in seen and
                                                              t not in board_tasks(version)]
    tasks = order + sorted(seen - set(order))
    st = SeedTransfer(tasks, [], [], resamples, boot_seed)
    _name_rows(baselines, others, st)
    cache: dict[str, Any] = {}
    for row in others:
        for task in tasks:
            if not row.values(task):
                continue
            row.cells[task] = _cell(row, task, baselines, st, cache)
    used = [b for b in baselines if any(b is x for r in others for t in tasks for x in r.baseline_for.get(t, []))]
    for b in baselines:
        if not any(b is u for u in used) and any(b.base == r.base for r in others):
            used.append(b)
    for b in used:
        for task in tasks:
            vals = b.values(task)
            if vals:
                b.cells[task] = _baseline_cell(vals)
    st.baselines = sorted(used, key=lambda b: b.label)
    st.rows = others
    orphans = [r for r in others if not any(r.baseline_for.get(t) for t in tasks)]
    for r in orphans:
        st.notes.append(f"{r.label}: no baseline run (no intermediate task, no MLM, the same base model"
                        f"{' ' + r.base[0] if r.base[0] else ''}) among the results; its cells are blank.")
    return st


def _name_rows(baselines: list[Row], others: list[Row], st: SeedTransfer) -> None:
    """Labels (``+ANLI+ +MLM``) and JSON keys (intermediate ids joined with ``+``), qualified only when needed."""
    bases = {r.base for r in baselines + others}
    st.several_bases = len(bases) > 1

    def base_name(base) -> str:
        name = base[0] or "base model"
        twins = [b for b in bases if b[0] == base[0]]
        if len(twins) > 1:
            name += f" [{(base[1] or base[2] or 'unrecorded')[:12]}]"
        return name

    keys: dict[str, int] = {}
    for r in baselines + others:
        key = "+".join(r.intermediate)
        if r.mlm is not None:
            key = f"{key} +mlm" if key else "+mlm"
        label = transfer_label(r.intermediate, r.mlm)
        if st.several_bases:
            key = f"{base_name(r.base)}/{key}" if key else base_name(r.base)
            label = f"{base_name(r.base)}: {label}"
        elif r.is_baseline:
            key = r.base[0] or "baseline"
        keys[key] = keys.get(key, 0) + 1
        if keys[key] > 1:  # the same tasks with other target settings
            key, label = f"{key} #{keys[key]}", f"{label} #{keys[key]}"
        r.key, r.label = key, label


def _baseline_cell(vals: dict[int, tuple[TaskScore, Entry]]) -> Cell:
    per = {s: ts.avg_metric for s, (ts, _) in vals.items()}
    xs = list(per.values())
    mean = sum(xs) / len(xs)
    sd = _sd(xs)
    return Cell(delta=mean, sd=sd, seeds=sorted(per), per_seed=per, run_values=dict(per),
                partial=any(not ts.complete for ts, _ in vals.values()),
                split=_split(vals), method="absolute mean over seeds")


def _split(vals: dict[int, tuple[TaskScore, Entry]]) -> str | None:
    splits = {ts.split or "test" for ts, _ in vals.values()}
    return "/".join(sorted(splits)) if splits else None


def _sd(xs: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _cell(row: Row, task: str, baselines: list[Row], st: SeedTransfer, cache: dict) -> Cell:
    mine = row.values(task)
    same_base = [b for b in baselines if b.base == row.base]
    cands = [b for b in same_base if b.values(task) and b.target.get(task) == row.target.get(task)]
    if not cands:
        why = ("no baseline run of this base model" if not same_base else
               f"no baseline trained with the same {task} target settings" if any(b.values(task) for b in same_base)
               else f"no baseline result for {task}")
        st.missing.append({"row": row.label, "key": row.key, "task": task, "seeds": sorted(mine), "reason": why})
        return Cell(why_blank=why, unpaired=sorted(mine), seeds=[], method="blank")
    row.baseline_for[task] = cands
    base_vals: dict[int, tuple[TaskScore, Entry]] = {}
    for b in cands:
        for s, v in b.values(task).items():
            if s in base_vals:
                raise UserError(f"two baseline results give {task} for seed {s}: {base_vals[s][1].source} and "
                                f"{v[1].source}; expected one baseline per seed", v[1].source)
            base_vals[s] = v
    paired = [s for s in mine if s in base_vals]
    unpaired = [s for s in mine if s not in base_vals]
    split_clash = [s for s in paired if (mine[s][0].split or "test") != (base_vals[s][0].split or "test")]
    if split_clash:
        s = split_clash[0]
        st.notes.append(f"{row.label} {task}: seed {s} is on the {mine[s][0].split or 'test'} split, its baseline "
                        f"on {base_vals[s][0].split or 'test'}; left out")
        paired = [s for s in paired if s not in split_clash]
        unpaired += split_clash
    if unpaired:
        st.missing.append({"row": row.label, "key": row.key, "task": task, "seeds": sorted(unpaired),
                           "reason": "no baseline of the same seed"})
    if not paired:
        return Cell(why_blank="no baseline of the same seed", unpaired=sorted(unpaired), method="blank")
    run_v = {s: mine[s][0].avg_metric for s in paired}
    base_v = {s: base_vals[s][0].avg_metric for s in paired}
    per = {s: run_v[s] - base_v[s] for s in paired}
    xs = list(per.values())
    n = len(xs)
    mean = sum(xs) / n
    sd = _sd(xs)
    partial = any(not mine[s][0].complete or not base_vals[s][0].complete
                  or set(mine[s][0].languages) != set(base_vals[s][0].languages) for s in paired)
    cell = Cell(delta=mean, sd=sd, seeds=sorted(paired), per_seed=per, run_values=run_v, base_values=base_v,
                partial=partial, split=_split({s: mine[s] for s in paired}), unpaired=sorted(unpaired))
    if n < 2:
        cell.method = "one seed: no interval (seed variance unknown)"
        return cell
    cell.se_seed = sd / math.sqrt(n)
    se_test, why = None, "no bootstrap resamples asked for (--bootstrap 0)"
    if st.resamples > 0:
        se_test, why = _test_set_se([(mine[s][1], base_vals[s][1]) for s in paired], task, st.resamples,
                                    st.boot_seed, f"{row.key}/{task}", cache)
    cell.se_test = se_test
    se = math.sqrt(cell.se_seed ** 2 + (se_test or 0.0) ** 2)
    cell.t_crit = t_quantile(0.975, n - 1)
    cell.ci95 = (mean - cell.t_crit * se, mean + cell.t_crit * se)
    cell.significant = cell.ci95[0] > 0 or cell.ci95[1] < 0
    cell.method = ("t interval, seed variance + test-set resampling" if se_test is not None
                   else f"t interval, seed variance only ({why})")
    return cell


# --- the test-set part: one bootstrap over examples shared by every seed and both arms ---------------------

def _test_set_se(pairs: list[tuple[Entry, Entry]], task: str, resamples: int, boot_seed: int, key: str,
                 cache: dict) -> tuple[float | None, str]:
    """Standard deviation, over resamples of the test examples, of the mean over seeds of (run − baseline)."""
    from .compare import (
        NoGold,
        _check_figure,
        _record_langs,
        align,
        lang_metric,
        read_records,
        record_kind,
    )

    kind = record_kind(task)
    if kind is None:
        return None, "a corpus-level metric, no per-example records"
    arms = [e for pair in pairs for e in pair]
    langs_of = [_record_langs(e, task) for e in arms]
    if any(not ls for ls in langs_of):
        return None, "not every run has per-example records"
    averaged = [set(e.tasks[task].languages) for e in arms]
    common = set.intersection(*(set(ls) for ls in langs_of))
    if any(a - common for a in averaged):
        return None, "the records do not cover every language the averages cover"
    langs = sorted(set.union(*averaged))
    total = np.zeros(resamples)
    for lang in langs:
        recs = []
        for e, ls in zip(arms, langs_of):
            path = str(ls[lang])
            if path not in cache:
                try:
                    r = read_records(path, kind)
                except NoGold:
                    cache[path] = None
                else:
                    _check_figure(e, task, lang, r)
                    cache[path] = r
            if cache[path] is None:
                return None, f"records without gold labels ({path})"
            recs.append(cache[path])
        first = recs[0]
        recs = [first] + [align(first, r, f"{task}/{lang}") for r in recs[1:]]
        if first.n == 0:
            return None, f"no records for {task}/{lang}"
        total += _lang_resamples(recs, kind, resamples, boot_seed, f"{key}/{lang}", lang_metric)
    stat = total / len(langs)
    return float(np.std(stat, ddof=1)) if resamples > 1 else 0.0, ""


def _lang_resamples(recs: list, kind: str, resamples: int, boot_seed: int, key: str, lang_metric) -> np.ndarray:
    """Mean over seeds of (run − baseline) in one language, per resample; arms are (run, baseline) pairs."""
    n = recs[0].n
    names = list(recs[0].arrays)
    k = len(names)
    cols = np.stack([r.arrays[name] for r in recs for name in names], axis=1)  # (n, arms*k)
    rng = np.random.default_rng([boot_seed, zlib.crc32(key.encode("utf-8"))])
    out = np.empty(resamples)
    chunk = min(resamples, max(1, _CHUNK_CELLS // max(n, 1)))
    offsets = (np.arange(chunk) * n)[:, None]
    pairs = len(recs) // 2
    for start in range(0, resamples, chunk):
        c = min(resamples, start + chunk) - start
        idx = rng.integers(0, n, size=(c, n))
        idx += offsets[:c]
        counts = np.bincount(idx.ravel(), minlength=c * n).reshape(c, n).astype(np.float64)
        sums = counts @ cols
        metric = [lang_metric(kind, {name: sums[:, a * k + i] for i, name in enumerate(names)}, n)
                  for a in range(len(recs))]
        diffs = sum(metric[2 * p] - metric[2 * p + 1] for p in range(pairs)) / pairs
        out[start:start + c] = diffs
    return out


def describe_row(r: Row) -> str:
    """What a row trained, for notes: base model, intermediate tasks, MLM."""
    parts = [r.base[0] or "base model"]
    if r.intermediate:
        parts.append("intermediate " + intermediate_label(r.intermediate))
    if r.mlm is not None:
        parts.append("MLM" + (f" on {', '.join(Path(d).name for d in r.mlm.get('data') or [])}"
                              if r.mlm.get("data") else "") +
                     (f" (weight {r.mlm['weight']})" if r.mlm.get("weight") is not None else ""))
    return ", ".join(parts)
