"""The board: what the leaderboard shows, laid out once and rendered as Markdown, CSV, LaTeX or HTML.

Building the tables apart from rendering them keeps the four formats in step:
a figure, its partial mark and its footnote come from one place. Partial runs
keep a blank XTREME score and a † on every task average that does not cover
all of the task's languages, so nothing partial reads as complete.
"""

from __future__ import annotations

import base64
import colorsys
import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..spec import benchmark
from ..tasks.scoring import task_languages
from .compare import (
    BootstrapResult,
    PublishedComparison,
    PublishedMatrix,
    TransferMatrix,
    compare_published,
    delta,
    published_matrices,
    transfer_gap,
)
from .entries import PROTOCOLS, Entry, board_tasks, spec_for
from .seeds import SeedTransfer, describe_row

PARTIAL = "†"
SECONDARY = "‡"  # a figure evaluate.py does not report, shown beside the official ones
SIG = "*"
SPLIT_FLAG = "§"  # a published figure whose split is unstated or not a test-set measurement
DEV = "ᵈ"  # a run's figure on the dev split (the rest of the row is on test)
FORMATS = ("md", "csv", "latex", "html", "json")
JSON_SCHEMA = "xtreme-harness/leaderboard/v1"
_FIGURE_NAMES = {"f1": "F1", "exact_match": "EM", "accuracy": "Acc"}
_CATEGORY_NAMES = {"classification": "Classification", "tagging": "Structured prediction", "qa": "QA",
                   "retrieval": "Retrieval", "multi_choice": "Multiple choice"}


# --- the board model ------------------------------------------------------------------

@dataclass
class Cell:
    value: float | None = None
    kind: str = "num"  # num | delta | int | text
    text: str = ""
    mark: str = ""
    heat: bool | str = False  # colour by value in HTML: True/"abs" (a 0-100 figure) or "delta" (a difference)

    def display(self, decimals: int, blank: str = "–") -> str:
        if self.kind == "text":
            body = self.text
        elif self.value is None:
            body = blank
        elif self.kind == "int":
            body = str(int(self.value))
        elif self.kind == "params":
            body = params_text(int(self.value))
        elif self.kind == "delta":
            body = f"{self.value:+.{decimals}f}"
            if float(body) == 0:  # no "-0.0": a difference that rounds to nothing has no sign
                body = f"{0:.{decimals}f}"
        else:
            body = f"{self.value:.{decimals}f}"
        return body + self.mark


@dataclass
class Row:
    key: str
    cells: list[Cell]


@dataclass
class Section:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (key, header)
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    intro: str = ""


@dataclass
class Plot:
    name: str
    caption: str
    png: bytes
    file: str | None = None  # where it was written, relative to the rendered file


@dataclass
class Board:
    title: str
    version: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    decimals: int = 1
    notices: list[str] = field(default_factory=list)  # shown at the top, before any table
    data: dict[str, Any] = field(default_factory=dict)  # what --format json adds: rows, transfer matrix


def text(s: str) -> Cell:
    return Cell(kind="text", text=s)


def params_text(n: int) -> str:
    """A parameter count as papers print it: 560M, 1.2B, 85M, 300K."""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return (f"{v:.0f}" if v >= 100 or v == int(v) else f"{v:.1f}".rstrip("0").rstrip(".")) + unit
    return str(n)


# Notes may hold a link (⟪text|url⟫) and a literal (⟦text⟧, e.g. the URL of a copy that was read, which
# must not become a link): each format renders them its own way.
_LINK = re.compile(r"⟪([^|⟫]*)\|([^⟫]*)⟫")
_CODE = re.compile(r"⟦([^⟧]*)⟧")


def link(label: str, url: str) -> str:
    return f"⟪{label}|{url}⟫"


def literal(s: str) -> str:
    return f"⟦{s}⟧"


def plain(s: str) -> str:
    """A note as plain text: links as ``label <url>`` (the label alone where it is the URL)."""
    s = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} <{m.group(2)}>", s)
    return _CODE.sub(lambda m: m.group(1), s)


def figure_name(k: str) -> str:
    return _FIGURE_NAMES.get(k, k)


def task_name(task: str) -> str:
    spec = spec_for(task)
    return spec.name if spec else task


def _display_primary(task: str, entries: list[Entry]) -> tuple[str, ...]:
    spec = spec_for(task)
    keys = spec.metrics.primary if spec else next((e.tasks[task].primary for e in entries if task in e.tasks), ())
    # Papers print QA as F1 / EM: F1 first.
    return tuple(sorted(keys, key=lambda k: 1 if k == "exact_match" else 0)) or ("metric",)


# --- building -------------------------------------------------------------------------

def sort_runs(runs: list[Entry], by: str = "score") -> list[Entry]:
    """Complete runs by XTREME score (best first), then partial runs in the order given; ``by="size"``: by
    parameter count (smallest first, unknown last), the score order within a size."""
    complete = sorted((e for e in runs if not e.partial), key=lambda e: -e.score)
    ordered = complete + [e for e in runs if e.partial]
    if by == "size":
        ordered.sort(key=lambda e: (e.parameters is None, e.parameters or 0))  # stable: score order within a size
    return ordered


def extra_tasks(entries: list[Entry], version: str) -> list[str]:
    """Tasks some run has that are not of the benchmark version (a ``--task-dir`` spec, or another version's
    task): each gets a column, none counts in any overall score."""
    known = set(board_tasks(version))
    return sorted({t for e in entries for t in e.tasks if t not in known})


