"""The board: what the leaderboard shows, laid out once and rendered as Markdown, CSV, LaTeX or HTML.

Building the tables apart from rendering them keeps the four formats in step:
a figure, its partial mark and its footnote come from one place. Partial runs
keep a blank XTREME score and a † on every task average that does not cover
all of the task's languages, so nothing partial reads as complete.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import dataclass, field

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
from .entries import Entry, spec_for

PARTIAL = "†"
SECONDARY = "‡"  # a figure evaluate.py does not report, shown beside the official ones
SIG = "*"
SPLIT_FLAG = "§"  # a published figure whose split is unstated or not a test-set measurement
FORMATS = ("md", "csv", "latex", "html")
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
    heat: bool = False  # colour by value in HTML (per-language tables)

    def display(self, decimals: int, blank: str = "–") -> str:
        if self.kind == "text":
            body = self.text
        elif self.value is None:
            body = blank
        elif self.kind == "int":
            body = str(int(self.value))
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


def text(s: str) -> Cell:
    return Cell(kind="text", text=s)


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


def board_tasks(version: str) -> list[str]:
    """Tasks in category order (the order papers print them), then any others of the version."""
    bench = benchmark(version)
    order: list[str] = []
    for tasks in bench["categories"].values():
        order += [t for t in tasks if t not in order]
    return order + [t for t in bench["tasks"] if t not in order]


# --- building -------------------------------------------------------------------------

def sort_runs(runs: list[Entry]) -> list[Entry]:
    """Complete runs by XTREME score (best first), then partial runs in the order given."""
    complete = sorted((e for e in runs if not e.partial), key=lambda e: -e.score)
    return complete + [e for e in runs if e.partial]


def build_board(runs: list[Entry], references: list[Entry] = (), *, per_language: bool = False,
                compare: tuple[Entry, Entry, BootstrapResult | None] | None = None,
                matrix: TransferMatrix | None = None, title: str = "XTREME leaderboard",
                decimals: int = 1) -> Board:
    """``references`` may hold delta rows: they go to a published transfer matrix, never to the summary."""
    version = runs[0].version if runs else (references[0].version if references else "xtreme")
    runs = sort_runs(list(runs))
    refs = [r for r in references if r.ref is None or not r.ref.is_delta]
    board = Board(title=title, version=version, sections=[], decimals=decimals)
    board.sections.append(summary_section(runs, refs, version))
    if per_language:
        board.sections += per_language_sections(runs, version, refs)
    gap = gap_section(runs, version)
    if gap is not None:
        board.sections.append(gap)
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
    if matrix is not None:
        board.sections.append(matrix_section(matrix))
    for pm in published_matrices(list(references), board_tasks(version)):
        board.sections.append(published_matrix_section(pm, runs if matrix is not None else []))
    board.notes.append(f"Figures are percentages on the {version.upper()} test sets unless noted. The "
                       f"{version.upper()} score is the mean of the task averages (avg_metric), with QA counted as "
                       "(EM+F1)/2, exactly as the official evaluate.py computes it; it is shown only when every "
                       "task covers every language.")
    return board


def summary_section(runs: list[Entry], refs: list[Entry], version: str) -> Section:
    bench = benchmark(version)
    tasks = board_tasks(version)
    everyone = runs + refs
    cols: list[tuple[str, str]] = [("model", "Model"), ("all_task", version.upper())]
    cols += [(c, _CATEGORY_NAMES.get(c, c)) for c in bench["categories"]]
    task_cols: list[tuple[str, str, str]] = []  # (task, figure, header)
    for t in tasks:
        keys = _display_primary(t, everyone)
        for k in keys:
            task_cols.append((t, k, task_name(t) if len(keys) == 1 else f"{task_name(t)} {figure_name(k)}"))
    cols += [(f"{t}.{k}" if len(_display_primary(t, everyone)) > 1 else t, h) for t, k, h in task_cols]
    sec = Section("summary", "Leaderboard", cols, [])
    for e in everyone:
        cells = [text(e.name)]
        mark = PARTIAL if e.kind == "run" and e.partial else SECONDARY if "all_task" in e.overall_secondary else ""
        cells.append(Cell(e.score, mark=mark))
        for c in bench["categories"]:
            cells.append(Cell(e.overall.get(c)))
        for t, k, _ in task_cols:
            ts = e.tasks.get(t)
            if ts is None:
                cells.append(Cell(None))
                continue
            value = ts.avg_metric if len(ts.primary) == 1 or k == "metric" else ts.avgs.get(k)
            mark = PARTIAL if e.kind == "run" and not ts.complete else ""
            cells.append(Cell(value, mark=mark))
        sec.rows.append(Row(e.name, cells))
    if any("all_task" in e.overall_secondary for e in everyone):
        sec.notes.append(f"{SECONDARY} The official evaluate.py lists no languages for LAReQA in XTREME-R, so it "
                         "never reports an XTREME-R score; the figure shown is the mean of all ten task averages, "
                         "LAReQA's mAP@20 included.")
    for e in runs:
        if e.partial:
            sec.notes.append(f"{PARTIAL} {e.name}: partial, so no {version.upper()} score. "
                             + coverage_text(e, tasks))
        for n in e.notes:
            sec.notes.append(f"{e.name}: {n}")
    sec.notes += reference_notes(refs, version)
    if any(len(_display_primary(t, everyone)) > 1 for t in tasks):
        sec.notes.append("QA columns are averages of F1 and exact match (EM) over the task's languages.")
    return sec


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
        read = f" Read from {p.url_read}" + (f" ({p.version_read})" if p.version_read else "") + "." \
            if p.url_read else ""
        notes.append(f"{p.short} ({', '.join(e.ref.row_id for e in group)}): {p.citation}; {p.table}.{read}"
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
    tasks = [t for t in board_tasks(version) if any(transfer_gap(e, t)[0] is not None for e in runs)]
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


def published_matrix_section(pm: PublishedMatrix, runs: list[Entry] = ()) -> Section:
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
    sec.notes.append(f"{p.short}: {p.citation}; {p.table}." + (f" Read from {p.url_read}." if p.url_read else "")
                     + (f" Caveat: {p.caveat}" if p.caveat else ""))
    if runs:
        run_splits = sorted({r.tasks[t].split or "test" for r in runs if r.intermediate is not None for t in r.tasks})
        sec.notes.append("The runs' matrix above (Intermediate-task transfer) gives gains of avg_metric (QA "
                         f"(EM+F1)/2) on the runs' {'/'.join(run_splits) or 'test'} split; the deltas here are "
                         f"the paper's {'/'.join(splits)}-set figures.")
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
    raise ValueError(fmt)


def render_md(board: Board) -> str:
    d = board.decimals
    out = [f"# {board.title}", ""]
    for sec in board.sections:
        out += [f"## {sec.title}", ""]
        if sec.intro:
            out += [sec.intro, ""]
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
    return s.replace("|", "\\|").replace("\n", " ")


def _md_text(s: str) -> str:
    return s.replace("\n", " ")


def render_csv(board: Board) -> str:
    """One tidy table: a line per cell, with the full-precision value beside the displayed text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "row", "column", "value", "display", "mark"])
    for sec in board.sections:
        for row in sec.rows:
            for (ckey, _), cell in zip(sec.columns, row.cells):
                value = "" if cell.kind == "text" or cell.value is None else repr(float(cell.value))
                if cell.kind == "int" and cell.value is not None:
                    value = str(int(cell.value))
                w.writerow([sec.key, row.key, ckey, value, cell.display(board.decimals, blank=""), cell.mark])
        for note in sec.notes:
            w.writerow([sec.key, "", "note", "", note, ""])
    for note in board.notes:
        w.writerow(["board", "", "note", "", note, ""])
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"\textsuperscript{\dag}",
        "–": "--", "−": "$-$", "§": r"\S{}"}


def tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def render_latex(board: Board) -> str:
    """Table environments to ``\\input``; they need ``booktabs`` and ``graphicx``."""
    d = board.decimals
    out = [f"% {board.title}: generated by xtreme-leaderboard.",
           "% Needs \\usepackage{booktabs} and \\usepackage{graphicx} in the preamble.", ""]
    for sec in board.sections:
        spec = "".join("l" if c.kind == "text" else "r" for c in _col_kinds(sec))
        out += ["\\begin{table*}[t]", "\\centering", "\\small",
                "\\resizebox{\\textwidth}{!}{%", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                " & ".join(tex(h) for _, h in sec.columns) + " \\\\", "\\midrule"]
        for row in sec.rows:
            cells = []
            for c in row.cells:
                s = tex(c.display(d))
                if c.mark == "*" and c.kind != "text":
                    s = s[:-1] + "$^{*}$"
                cells.append(s)
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}}"]
        if sec.notes:
            out.append("\\par\\smallskip{\\footnotesize " + " ".join(tex(n) for n in sec.notes) + "\\par}")
        caption = sec.title + (". " + sec.intro if sec.intro else "")
        out += [f"\\caption{{{tex(caption)}}}", f"\\label{{tab:xtreme-{sec.key.replace('.', '-')}}}",
                "\\end{table*}", ""]
    out += ["% " + n for n in board.notes]
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1400px;
padding:0 1rem;color:#1a1a1a;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .5rem;border-bottom:1px solid #eee;white-space:nowrap}
th{background:#f5f5f5;position:sticky;top:0;text-align:center}
td.num{text-align:right}td.text{text-align:left}
td.partial{color:#8a5a00}td.sig{font-weight:600}
tr:hover td{background:#fafafa}
ul.notes{font-size:.8rem;color:#444}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}
p.foot{font-size:.8rem;color:#555}
"""


def render_html(board: Board) -> str:
    d = board.decimals
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(board.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{esc(board.title)}</h1>"]
    for sec in board.sections:
        out.append(f'<section id="{esc(sec.key)}">')
        out.append(f"<h2>{esc(sec.title)}</h2>")
        if sec.intro:
            out.append(f"<p>{esc(sec.intro)}</p>")
        out.append('<div class="scroll"><table>')
        out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for _, h in sec.columns)
                   + "</tr></thead>")
        out.append("<tbody>")
        for row in sec.rows:
            tds = []
            for c in row.cells:
                cls = ["text" if c.kind == "text" else "num"]
                if c.mark == PARTIAL:
                    cls.append("partial")
                if c.mark == SIG:
                    cls.append("sig")
                style = ""
                if c.heat and c.value is not None:
                    hue = max(0.0, min(100.0, c.value)) * 1.2
                    style = f' style="background:hsl({hue:.0f},65%,88%)"'
                tds.append(f'<td class="{" ".join(cls)}"{style}>{esc(c.display(d))}</td>')
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table></div>")
        if sec.notes:
            out.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in sec.notes) + "</ul>")
        out.append("</section>")
    if board.plots:
        out.append('<section id="plots"><h2>Plots</h2>')
        for p in board.plots:
            data = base64.b64encode(p.png).decode("ascii")
            out.append(f'<figure><img alt="{esc(p.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{esc(p.caption)}</figcaption></figure>")
        out.append("</section>")
    out += [f'<p class="foot">{esc(n)}</p>' for n in board.notes]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
