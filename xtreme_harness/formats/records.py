"""Records of an intermediate task's source, whatever file or dataset holds them: dotted column paths, labels.

A source is read from local files (JSON lines, JSON, CSV/TSV with a header,
XTREME-style headerless TSV) or a hub dataset, as a list of records (dicts);
column roles are dotted paths into a record (``question.choices.*.text``), so
a new dataset usually needs a YAML spec and no code. Turning a record into an
example is the task family's part.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.errors import UserError, clip
from ..io.files import read_text
from ..io.jsonfile import is_index, json_lines, load_json, parse_int
from .examples import Answer

if TYPE_CHECKING:
    from ..spec import Source


def get_path(record: Any, path: str) -> Any:
    """Follow a dotted path; ``*`` maps the rest of the path over a list."""
    parts = path.split(".") if path else []

    def walk(obj, i):
        if i == len(parts):
            return obj
        key = parts[i]
        if key == "*":
            if not isinstance(obj, list):
                raise KeyError(path)
            return [walk(o, i + 1) for o in obj]
        if isinstance(obj, dict):
            if key not in obj:
                raise KeyError(path)
            return walk(obj[key], i + 1)
        if isinstance(obj, (list, tuple)) and is_index(key) and int(key) < len(obj):
            return walk(obj[int(key)], i + 1)
        raise KeyError(path)

    return walk(record, 0)


def records_local(path: Path, fmt: str) -> list:
    if fmt == "jsonl":
        return [rec for _, rec in json_lines(path, "data file", "one JSON object (a record) per line")]
    if fmt == "json":
        data, _ = load_json(path, "data file")
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise UserError("expected a JSON list of records (or an object with a 'data' list)", path, 1)
        return data
    if fmt in ("csv", "tsv"):
        text = read_text(path, "data file")
        if fmt == "csv":
            reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
        else:
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
        except csv.Error as exc:
            raise UserError(f"malformed {fmt.upper()}: {clip(str(exc), 200)}", path, reader.line_num) from None
        return rows
    if fmt == "tsv_pair":
        text = read_text(path, "data file")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        try:
            return [{str(i): v for i, v in enumerate(row)} for row in reader if row]
        except csv.Error as exc:
            raise UserError(f"malformed TSV: {clip(str(exc), 200)}", path, reader.line_num) from None
    raise ValueError(fmt)


def classlabel_names(ds, column: str | None):
    if not column or "." in column or column not in getattr(ds, "features", {}):
        return None
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return getattr(inner, "names", None)


def flat_list(value) -> list:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        return value[0]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def choice_index(value, choice_labels, n: int, source: Source) -> int | None:
    key = str(value).strip() if value is not None else ""
    if key in source.label_values:
        key = source.label_values[key]
    if choice_labels is not None:
        labels = [str(c).strip() for c in flat_list(choice_labels)]
        if key in labels:
            return labels.index(key)
    if is_index(key) and int(key) < n:  # ASCII digits only: int() would also take '²' or '０'
        return int(key)
    if key in source.skip_labels:
        return None
    return None


def answer_list(answers, texts, starts) -> list[Answer]:
    """Answers from a record; an offset that is not an integer (``"１５"``, ``15.0``) becomes -1, which the
    family's offset check then refuses."""
    def answer(text, start) -> Answer:
        start = parse_int(start)
        return Answer(text=text if isinstance(text, str) else str(text), start=-1 if start is None else start)

    out = []
    if answers is not None:
        if isinstance(answers, dict):
            texts, starts = answers.get("text") or [], answers.get("answer_start") or []
        elif isinstance(answers, list):
            for a in answers:
                if isinstance(a, dict) and "text" in a and "answer_start" in a:
                    out.append(answer(a["text"], a["answer_start"]))
            return out
    if texts is not None and starts is not None:
        if not isinstance(texts, list):
            texts, starts = [texts], [starts]
        if not isinstance(starts, list):
            starts = [starts]
        for t, s in zip(texts, starts):
            out.append(answer(t, s))
    return out