def build_board(runs: list[Entry], references: list[Entry] = (), *, per_language: bool = False,
                compare: tuple[Entry, Entry, BootstrapResult | None] | None = None,
                matrix: TransferMatrix | None = None, title: str | None = None,
                decimals: int = 1, seeds: SeedTransfer | None = None, sort: str = "score") -> Board:
    """``references`` may hold delta rows: they go to a published transfer matrix, never to the summary."""
    version = runs[0].version if runs else (references[0].version if references else "xtreme")
    runs = sort_runs(list(runs), sort)
    refs = [r for r in references if r.ref is None or not r.ref.is_delta]
    board = Board(title=title or default_title(version), version=version, sections=[], decimals=decimals)
    board.sections.append(summary_section(runs, refs, version, sized=sort == "size"))
    if per_language:
        board.sections += per_language_sections(runs, version, refs)
    gap = gap_section(runs, version)
    if gap is not None:
        board.sections.append(gap)
    by_size = gap_by_size_section(runs, version)
    if by_size is not None:
        board.sections.append(by_size)
    if compare is not None:
        a, b, boot = compare
        if a.kind == "reference" or b.kind == "reference":
            pc = compare_published(a, b)
            board.sections.append(published_delta_section(pc, decimals))
            lang = published_language_section(pc)
            if lang is not None:
                board.sections.append(lang)
        else:
            board.sections.append(delta_section(a, b, boot))
            if boot is not None:
                board.sections.append(bootstrap_section(a, b, boot))
    if seeds is not None:
        board.sections += seed_sections(seeds)
    elif matrix is not None:
        board.sections.append(matrix_section(matrix))
    ours = seeds is not None or matrix is not None
    for pm in published_matrices(list(references), board_tasks(version)):
        board.sections.append(published_matrix_section(pm, runs if ours else [], seeds is not None))
    v = version_name(version)
    board.notes.append(f"Figures are percentages on the {v} test sets unless noted ({DEV} marks a run's figure on "
                       f"the dev split). The {v} score is the mean of the task averages (avg_metric), with QA "
                       "counted as (EM+F1)/2, exactly as the official evaluate.py computes it; it is shown only when "
                       "every task covers every language.")
    board.data = board_data(runs, list(references), version, seeds, matrix)
    return board


def version_name(version: str) -> str:
    return version.upper()


def default_title(version: str) -> str:
    """``XTREME leaderboard`` or ``XTREME-R leaderboard``: the benchmark the results files are of."""
    return f"{version_name(version)} leaderboard"


def summary_section(runs: list[Entry], refs: list[Entry], version: str, sized: bool = False) -> Section:
    bench = benchmark(version)
    tasks = board_tasks(version)
    extras = extra_tasks(runs, version)
    everyone = runs + refs
    with_params = sized or any(e.parameters is not None for e in runs)
    with_protocol = any((e.protocol or PROTOCOLS[0]) != PROTOCOLS[0] for e in everyone)
    cols: list[tuple[str, str]] = [("model", "Model")]
    if with_params:
        cols.append(("parameters", "Params"))
    if with_protocol:
        cols.append(("protocol", "Protocol"))
    cols.append(("all_task", version_name(version)))
    cols += [(c, _CATEGORY_NAMES.get(c, c)) for c in bench["categories"]]
    task_cols: list[tuple[str, str, str]] = []  # (task, figure, header)
    for t in tasks + extras:
        keys = _display_primary(t, everyone)
        for k in keys:
            name = task_name(t) + (" (not in score)" if t in extras else "")
            task_cols.append((t, k, name if len(keys) == 1 else f"{name} {figure_name(k)}"))
    cols += [(f"{t}.{k}" if len(_display_primary(t, everyone)) > 1 else t, h) for t, k, h in task_cols]
    sec = Section("summary", "Leaderboard", cols, [])
    for e in everyone:
        cells = [text(e.name)]
        if with_params:
            if e.parameters is not None:
                cells.append(Cell(e.parameters, kind="params"))
            else:
                printed = _printed_params(e)
                cells.append(text(printed) if printed else Cell(None, kind="params"))
        if with_protocol:
            cells.append(text(e.protocol or PROTOCOLS[0]))
        mark = PARTIAL if e.kind == "run" and e.partial else SECONDARY if "all_task" in e.overall_secondary else ""
        if e.kind == "run" and e.score is not None and _dev_tasks(e, bench["tasks"]):
            mark += DEV
        cells.append(Cell(e.score, mark=mark))
        for c in bench["categories"]:
            dev = e.kind == "run" and e.overall.get(c) is not None and _dev_tasks(e, bench["categories"][c])
            cells.append(Cell(e.overall.get(c), mark=DEV if dev else ""))
        for t, k, _ in task_cols:
            ts = e.tasks.get(t)
            if ts is None:
                cells.append(Cell(None))
                continue
            value = ts.avg_metric if len(ts.primary) == 1 or k == "metric" else ts.avgs.get(k)
            mark = PARTIAL if e.kind == "run" and not ts.complete else ""
            if e.kind == "run" and (ts.split or "test") != "test":
                mark += DEV if ts.split == "dev" else ""
            cells.append(Cell(value, mark=mark))
        sec.rows.append(Row(e.name, cells))
    if any("all_task" in e.overall_secondary for e in everyone):
        sec.notes.append(f"{SECONDARY} The official evaluate.py lists no languages for LAReQA in XTREME-R, so it "
                         "never reports an XTREME-R score; the figure shown is the mean of all ten task averages, "
                         "LAReQA's mAP@20 included.")
    if any(DEV in c.mark for r in sec.rows for c in r.cells):
        sec.notes.append(f"{DEV} on the dev split (the run's tasks.<task>.split); a score or category marked {DEV} "
                         "averages dev and test figures, so it is not a test-set score.")
    if extras:
        sec.notes.append(f"{', '.join(extras)}: not {version_name(version)} task(s) (a --task-dir spec or another "
                         f"benchmark's task): shown in a column of its own, never counted in the "
                         f"{version_name(version)} score or a category.")
    if with_params:
        sec.notes.append("Params: the parameter count of the model scored (results.json model.training.parameters "
                         "or model.parameters; a reference row's count as its source prints it).")
    if with_protocol:
        sec.notes.append("Protocol: fine-tuned transfer (fine-tuned on English, zero-shot in the other languages, "
                         "as XTREME) or zero-shot prompted (an LLM prompted through lm-eval); the two are not the "
                         "same experiment.")
    for e in runs:
        if e.partial:
            sec.notes.append(f"{PARTIAL} {e.name}: partial, so no {version_name(version)} score. "
                             + coverage_text(e, tasks + extras))
        for n in e.notes:
            sec.notes.append(f"{e.name}: {n}")
    sec.notes += reference_notes(refs, version)
    if any(len(_display_primary(t, everyone)) > 1 for t in tasks):
        sec.notes.append("QA columns are averages of F1 and exact match (EM) over the task's languages.")
    return sec


def _dev_tasks(e: Entry, tasks) -> bool:
    return any((e.tasks[t].split or "test") == "dev" for t in tasks if t in e.tasks)


def _printed_params(e: Entry) -> str | None:
    """A reference row's parameter count as printed (``params: {pretraining: 559M}``)."""
    if e.ref is None:
        return None
    params = e.ref.params
    if not params:
        return None
    return str(params.get("finetuning") or params.get("pretraining") or next(iter(params.values())))


