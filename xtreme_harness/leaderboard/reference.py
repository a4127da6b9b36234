"""Published reference rows: data files with their source, never figures typed into code.

Each file (``reference/*.yaml`` in the package, mirrored in the repository's
``leaderboard/`` folder) holds rows exactly as a paper or public table printed
them, with the source read (paper, version, table, page, url), each row's split,
and whether its figures are absolute or differences from another row. A figure
the source does not print is absent and shows blank. A row gets an XTREME score
only when every task figure is printed, and that score is recomputed with the
official aggregation, never taken from the printed Avg column.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ..io.errors import UserError
from ..io.files import read_text
from ..io.jsonfile import JsonLocator, parse_json
from ..io.yamlfile import Locator, check_mapping, load_yaml
from ..spec import benchmark
from ..tasks.registry import registry
from ..tasks.scoring import overall_scores
from .entries import PROTOCOLS, Entry, Published, TaskScore, split_kind

SCHEMA = "xtreme-harness/reference/v2"
SCHEMA_V1 = "xtreme-harness/reference/v1"  # still read: task averages only, one split per file
TRANSFERS = ("zero-shot", "translate-train", "translate-test", "in-language", "human", "unstated")
FIGURES_ARE = ("absolute", "delta")
# The printed average columns, by the key that holds them, and how the board labels them.
PRINTED_AVG = {"average": "Avg", "average_delta": "Avg", "average_over_tasks_printed": "Avg_task",
               "average_over_categories_printed": "Avg (over categories)"}
_NUM = (int, float)

_FILE_KEYS = {"schema": (str, True), "id": (str, False), "version": (str, False), "source": (dict, True),
              "figure_aliases": (dict, False), "figure_aliases_note": (str, False), "notes": (list, False),
              "rows": (list, True)}
_SOURCE_KEYS = {"short": (str, False), "citation": (str, True), "url": (str, False), "paper": (dict, False),
                "table": (str, True), "page": (str, False), "url_read": (str, False),
                "source_document": (dict, False), "caveat": (str, False), "second_hand": (str, False)}
_ROW_KEYS = {"id": (str, True), "model": (str, True), "table_row_label": (str, False), "setting": (str, False),
             "transfer": (str, False), "protocol": (str, False), "base_model": (str, False),
             "split": (str, True), "split_exceptions": (dict, False), "figures_are": (str, False),
             "delta_vs": (str, False), "intermediate": (dict, False), "params": (dict, False),
             "figures": (dict, False), "delta_figures": (dict, False), "per_language": (dict, False),
             "per_language_tables": (dict, False), "per_language_table_avg_column": (dict, False),
             "table": (str, False), "notes": (list, False), **{k: (_NUM, False) for k in PRINTED_AVG}}


def reference_dir() -> Path:
    return Path(str(resources.files("xtreme_harness.leaderboard") / "reference"))


def available() -> dict[str, Path]:
    """Shipped reference sets by id (the file name without its extension)."""
    d = reference_dir()
    files = sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")) + sorted(d.glob("*.json")) if d.is_dir() else []
    # The XTREME paper's baselines first: every other set is read against them.
    return {p.stem: p for p in sorted(files, key=lambda p: (p.stem != "xtreme-paper", p.stem))}


# --- selecting rows -------------------------------------------------------------------

def is_default(e: Entry) -> bool:
    """A row ``--reference all`` shows: first-hand, absolute, zero-shot transfer, test split for every task."""
    p = e.ref
    return (p is not None and not p.is_delta and p.transfer == "zero-shot" and p.split == "test"
            and not p.split_exceptions and not p.second_hand)


def shipped() -> list[Entry]:
    """Every row of every shipped file; a row id names one row across all of them."""
    out: list[Entry] = []
    seen: dict[str, str] = {}
    for path in available().values():
        for e in load_reference(path):
            if e.ref.row_id in seen:
                raise UserError(f"row id '{e.ref.row_id}' is also in {seen[e.ref.row_id]}", str(path))
            seen[e.ref.row_id] = str(path)
            out.append(e)
    return out


def _matches(rows: list[Entry], item: str) -> list[Entry]:
    """Rows a name selects: a row id, else a model name or board name (case-insensitive)."""
    by_id = [e for e in rows if e.ref.row_id == item]
    if by_id:
        return by_id
    low = item.casefold()
    return [e for e in rows if e.ref.model.casefold() == low or e.name.casefold() == low]


def _unknown(item: str, rows: list[Entry], known: dict[str, Path], compare: bool = False) -> UserError:
    names = list(known) + [e.ref.row_id for e in rows] + sorted({e.ref.model for e in rows})
    close = difflib.get_close_matches(item, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if compare:
        return UserError(f"--compare: '{item}' is neither a results file nor a reference row (a row id or a model "
                         f"name, e.g. mBERT){hint}")
    return UserError(f"unknown reference '{item}': not a shipped file ({', '.join(known) or 'none'}), a row id, "
                     f"a model name (e.g. mBERT), all, none or a path to a reference file{hint}")


def resolve(arg: str | None) -> list[Entry]:
    """``all`` (the default rows), ``none``, or a comma list of file ids, row ids, model names and files."""
    text = (arg or "").strip()
    if text == "none":
        return []
    rows = shipped()
    if text in ("", "all"):
        return [e for e in rows if is_default(e)]
    known = available()
    out: list[Entry] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if item == "none":
            raise UserError("--reference: 'none' cannot be combined with other names")
        if item == "all":
            out += [e for e in rows if is_default(e)]
        elif item in known:
            out += [e for e in rows if e.reference_id == item and e.ref.path == str(known[item])]
        elif os.path.exists(item) or item.endswith((".yaml", ".yml", ".json")):
            out += load_reference(item)
        else:
            found = _matches(rows, item)
            if not found:
                raise _unknown(item, rows, known)
            out += found
    unique: dict[tuple[str, str], Entry] = {}
    for e in out:
        unique.setdefault((os.path.realpath(e.ref.path), e.ref.row_id), e)
    return list(unique.values())


def find_row(item: str) -> Entry:
    """The one reference row ``--compare`` names (a row id or model name); a default row wins a tie."""
    rows, known = shipped(), available()
    if item in known:
        first = next((e.ref.row_id for e in rows if e.reference_id == item), "")
        raise UserError(f"--compare: '{item}' is a reference file; name one of its rows (e.g. {first})")
    found = _matches(rows, item)
    if len(found) > 1:
        preferred = [e for e in found if is_default(e)]
        if len(preferred) == 1:
            return preferred[0]
        raise UserError(f"--compare: '{item}' names {len(found)} reference rows "
                        f"({', '.join(e.ref.row_id for e in found)}); give one row id")
    if not found:
        raise _unknown(item, rows, known, compare=True)
    return found[0]


# --- reading files --------------------------------------------------------------------

_PARSED: dict[tuple[str, int, int], tuple[Any, Locator | None]] = {}


def _read(path: str) -> tuple[Any, Locator | None]:
    """Parse once per file version: boards resolve the shipped files several times."""
    st = os.stat(path) if os.path.isfile(path) else None
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size) if st else None
    if key is not None and key in _PARSED:
        return _PARSED[key]
    if path.endswith(".json"):
        text = read_text(path, "reference file")
        parsed: tuple[Any, Locator | None] = (parse_json(text, path, "reference file"), JsonLocator(text))
    else:
        parsed = load_yaml(read_text(path, "reference file"), path)
    if key is not None:
        _PARSED[key] = parsed
    return parsed


def load_reference(path: str | os.PathLike) -> list[Entry]:
    path = os.fspath(path)
    data, loc = _read(path)
    return parse_reference(data, path, loc)


class _Where:
    """Raises a UserError at the line of a key path, so a wrong figure is found at once."""

    def __init__(self, path: str, loc: Locator | None):
        self.path, self.loc = path, loc

    def fail(self, msg: str, *keys) -> None:
        raise UserError(msg, self.path, self.loc.line(tuple(keys)) if self.loc is not None and keys else None)


class _NoLines(Locator):
    def __init__(self):
        super().__init__("")

    def line(self, keys: tuple) -> int | None:
        return None


def parse_reference(data: Any, path: str = "<reference>", loc: Locator | None = None) -> list[Entry]:
    w = _Where(path, loc)
    if isinstance(data, dict) and data.get("schema") == SCHEMA_V1:
        data = _from_v1(data, path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        w.fail(f"not a reference file: expected a mapping with schema: {SCHEMA} (or {SCHEMA_V1})")
    lines = loc or _NoLines()
    check_mapping(data, _FILE_KEYS, (), path, lines)
    source = check_mapping(data["source"], _SOURCE_KEYS, ("source",), path, lines)
    version = str(data.get("version") or "xtreme")
    try:
        bench = benchmark(version)
    except UserError as exc:
        raise UserError(exc.message, path) from None
    ref_id = str(data.get("id") or Path(path).stem)
    aliases = _aliases(data.get("figure_aliases") or {}, bench, w)
    rows = data["rows"]
    if not rows:
        w.fail("'rows' must be a non-empty list", "rows")
    by_id: dict[str, int] = {}
    for i, row in enumerate(rows):
        check_mapping(row, _ROW_KEYS, ("rows", i), path, lines)
        if row["id"] in by_id:
            w.fail(f"rows[{i}].id '{row['id']}' repeats rows[{by_id[row['id']]}]", "rows", i, "id")
        by_id[row["id"]] = i
    entries: dict[str, Entry] = {}
    for i, row in enumerate(rows):
        entries[row["id"]] = _row_entry(row, i, source, ref_id, version, bench, aliases, data, path, w, rows, by_id)
    for e in entries.values():
        if e.ref.is_delta:
            e.ref.baseline = entries[e.ref.delta_vs]
    return list(entries.values())


def _aliases(raw: dict, bench: dict, w: _Where) -> dict[str, dict[str, str]]:
    """Per-language figures a table prints under another label: {task: {printed: our figure}}."""
    specs = registry()
    out: dict[str, dict[str, str]] = {}
    for task, m in raw.items():
        if task not in bench["tasks"] or not isinstance(m, dict):
            w.fail(f"figure_aliases.{task}: not a task of this version, or not a mapping", "figure_aliases", task)
        for printed, ours in m.items():
            if ours not in specs[task].metrics.primary:
                w.fail(f"figure_aliases.{task}.{printed}: '{ours}' is not a primary figure of {task}",
                       "figure_aliases", task, printed)
        out[task] = dict(m)
    return out


def _row_entry(row: dict, i: int, source: dict, ref_id: str, version: str, bench: dict,
               aliases: dict[str, dict[str, str]], data: dict, path: str, w: _Where, rows: list,
               by_id: dict[str, int]) -> Entry:
    where = ("rows", i)
    specs = registry()
    split = split_kind(row["split"])
    if not split:
        w.fail(f"rows[{i}].split '{row['split']}' must start with one of: test, dev, unstated, n/a", *where, "split")
    exceptions = row.get("split_exceptions") or {}
    for task, text in exceptions.items():
        if task not in bench["tasks"] or not isinstance(text, str) or split_kind(text) not in ("test", "dev"):
            w.fail(f"rows[{i}].split_exceptions.{task} must be a task of {version} mapped to a text starting "
                   "with test or dev", *where, "split_exceptions", task)
    for key, allowed in (("transfer", TRANSFERS), ("protocol", PROTOCOLS), ("figures_are", FIGURES_ARE)):
        if row.get(key) is not None and row[key] not in allowed:
            w.fail(f"rows[{i}].{key} '{row[key]}' is not one of: {', '.join(allowed)}", *where, key)
    figures_are = row.get("figures_are") or "absolute"
    if figures_are == "delta":
        target = row.get("delta_vs")
        if not row.get("delta_figures") or row.get("figures"):
            w.fail(f"rows[{i}]: a delta row gives delta_figures and no figures", *where)
        if target not in by_id or rows[by_id[target]].get("figures_are", "absolute") != "absolute":
            w.fail(f"rows[{i}].delta_vs '{target}' must be the id of an absolute row of this file", *where, "delta_vs")
    elif row.get("delta_figures") or row.get("delta_vs"):
        w.fail(f"rows[{i}]: delta_figures and delta_vs need figures_are: delta", *where)
    inter = row.get("intermediate") or {}
    if inter and (not isinstance(inter.get("task"), str) or not isinstance(inter.get("mlm", False), bool)
                  or set(inter) - {"task", "mlm"}):
        w.fail(f"rows[{i}].intermediate must be {{task: name, mlm: true|false}}", *where, "intermediate")

    def figures(block: str, low: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for task, figs in (row.get(block) or {}).items():
            if task not in specs or task not in bench["tasks"]:
                w.fail(f"rows[{i}].{block}: '{task}' is not a task of {version}", *where, block, task)
            if not isinstance(figs, dict):
                w.fail(f"rows[{i}].{block}.{task} must map figure names to numbers", *where, block, task)
            primary = specs[task].metrics.primary
            for k, v in figs.items():
                if k not in primary:
                    w.fail(f"rows[{i}].{block}.{task}: '{k}' is not a primary figure of {task} "
                           f"({', '.join(primary)})", *where, block, task, k)
                if v is not None and (not isinstance(v, _NUM) or isinstance(v, bool) or not low <= v <= 100):
                    w.fail(f"rows[{i}].{block}.{task}.{k} must be a number from {low:g} to 100 (or absent)",
                           *where, block, task, k)
            out[task] = {k: float(v) for k, v in figs.items() if v is not None}
        return out

    absolute = figures("figures", 0)
    deltas = figures("delta_figures", -100)
    for k in PRINTED_AVG:
        v = row.get(k)
        if v is not None and not (-100 <= v <= 100):  # NaN fails too
            w.fail(f"rows[{i}].{k} is {v}; expected the printed figure, a number from -100 to 100", *where, k)
    for task, figs in (row.get("per_language_table_avg_column") or {}).items():
        if not isinstance(figs, dict):
            w.fail(f"rows[{i}].per_language_table_avg_column.{task} must map figure names to percentages",
                   *where, "per_language_table_avg_column", task)
        for k, v in figs.items():
            if not isinstance(v, _NUM) or isinstance(v, bool) or not 0 <= v <= 100:
                w.fail(f"rows[{i}].per_language_table_avg_column.{task}.{k} must be a percentage (0-100)",
                       *where, "per_language_table_avg_column", task, k)
    per_lang, printed_labels = _per_language(row, i, bench, version, aliases, w)
    tasks: dict[str, TaskScore] = {}
    pub = Published(
        row_id=row["id"], file_id=ref_id, path=path, model=row["model"],
        short=str(source.get("short") or ref_id), citation=" ".join(str(source["citation"]).split()),
        table=" ".join(str(row.get("table") or source["table"]).split()), split=split, split_text=row["split"],
        split_exceptions=dict(exceptions), figures_are=figures_are, delta_vs=row.get("delta_vs"),
        delta_figures=deltas, intermediate=inter.get("task"), mlm=inter.get("mlm") if inter else None,
        transfer=row.get("transfer"), setting=row.get("setting"), label_printed=row.get("table_row_label"),
        url=source.get("url"), url_read=source.get("url_read"),
        arxiv=str((source.get("paper") or {}).get("arxiv") or "").strip() or None,
        params={str(k): v for k, v in (row.get("params") or {}).items()},
        version_read=(source.get("paper") or {}).get("version_read"), page=source.get("page"),
        caveat=source.get("caveat"), second_hand=source.get("second_hand"),
        printed_avg={label: float(row[k]) for k, label in PRINTED_AVG.items() if row.get(k) is not None},
        per_language_tables=dict(row.get("per_language_tables") or {}),
        per_language_printed_avg={t: {aliases.get(t, {}).get(k, k): float(v) for k, v in figs.items()}
                                  for t, figs in (row.get("per_language_table_avg_column") or {}).items()},
        printed_labels=printed_labels,
        notes=[str(n) for n in (row.get("notes") or [])], file_notes=[str(n) for n in (data.get("notes") or [])])
    for task in list(absolute) + [t for t in per_lang if t not in absolute]:
        primary = specs[task].metrics.primary
        figs = absolute.get(task, {})
        avgs = {k: figs.get(k) for k in primary}
        known = [v for v in avgs.values() if v is not None]
        avg_metric = sum(known) / len(primary) if len(known) == len(primary) else None
        langs = list(dict.fromkeys(lang for by_lang in per_lang.get(task, {}).values() for lang in by_lang))
        tasks[task] = TaskScore(task=task, primary=primary, avgs=avgs, avg_metric=avg_metric,
                                per_lang=per_lang.get(task, {}), complete=avg_metric is not None,
                                languages=langs, split=pub.split_of(task))
    complete = {t for t, ts in tasks.items() if ts.avg_metric is not None}
    overall, secondary = overall_scores({t: {"avg_metric": tasks[t].avg_metric} for t in complete}, complete,
                                        version)
    return Entry(name=_board_name(pub), kind="reference", version=version, tasks=tasks, overall=overall,
                 overall_secondary=secondary, source=pub.citation, table=pub.table, reference_id=ref_id,
                 protocol=row.get("protocol"), intermediate=None, base_model=row.get("base_model"), ref=pub)


def _per_language(row: dict, i: int, bench: dict, version: str, aliases: dict[str, dict[str, str]],
                  w: _Where) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, str]]]:
    """{task: {our figure: {lang: value}}}, and which figures were printed under another label."""
    specs = registry()
    out: dict[str, dict[str, dict[str, float]]] = {}
    labels: dict[str, dict[str, str]] = {}
    for task, figs in (row.get("per_language") or {}).items():
        where = ("rows", i, "per_language", task)
        if task not in bench["tasks"] or not isinstance(figs, dict):
            w.fail(f"rows[{i}].per_language.{task}: not a task of {version}, or not a mapping", *where)
        primary = specs[task].metrics.primary
        langs = set(specs[task].languages(version) or specs[task].all_languages())
        for printed, by_lang in figs.items():
            ours = aliases.get(task, {}).get(printed, printed)
            if ours not in primary:
                w.fail(f"rows[{i}].per_language.{task}: '{printed}' is not a primary figure of {task} "
                       f"({', '.join(primary)}) nor one figure_aliases maps to it", *where, printed)
            if not isinstance(by_lang, dict):
                w.fail(f"rows[{i}].per_language.{task}.{printed} must map language to a number", *where, printed)
            for lang, v in by_lang.items():
                if str(lang) not in langs:
                    w.fail(f"rows[{i}].per_language.{task}.{printed}: '{lang}' is not a {task} language of "
                           f"{version}", *where, printed, lang)
                if not isinstance(v, _NUM) or isinstance(v, bool) or not 0 <= v <= 100:
                    w.fail(f"rows[{i}].per_language.{task}.{printed}.{lang} must be a percentage (0-100)",
                           *where, printed, lang)
            out.setdefault(task, {})[ours] = {str(lang): float(v) for lang, v in by_lang.items()}
            if ours != printed:
                labels.setdefault(task, {})[ours] = printed
    return out, labels


_SPLIT_TAG = {"dev": "dev", "unstated": "split unstated", "n/a": "split n/a"}


def _board_name(p: Published) -> str:
    """Model and source, with what sets the row apart from a first-hand test-set row."""
    tags = []
    if p.second_hand:
        tags.append("second-hand")
    if p.split in _SPLIT_TAG:
        tags.append(_SPLIT_TAG[p.split])
    kinds = sorted({p.split_of(t) for t in p.split_exceptions} - {p.split})
    if kinds:
        tags.append("partly " + "/".join(kinds))
    if p.is_delta:
        tags.append("deltas")
    return f"{p.model} ({p.short}{'; ' + ', '.join(tags) if tags else ''})"


def _from_v1(data: dict, path: str) -> dict:
    """A v1 file (task averages, one split for the file, nulls for blanks) read as v2."""
    source = dict(data.get("source") or {}) if isinstance(data.get("source"), dict) else {}
    split = str(source.pop("split", None) or "unstated")
    note = source.pop("note", None)
    ref_id = str(data.get("id") or Path(path).stem)
    rows = []
    for i, row in enumerate(data.get("rows") or []):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not isinstance(row.get("tasks"), dict):
            raise UserError(f"rows[{i}] needs a 'name' and a 'tasks' mapping", path)
        rows.append({"id": f"{ref_id}-{i + 1}", "model": row["name"], "split": split,
                     "protocol": row.get("protocol"), "base_model": row.get("base_model"),
                     "figures": {t: ({k: v for k, v in figs.items() if v is not None} if isinstance(figs, dict)
                                     else figs) for t, figs in row["tasks"].items()}})
    return {"schema": SCHEMA, "id": ref_id, "version": data.get("version"), "source": source,
            "notes": [note] if note else [], "rows": rows}