def reference_notes(refs: list[Entry], version: str) -> list[str]:
    """Where each reference row comes from and what sets it apart; the printed Avg is never our score."""
    if not refs:
        return []
    v = version.upper()
    notes = [f"Reference rows: figures exactly as the source prints them; a blank cell was not printed there (or "
             f"could not be read). A row has an {v} score only when every task figure is printed, recomputed from "
             "those figures as evaluate.py would (QA (EM+F1)/2); a printed Avg column is quoted below, never used "
             "as the score."]
    files: dict[str, list[Entry]] = {}
    for e in refs:
        files.setdefault(e.ref.path if e.ref is not None else e.reference_id, []).append(e)
    for group in files.values():
        p = group[0].ref
        if p is None:
            continue
        notes.append(f"{p.short} ({', '.join(e.ref.row_id for e in group)}): {p.citation}"
                     + (f" ({link(p.canonical_url, p.canonical_url)})" if p.canonical_url else "")
                     + f"; {p.table}.{read_from(p)}"
                     + (f" Caveat: {p.caveat}" if p.caveat else "")
                     + (f" Second-hand: {p.second_hand}" if p.second_hand else ""))
        for e in group:
            parts = []
            if e.ref.split != "test" or e.ref.split_exceptions:
                parts.append(f"split {e.ref.split_text}" + "".join(f"; {t}: {text}" for t, text in
                                                                    e.ref.split_exceptions.items()))
            if e.ref.printed_avg:
                printed = ", ".join(f"{label} {value}" for label, value in e.ref.printed_avg.items())
                parts.append(f"printed {printed} (the source's column, not our score)")
            if parts:
                score = (f"{v} recomputed from the printed task figures" if e.score is not None else
                         f"no {v} score: not every task figure is printed")
                notes.append(f"{e.name}: " + "; ".join(parts) + f"; {score}.")
    return notes


def read_from(p) -> str:
    """Where the figures were transcribed from (a copy, not the paper's page), as a literal, never a link."""
    if not p.url_read:
        return ""
    return f" Transcribed from {literal(p.url_read)}" + (f" ({p.version_read})" if p.version_read else "") + "."


def coverage_text(e: Entry, tasks: list[str]) -> str:
    parts = []
    for t in tasks:
        ts = e.tasks.get(t)
        if ts is None:
            parts.append(f"{t}: not evaluated")
        elif not ts.complete:
            spec = spec_for(t)
            total = len(task_languages(spec, e.version)) if spec else len(ts.languages)
            miss = ", ".join(ts.missing[:8]) + (f" and {len(ts.missing) - 8} more" if len(ts.missing) > 8 else "")
            parts.append(f"{t}: {len(ts.languages)}/{total} languages, averaged over those present"
                         + (f" (missing {miss})" if miss else ""))
    return "; ".join(parts) + "." if parts else ""


def _task_languages(task: str, runs: list[Entry], version: str) -> list[str]:
    spec = spec_for(task)
    order = list(spec.languages(version) or spec.all_languages()) if spec else []
    extra = sorted({lang for e in runs if task in e.tasks for lang in e.tasks[task].languages} - set(order))
    return order + extra


def per_language_sections(runs: list[Entry], version: str, refs: list[Entry] = ()) -> list[Section]:
    """Each task by language: the runs' figures, then the published figures of the selected reference rows."""
    out = []
    tasks = board_tasks(version) + sorted({t for e in runs for t in e.tasks} - set(board_tasks(version)))
    for t in tasks:
        with_langs = [e for e in runs if t in e.tasks and e.tasks[t].per_lang]
        published = [e for e in refs if t in e.tasks and e.tasks[t].per_lang]
        if not with_langs and (runs or not published):
            continue
        langs = _task_languages(t, with_langs + published, version)
        keys = _display_primary(t, with_langs + published)
        cols = [("model", "Model"), ("figure", "Figure")] + [(lang, lang) for lang in langs] + [("avg", "Avg")]
        sec = Section(f"per_language.{t}", f"{task_name(t)} by language", cols, [])
        for e in with_langs:
            ts = e.tasks[t]
            for k in keys:
                figs = ts.per_lang.get(k, {})
                cells = [text(e.name), text(figure_name(k))]
                cells += [Cell(figs.get(lang), heat=True) for lang in langs]
                cells.append(Cell(ts.avgs.get(k), mark="" if ts.complete else PARTIAL))
                sec.rows.append(Row(f"{e.name}|{k}", cells))
            if not ts.complete:
                sec.notes.append(f"{PARTIAL} {e.name}: averaged over the {len(ts.languages)} languages present"
                                 + (f"; missing {', '.join(ts.missing)}" if ts.missing else "") + ".")
        for e in published:
            ts, p = e.tasks[t], e.ref
            for k in keys:
                if k not in ts.per_lang and ts.avgs.get(k) is None:
                    continue
                figs = ts.per_lang.get(k, {})
                printed = p.printed_labels.get(t, {}).get(k)
                label = figure_name(k) + (f" (printed {figure_name(printed)})" if printed else "")
                cells = [text(e.name), text(label)] + [Cell(figs.get(lang), heat=True) for lang in langs]
                cells.append(Cell(ts.avgs.get(k)))
                sec.rows.append(Row(f"{e.name}|{k}", cells))
        if published:
            sec.notes += _published_language_notes(published, t)
        out.append(sec)
    return out


def _published_language_notes(published: list[Entry], task: str) -> list[str]:
    """One note per source table, naming the rows it gives, rather than one per row."""
    import re

    notes = []
    tables: dict[str, list[str]] = {}
    for e in published:
        where = e.ref.per_language_tables.get(task) or "no per-language table"
        m = re.match(r"(.*?)\s*\(row label printed: \"([^\"]*)\"\)\s*$", where)
        title, label = (m.group(1), m.group(2)) if m else (where, None)
        tables.setdefault(f"{e.ref.short}, {title.rstrip('. ')}", []).append(
            e.name + (f" printed as \"{label}\"" if label and label != e.ref.model else ""))
    for where, names in tables.items():
        notes.append(f"Published rows ({'; '.join(names)}): per-language figures from {where}; "
                     "Avg is each row's task figure in its main table.")
    aliased = [e for e in published if e.ref.printed_labels.get(task)]
    for k, printed in {k: v for e in aliased for k, v in e.ref.printed_labels[task].items()}.items():
        notes.append(f"The per-language {figure_name(k)} figures of {', '.join(e.name for e in aliased)} are printed "
                     f"as {figure_name(printed)} and read as {figure_name(k)}: the table's avg column equals the "
                     f"main table's {figure_name(k)} figure.")
    for e in published:
        ts = e.tasks[task]
        for k, value in e.ref.per_language_printed_avg.get(task, {}).items():
            mine = ts.avgs.get(k)
            if mine is not None and abs(mine - value) > 1e-9:
                notes.append(f"{e.name}: the per-language table's avg column prints {figure_name(k)} {value}, the "
                             f"main table {mine} (a printed inconsistency; the main table's figure is shown).")
        missing = [figure_name(k) for k in ts.primary if k not in ts.per_lang]
        if missing:
            notes.append(f"{e.name}: no per-language {', '.join(missing)} printed (blank).")
    return notes


def gap_section(runs: list[Entry], version: str) -> Section | None:
    tasks = [t for t in board_tasks(version) + extra_tasks(runs, version)
             if any(transfer_gap(e, t)[0] is not None for e in runs)]
    if not tasks:
        return None
    cols = [("model", "Model")] + [(t, task_name(t)) for t in tasks] + [("avg", "Avg")]
    sec = Section("transfer_gap", "Cross-lingual transfer gap", cols, [],
                  intro="English score minus the mean score of the other languages (lower is better).")
    for e in runs:
        gaps = [transfer_gap(e, t) for t in tasks]
        if all(g is None for g, _ in gaps):
            continue
        known = [g for g, _ in gaps if g is not None]
        cells = [text(e.name)] + [Cell(g, mark=PARTIAL if p else "") for g, p in gaps]
        cells.append(Cell(sum(known) / len(known) if len(known) == len(tasks) else None))
        sec.rows.append(Row(e.name, cells))
    sec.notes.append("Per-language score: the mean of the task's primary figures in that language (for QA "
                     "(EM+F1)/2, the quantity avg_metric averages). Tasks without an English test set "
                     f"(BUCC, Tatoeba) have no gap. {PARTIAL} computed from the languages present.")
    return sec


def gap_by_size_section(runs: list[Entry], version: str) -> Section | None:
    """The transfer gap per model size: the runs of one parameter count together, smallest first."""
    sized = [e for e in runs if e.parameters is not None]
    extras = extra_tasks(runs, version)
    tasks = [t for t in board_tasks(version) + extras if any(transfer_gap(e, t)[0] is not None for e in sized)]
    if not sized or not tasks:
        return None
    cols = [("parameters", "Params"), ("runs", "Runs")] + [(t, task_name(t)) for t in tasks] + [("avg", "Avg")]
    sec = Section("transfer_gap_by_size", "Cross-lingual transfer gap by model size", cols, [],
                  intro="English score minus the mean score of the other languages, averaged over the runs of each "
                        "parameter count (lower is better).")
    for n in sorted({e.parameters for e in sized}):
        group = [e for e in sized if e.parameters == n]
        cells = [Cell(n, kind="params"), Cell(len(group), kind="int")]
        sec.notes.append(f"{params_text(n)}: {', '.join(e.name for e in group)}.")
        means = []
        for t in tasks:
            gaps = [transfer_gap(e, t) for e in group]
            known = [g for g, _ in gaps if g is not None]
            value = sum(known) / len(known) if known else None
            partial = any(p for g, p in gaps if g is not None) or (0 < len(known) < len(group))
            cells.append(Cell(value, mark=PARTIAL if value is not None and partial else ""))
            means.append(value)
        core = [v for t, v in zip(tasks, means) if t not in extras]
        cells.append(Cell(sum(core) / len(core) if core and None not in core else None))
        sec.rows.append(Row(f"params|{n}", cells))
    sec.notes.append(f"Each cell: the mean gap of the runs of that size that have the task; {PARTIAL} some of them "
                     f"are partial or lack the task. Avg: over the {version_name(version)} tasks with a gap (blank "
                     "when the size lacks one of them). Runs without a parameter count (model.training.parameters "
                     "or model.parameters) are left out.")
    return sec


def delta_section(a: Entry, b: Entry, boot: BootstrapResult | None) -> Section:
    cols = [("figure", "Figure"), ("a", "A"), ("b", "B"), ("diff", "B − A"), ("low", "95% low"),
            ("high", "95% high"), ("sig", "Sig.")]
    sec = Section("delta", "Difference B − A", cols, [], intro=f"A = {a.name}; B = {b.name}.")
    for key, va, vb, d in delta(a, b):
        cells = [text(_figure_label(key)), Cell(va), Cell(vb), Cell(d, kind="delta"), Cell(None, kind="delta"),
                 Cell(None, kind="delta"), text("")]
        task, _, fig = key.partition(".")
        td = boot.tasks.get(task) if boot is not None and fig == "avg_metric" else None
        if td is not None and va is not None and vb is not None and abs(td.overall.a - va) < 1e-6 \
                and abs(td.overall.b - vb) < 1e-6:
            cells[4].value, cells[5].value = td.overall.low, td.overall.high
            cells[6] = text(SIG if td.overall.significant else "")
            if td.overall.significant:
                cells[3].mark = SIG
        sec.rows.append(Row(key, cells))
    if boot is not None:
        sec.notes.append(f"Intervals: paired bootstrap over examples, {boot.resamples} resamples, seed {boot.seed}, "
                         f"95% percentile interval; {SIG} = the interval excludes 0. Only task averages whose "
                         "records cover every language the results average over get an interval.")
    return sec


def published_delta_section(pc: PublishedComparison, decimals: int = 1) -> Section:
    """B − A against a published row: figures only, flagged where the two are not like with like."""
    a, b = pc.a, pc.b
    cols = [("figure", "Figure"), ("a", "A"), ("b", "B"), ("diff", "B − A")]
    sec = Section("delta", "Difference B − A", cols, [], intro=f"A = {a.name}; B = {b.name}.")
    marks = {"flag": SPLIT_FLAG, "partial": PARTIAL}
    for key, va, vb, d in pc.rows:
        status = pc.key_status(key)
        cells = [text(_figure_label(key)), Cell(va), Cell(vb),
                 Cell(None if status == "skip" else d, kind="delta", mark=marks.get(status, "") if d is not None
                      and status != "skip" else "")]
        sec.rows.append(Row(key, cells))
    sec.notes.append("No paired bootstrap: a published row has no per-example records, so these differences have "
                     "no confidence interval and no significance mark.")
    if pc.not_compared:
        sec.notes.append("Not compared (splits differ; blank B − A): "
                         + "; ".join(f"{t}: {why}" for t, why in pc.not_compared.items())
                         + ". Compare a dev-split row with a dev-split run and a test-split row with a test-split run.")
    if pc.flagged:
        sec.notes.append(f"{SPLIT_FLAG} split unstated or not a test-set measurement, compared as printed: "
                         + "; ".join(f"{t}: {why}" for t, why in pc.flagged.items()) + ".")
    if pc.partial:
        sec.notes.append(f"{PARTIAL} the run averages {', '.join(sorted(pc.partial))} over only some languages; "
                         "the published figure covers the task.")
    for e in (a, b):
        if e.ref is not None:
            if e.ref.caveat:
                sec.notes.append(f"{e.name}: {e.ref.caveat}")
            if e.ref.second_hand:
                sec.notes.append(f"{e.name}: second-hand: {e.ref.second_hand}")
            sec.notes.append(f"{e.name} is printed in {e.ref.short}, {e.table}; its task figures are used as printed "
                             "(QA avg_metric = (EM+F1)/2 of the printed F1 and EM).")
    return sec


def published_language_section(pc: PublishedComparison) -> Section | None:
    if not pc.languages:
        return None
    cols = [("task", "Task"), ("lang", "Language"), ("figure", "Figure"), ("a", "A"), ("b", "B"),
            ("diff", "B − A")]
    sec = Section("delta_by_language", "Difference B − A by language", cols, [],
                  intro=f"A = {pc.a.name}; B = {pc.b.name}. Each figure in each language both give.")
    for task, lang, k, va, vb, d in pc.languages:
        mark = SPLIT_FLAG if task in pc.flagged else ""
        sec.rows.append(Row(f"{task}|{lang}|{k}", [text(task_name(task)), text(lang), text(figure_name(k)),
                                                    Cell(va), Cell(vb), Cell(d, kind="delta", mark=mark)]))
    sec.notes.append("No paired bootstrap: without per-example records for the published row there is no interval.")
    for e in (pc.a, pc.b):
        for task, labels in (e.ref.printed_labels.items() if e.ref is not None else ()):
            for k, printed in labels.items():
                sec.notes.append(f"{e.name}: {task_name(task)} per-language {figure_name(k)} is printed as "
                                 f"{figure_name(printed)} (see leaderboard/README.md).")
    return sec


def published_matrix_section(pm: PublishedMatrix, runs: list[Entry] = (), across_seeds: bool = False) -> Section:
    """A paper's intermediate-task deltas as printed, beside the runs' own transfer matrix."""
    base = pm.baseline
    p = base.ref
    cols = [("intermediate", "Intermediate task")]
    for t, k in pm.columns:
        single = sum(1 for t2, _ in pm.columns if t2 == t) == 1
        cols.append((t if single else f"{t}.{k}", task_name(t) if single else f"{task_name(t)} {figure_name(k)}"))
    cols.append(("printed_avg", "Avg (printed)"))
    splits = sorted({r.ref.split for r in pm.rows} | {base.ref.split})
    intro = (f"{'/'.join(splits).capitalize()}-set figures. First row: {base.ref.model}, absolute; the other rows "
             "are the signed differences from it that the paper prints.")
    sec = Section(f"published_transfer_matrix.{p.file_id}", f"Published intermediate-task transfer ({p.short})",
                  cols, [], intro=intro)
    cells = [text(f"{base.ref.label_printed or base.ref.model} (baseline)")]
    cells += [Cell(base.tasks[t].avgs.get(k) if t in base.tasks else None) for t, k in pm.columns]
    cells.append(Cell(base.ref.printed_avg.get("Avg")))
    sec.rows.append(Row(base.ref.row_id, cells))
    for r in pm.rows:
        label = r.ref.intermediate or r.ref.label_printed or r.ref.model
        if r.ref.mlm is not None:
            label += " (with MLM)" if r.ref.mlm else " (no MLM)"
        cells = [text(label)] + [Cell(r.ref.delta_figures.get(t, {}).get(k), kind="delta") for t, k in pm.columns]
        cells.append(Cell(r.ref.printed_avg.get("Avg"), kind="delta"))
        sec.rows.append(Row(r.ref.row_id, cells))
    sec.notes.append(f"These are {'/'.join(splits)}-set figures ({base.ref.split_text} split), not test-set figures: "
                     "read them beside a test-set matrix with that in mind. Each cell is printed, not recomputed; "
                     "QA columns give the F1 and EM differences separately; Avg is the paper's printed Avg column.")
    sec.notes += _row_only_notes(base)
    sec.notes.append(f"{p.short}: {p.citation}"
                     + (f" ({link(p.canonical_url, p.canonical_url)})" if p.canonical_url else "")
                     + f"; {p.table}.{read_from(p)}" + (f" Caveat: {p.caveat}" if p.caveat else ""))
    if runs:
        run_splits = sorted({r.tasks[t].split or "test" for r in runs if r.intermediate is not None for t in r.tasks})
        ours = "Intermediate-task transfer across seeds" if across_seeds else "Intermediate-task transfer"
        sec.notes.append(f"The runs' matrix above ({ours}) gives gains of avg_metric (QA "
                         f"(EM+F1)/2) on the runs' {'/'.join(run_splits) or 'test'} split; the deltas here are "
                         f"the paper's {'/'.join(splits)}-set figures, of one run each, with no interval.")
    return sec


def _row_only_notes(e: Entry) -> list[str]:
    """A row's own notes (the file's shared notes left out), as the source gives them."""
    return [f"{e.ref.label_printed or e.ref.model}: {n}" for n in e.ref.notes]


def _figure_label(key: str) -> str:
    if "." not in key:
        return "XTREME" if key == "all_task" else _CATEGORY_NAMES.get(key, key)
    task, fig = key.split(".", 1)
    return f"{task_name(task)} " + ("avg_metric" if fig == "avg_metric" else figure_name(fig))


def bootstrap_section(a: Entry, b: Entry, boot: BootstrapResult) -> Section:
    cols = [("task", "Task"), ("lang", "Language"), ("n", "n"), ("a", "A"), ("b", "B"), ("diff", "B − A"),
            ("low", "95% low"), ("high", "95% high"), ("sig", "Sig.")]
    sec = Section("bootstrap", "Paired bootstrap per task and language", cols, [],
                  intro=f"A = {a.name}; B = {b.name}. Primary figure of each task (QA: (EM+F1)/2); "
                        "the task row averages its languages.")
    for task, td in boot.tasks.items():
        for lang, d in [("avg", td.overall)] + list(td.languages.items()):
            sec.rows.append(Row(f"{task}|{lang}", [
                text(task_name(task)), text("average" if lang == "avg" else lang), Cell(d.n, kind="int"),
                Cell(d.a), Cell(d.b), Cell(d.diff, kind="delta", mark=SIG if d.significant else ""),
                Cell(d.low, kind="delta"), Cell(d.high, kind="delta"), text(SIG if d.significant else "")]))
    sec.notes += boot.notes
    sec.notes.append(f"{boot.resamples} resamples (seed {boot.seed}); each language resampled on its own with the "
                     f"same draws for A and B; {SIG} = the 95% percentile interval excludes 0.")
    return sec


def matrix_section(m: TransferMatrix) -> Section:
    cols = [("intermediate", "Intermediate task")] + [(t, task_name(t)) for t in m.tasks] + [("avg", "Avg")]
    sec = Section("transfer_matrix", "Intermediate-task transfer", cols, [],
                  intro="Gain in each target task's average (avg_metric) over the run without an "
                        "intermediate task; the baseline row gives its absolute figures.")
    many = len(m.baselines) > 1
    for base in m.baselines:
        label = f"{base.base_model}: {base.label}" if many and base.base_model else base.label
        cells = [text(label)] + [Cell(base.values.get(t), mark=PARTIAL if t in base.partial else "") for t in m.tasks]
        vals = [base.values[t] for t in m.tasks if t in base.values]
        cells.append(Cell(sum(vals) / len(vals) if vals else None))
        sec.rows.append(Row(f"{base.base_model}|baseline", cells))
        for row, b in m.rows:
            if b is not base:
                continue
            label = f"{b.base_model}: {row.label}" if many and b.base_model else row.label
            cells = [text(label)]
            for t in m.tasks:
                g = m.gain(row, b, t)
                cells.append(Cell(g, kind="delta", mark=PARTIAL if g is not None and
                                  (t in row.partial or t in b.partial) else ""))
            cells.append(Cell(m.mean_gain(row, b), kind="delta"))
            sec.rows.append(Row(f"{row.base_model}|{row.label}", cells))
    sec.notes.append(f"Avg: mean gain over the target tasks the row has. {PARTIAL} a figure averaged over the "
                     "languages present only.")
    return sec


def seed_sections(st: SeedTransfer) -> list[Section]:
    """The transfer table across seeds (one cell per row and target task) and its long form (every statistic)."""
    tasks = st.tasks
    cols = [("intermediate", "Intermediate task"), ("seeds", "Seeds")] + [(t, task_name(t)) for t in tasks] \
        + [("avg", "Avg")]
    sec = Section("transfer_matrix", "Intermediate-task transfer across seeds", cols, [],
                  intro="Each cell: the mean over seeds of (run − the same seed's baseline) of the target task's "
                        f"average (avg_metric; QA (EM+F1)/2). {SIG} = its 95% interval excludes 0 (the interval "
                        "reflects seed variance and the test set's sampling). Baseline rows: absolute means over "
                        "their seeds.")
    detail = Section("transfer_detail", "Intermediate-task transfer across seeds: every cell",
                     [("intermediate", "Intermediate task"), ("task", "Task"), ("n", "Seeds"),
                      ("delta", "Mean Δ"), ("sd", "SD"), ("low", "95% low"), ("high", "95% high"),
                      ("sig", "Sig."), ("per_seed", "Per seed"), ("method", "Interval")], [],
                     intro="Baseline rows give the absolute mean and SD over seeds; the other rows the mean and SD of "
                           "the per-seed differences from the same seed's baseline.")
    placed: set[str] = set()

    def add_row(row) -> None:
        placed.add(row.key)
        cells = [text(row.label), text(",".join(map(str, row.seeds)))]
        deltas = []
        for t in tasks:
            c = row.cells.get(t)
            if c is None or c.delta is None:
                cells.append(Cell(None, kind="delta"))
                continue
            mark = (SIG if c.significant else "") + (PARTIAL if c.partial else "")
            cells.append(Cell(c.delta, kind="delta", mark=mark, heat="delta" if c.significant else False))
            deltas.append(c.delta)
        cells.append(Cell(sum(deltas) / len(deltas) if deltas else None, kind="delta"))
        sec.rows.append(Row(row.key, cells))
        for t in tasks:
            c = row.cells.get(t)
            if c is not None:
                detail.rows.append(_detail_row(row, t, c, baseline=False))

    for base in st.baselines:
        cells = [text(base.label), text(",".join(map(str, base.seeds)))]
        vals = []
        for t in tasks:
            c = base.cells.get(t)
            cells.append(Cell(c.delta if c else None, mark=PARTIAL if c and c.partial else ""))
            if c is not None and c.delta is not None:
                vals.append(c.delta)
        cells.append(Cell(sum(vals) / len(vals) if vals else None))
        sec.rows.append(Row(base.key, cells))
        for t in tasks:
            c = base.cells.get(t)
            if c is not None:
                detail.rows.append(_detail_row(base, t, c, baseline=True))
        for row in st.rows:
            if row.key not in placed and row.base == base.base:
                add_row(row)
    for row in st.rows:  # rows without a baseline of their base model: shown, blank
        if row.key not in placed:
            add_row(row)
    splits = sorted({c.split for r in st.rows + st.baselines for c in r.cells.values() if c.split})
    sec.notes.append(f"Interval: a Student t interval over the per-seed differences, mean ± t(0.975, n−1)·se with "
                     f"se² = SD²/n + se_test², se_test being the standard deviation of the seed-mean difference over "
                     f"{st.resamples} bootstrap resamples of the test examples (the same resampled examples for every "
                     f"seed and both arms, seed {st.boot_seed}). One seed: no interval, never {SIG}. See the README "
                     "(Transfer across seeds) for why.")
    sec.notes.append(f"Avg: the mean of the row's cells, without an interval. {PARTIAL} a run or its baseline averages "
                     "over only some languages (or not the same ones). Split: " + ("/".join(splits) or "test") + ".")
    for r in st.rows + st.baselines:
        sec.notes.append(f"{r.label}: {describe_row(r)}; seeds {', '.join(map(str, r.seeds))}"
                         + (f"; {params_text(r.parameters)} parameters" if r.parameters else "") + ".")
    for m in st.missing:
        sec.notes.append(f"Not in the table: {m['row']}, {task_name(m['task'])}, seed(s) "
                         f"{', '.join(map(str, m['seeds']))}: {m['reason']}.")
    sec.notes += st.notes
    return [sec, detail]


def _detail_row(row, task: str, c, baseline: bool) -> Row:
    kind = "num" if baseline else "delta"
    per = ", ".join(f"{s}: {v:+.2f}" if not baseline else f"{s}: {v:.2f}" for s, v in sorted(c.per_seed.items()))
    lo, hi = c.ci95 if c.ci95 is not None else (None, None)
    return Row(f"{row.key}|{task}", [
        text(row.label), text(task_name(task)), Cell(len(c.seeds), kind="int"),
        Cell(c.delta, kind=kind, mark=(SIG if c.significant else "") + (PARTIAL if c.partial else "")),
        Cell(c.sd), Cell(lo, kind="delta"), Cell(hi, kind="delta"), text(SIG if c.significant else ""),
        text(per or c.why_blank), text(c.method if not c.why_blank else c.why_blank)])


# --- the data behind the board (--format json) --------------------------------------------------------

def board_data(runs: list[Entry], refs: list[Entry], version: str, seeds: SeedTransfer | None,
               matrix: TransferMatrix | None) -> dict[str, Any]:
    data: dict[str, Any] = {"rows": [_entry_json(e, version) for e in runs + refs]}
    if seeds is not None:
        data.update(seeds.as_json())
    elif matrix is not None:  # runs without model.training: one run per cell, no seeds, no interval
        data["transfer_matrix"] = {
            "+".join(row.intermediate) + (f" @{row.base_model}" if len(matrix.baselines) > 1 else ""): {
                t: {"delta": g, "sd": None, "seeds": 1, "ci95": None, "significant": False,
                    "partial": t in row.partial or t in b.partial}
                for t in matrix.tasks if (g := matrix.gain(row, b, t)) is not None}
            for row, b in matrix.rows}
    return data


def _entry_json(e: Entry, version: str) -> dict[str, Any]:
    bench = set(benchmark(version)["tasks"])
    out: dict[str, Any] = {
        "name": e.name, "kind": e.kind, "version": e.version, "protocol": e.protocol or (
            PROTOCOLS[0] if e.kind == "run" else None),
        "parameters": e.parameters, "score": e.score, "partial": e.partial if e.kind == "run" else None,
        "overall": e.overall, "overall_secondary": e.overall_secondary,
        "tasks": {t: {"avg_metric": ts.avg_metric, "averages": ts.avgs, "split": ts.split, "complete": ts.complete,
                      "languages": ts.languages, "missing": ts.missing, "in_score": t in bench,
                      "per_language": ts.per_lang}
                  for t, ts in e.tasks.items()},
        "notes": [plain(n) for n in e.notes]}
    if e.kind == "run":
        out["sources"] = e.sources or [e.source]
        if e.training is not None:
            out["training"] = e.training.as_dict()
        if e.model_info:
            out["lm_eval"] = e.model_info
    else:
        out["reference_id"] = e.ref.row_id if e.ref is not None else e.reference_id
        out["source"] = e.source
        if e.ref is not None:
            out["url"] = e.ref.canonical_url
            out["split"] = e.ref.split_text
    return out


def render_json(board: Board) -> str:
    """The whole board: every section's cells at full precision, the rows, and the transfer matrix."""
    def cell(c: Cell) -> dict[str, Any]:
        if c.kind == "text":
            return {"text": plain(c.text)}
        value: Any = None if c.value is None else (int(c.value) if c.kind in ("int", "params") else float(c.value))
        return {"value": value, "display": c.display(board.decimals, blank=""), "mark": c.mark}

    doc = {"schema": JSON_SCHEMA, "title": board.title, "version": board.version,
           "notices": [plain(n) for n in board.notices], **board.data,
           "sections": [{"key": sec.key, "title": sec.title, "intro": plain(sec.intro),
                         "columns": [{"key": k, "header": h} for k, h in sec.columns],
                         "rows": [{"key": row.key, "cells": {k: cell(c) for (k, _), c in zip(sec.columns, row.cells)}}
                                  for row in sec.rows],
                         "notes": [plain(n) for n in sec.notes]} for sec in board.sections],
           "notes": [plain(n) for n in board.notes]}
    return json.dumps(_finite(doc), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _finite(x: Any) -> Any:
    """JSON has no NaN or infinity: such a figure (never a valid one) is written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


# --- rendering ------------------------------------------------------------------------

def render(board: Board, fmt: str) -> str:
    if fmt == "md":
        return render_md(board)
    if fmt == "csv":
        return render_csv(board)
    if fmt == "latex":
        return render_latex(board)
    if fmt == "html":
        return render_html(board)
    if fmt == "json":
        return render_json(board)
    raise ValueError(fmt)


def render_md(board: Board) -> str:
    d = board.decimals
    out = [f"# {board.title}", ""]
    for n in board.notices:
        out += [f"> **Note.** {_md_text(n)}", ""]
    for sec in board.sections:
        out += [f"## {sec.title}", ""]
        if sec.intro:
            out += [_md_text(sec.intro), ""]
        out.append("| " + " | ".join(_md(h) for _, h in sec.columns) + " |")
        out.append("| " + " | ".join("---" if c.kind == "text" else "---:" for c in _col_kinds(sec)) + " |")
        for row in sec.rows:
            out.append("| " + " | ".join(_md(c.display(d)) for c in row.cells) + " |")
        out.append("")
        out += [f"- {_md_text(n)}" for n in sec.notes]
        if sec.notes:
            out.append("")
    for p in board.plots:
        if p.file:
            out += [f"![{p.caption}]({p.file})", ""]
    out += [_md_text(n) for n in board.notes]
    return "\n".join(out).rstrip() + "\n"


def _col_kinds(sec: Section) -> list[Cell]:
    first = sec.rows[0].cells if sec.rows else [text("")] * len(sec.columns)
    return first


def _md(s: str) -> str:
    return plain(s).replace("|", "\\|").replace("\n", " ")


def _md_text(s: str) -> str:
    s = _LINK.sub(lambda m: f"[{m.group(1)}]({m.group(2)})", s)
    s = _CODE.sub(lambda m: f"`{m.group(1)}`", s)
    return s.replace("\n", " ")


def render_csv(board: Board) -> str:
    """One tidy table: a line per cell, with the full-precision value beside the displayed text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "row", "column", "value", "display", "mark"])
    for note in board.notices:
        w.writerow(["board", "", "notice", "", plain(note), ""])
    for sec in board.sections:
        for row in sec.rows:
            for (ckey, _), cell in zip(sec.columns, row.cells):
                value = "" if cell.kind == "text" or cell.value is None else repr(float(cell.value))
                if cell.kind in ("int", "params") and cell.value is not None:
                    value = str(int(cell.value))
                w.writerow([sec.key, row.key, ckey, value, plain(cell.display(board.decimals, blank="")), cell.mark])
        for note in sec.notes:
            w.writerow([sec.key, "", "note", "", plain(note), ""])
    for note in board.notes:
        w.writerow(["board", "", "note", "", plain(note), ""])
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"\textsuperscript{\dag}",
        "–": "--", "−": "$-$", "§": r"\S{}", DEV: r"\textsuperscript{d}", "‡": r"\textsuperscript{\ddag}",
        "Δ": r"$\Delta$", "±": r"$\pm$", "²": r"\textsuperscript{2}", "·": r"$\cdot$"}


def tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in plain(s))


def render_latex(board: Board) -> str:
    """Table environments to ``\\input``; they need ``booktabs`` and ``graphicx``."""
    d = board.decimals
    out = [f"% {board.title}: generated by xtreme-leaderboard.",
           "% Needs \\usepackage{booktabs} and \\usepackage{graphicx} in the preamble.", ""]
    out += [f"% Note: {plain(n)}" for n in board.notices]
    if board.notices:
        out += ["\\paragraph{Note.} " + " ".join(tex(n) for n in board.notices), ""]
    for sec in board.sections:
        spec = "".join("l" if c.kind == "text" else "r" for c in _col_kinds(sec))
        out += ["\\begin{table*}[t]", "\\centering", "\\small",
                "\\resizebox{\\textwidth}{!}{%", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                " & ".join(tex(h) for _, h in sec.columns) + " \\\\", "\\midrule"]
        for row in sec.rows:
            cells = []
            for c in row.cells:
                s = tex(c.display(d))
                if c.mark.startswith(SIG) and c.kind != "text":
                    s = tex(c.display(d)[:-len(c.mark)]) + "$^{*}$" + tex(c.mark[1:])
                cells.append(s)
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}}"]
        if sec.notes:
            out.append("\\par\\smallskip{\\footnotesize " + " ".join(tex(n) for n in sec.notes) + "\\par}")
        caption = sec.title + (". " + sec.intro if sec.intro else "")
        out += [f"\\caption{{{tex(caption)}}}", f"\\label{{tab:xtreme-{sec.key.replace('.', '-')}}}",
                "\\end{table*}", ""]
    out += ["% " + plain(n) for n in board.notes]
    return "\n".join(out) + "\n"


# Wide tables scroll inside their own box, the first column (the row names) stays in place while they do,
# and heat-map cells keep a WCAG AA text contrast (4.5:1) against their colour.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1400px;
padding:0 1rem;color:#1a1a1a;line-height:1.4;box-sizing:border-box}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.scroll{overflow-x:auto;max-width:100%;border:1px solid #e4e4e4}
table{border-collapse:separate;border-spacing:0;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .5rem;border-bottom:1px solid #eee;white-space:nowrap;background:#fff}
th{background:#f5f5f5;position:sticky;top:0;text-align:center;z-index:1}
th:first-child,td:first-child{position:sticky;left:0;z-index:2;box-shadow:inset -1px 0 0 #bbb;text-align:left}
th:first-child{z-index:3;background:#f5f5f5}
td.num{text-align:right}td.text{text-align:left}
td.partial{color:#6b4700}td.sig{font-weight:600}
tr:hover td{background-color:#f7f7f7}
ul.notes{font-size:.8rem;color:#444}
p.notice{border:2px solid #b36b00;background:#fff6e5;color:#3d2600;padding:.6rem .8rem;font-weight:600}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}
p.foot{font-size:.8rem;color:#555}
a{color:#0b57d0}
"""

TEXT_DARK = "#111111"
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(h: float, s: float, lightness: float) -> str:
    r, g, b = colorsys.hls_to_rgb(h / 360, lightness, s)
    return "#{:02x}{:02x}{:02x}".format(*(round(x * 255) for x in (r, g, b)))


def heat_colours(value: float, kind: str = "abs") -> tuple[str, str]:
    """(background, text) for a heat-map cell: red (low) to green (high) for a 0-100 figure, red or green by
    sign for a difference; light enough that dark text reads at 4.5:1 or better (checked, darkened text if not)."""
    if kind == "delta":
        hue = 130.0 if value > 0 else 0.0
        lightness = 0.86 - 0.08 * min(1.0, abs(value) / 5.0)
    else:
        hue = max(0.0, min(100.0, value)) * 1.2
        lightness = 0.82
    bg = _hex(hue, 0.62, lightness)
    fg = TEXT_DARK
    if contrast_ratio(bg, fg) < MIN_CONTRAST:  # never with these lightnesses; kept as the rule
        fg = "#000000"
    return bg, fg


def _html_text(s: str) -> str:
    """Escaped text with the note's links as links (canonical pages) and literals as code."""
    out, pos = [], 0
    pattern = re.compile(f"{_LINK.pattern}|{_CODE.pattern}")
    for m in pattern.finditer(s):
        out.append(html.escape(s[pos:m.start()]))
        if m.group(1) is not None:
            out.append(f'<a href="{html.escape(m.group(2), quote=True)}">{html.escape(m.group(1))}</a>')
        else:
            out.append(f"<code>{html.escape(m.group(3))}</code>")
        pos = m.end()
    out.append(html.escape(s[pos:]))
    return "".join(out)


def render_html(board: Board) -> str:
    d = board.decimals
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(board.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{esc(board.title)}</h1>"]
    out += [f'<p class="notice" role="note">{_html_text(n)}</p>' for n in board.notices]
    for sec in board.sections:
        out.append(f'<section id="{esc(sec.key)}">')
        out.append(f"<h2>{esc(sec.title)}</h2>")
        if sec.intro:
            out.append(f"<p>{_html_text(sec.intro)}</p>")
        out.append('<div class="scroll"><table>')
        out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for _, h in sec.columns)
                   + "</tr></thead>")
        out.append("<tbody>")
        for row in sec.rows:
            tds = []
            for c in row.cells:
                cls = ["text" if c.kind == "text" else "num"]
                if PARTIAL in c.mark:
                    cls.append("partial")
                if c.mark.startswith(SIG):
                    cls.append("sig")
                style = ""
                if c.heat and c.value is not None:
                    bg, fg = heat_colours(c.value, "delta" if c.heat == "delta" else "abs")
                    style = f' style="background:{bg};color:{fg}"'
                    cls.append("heat")
                tds.append(f'<td class="{" ".join(cls)}"{style}>{_html_text(c.display(d))}</td>')
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table></div>")
        if sec.notes:
            out.append('<ul class="notes">' + "".join(f"<li>{_html_text(n)}</li>" for n in sec.notes) + "</ul>")
        out.append("</section>")
    if board.plots:
        out.append('<section id="plots"><h2>Plots</h2>')
        for p in board.plots:
            data = base64.b64encode(p.png).decode("ascii")
            out.append(f'<figure><img alt="{esc(p.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{esc(p.caption)}</figcaption></figure>")
        out.append("</section>")
    out += [f'<p class="foot">{_html_text(n)}</p>' for n in board.notes]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
