"""Reading an intermediate (STILTs) task's sources into typed examples.

A source is read from local files (JSON lines, CSV/TSV with a header,
XTREME-style headerless TSV, CoNLL word/tag files, SQuAD JSON) or from the
Hugging Face hub through ``datasets.load_dataset``; column names are dotted
paths into a record (``question.choices.*.text``), so a new dataset usually
needs a YAML spec and no code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError, clip
from ..families import family_of
from ..spec import SOURCE_FORMATS, Source, TaskSpec
from .examples import Answer
from .io import check_regular, os_error, read_text
from .readers import read_conll, read_squad
from .submission import is_index, json_lines, load_json, parse_int, show


def file_signature(path: str | os.PathLike) -> dict[str, Any]:
    """Size and sha256 of a data file, for the provenance record next to the checkpoints."""
    p = Path(path)
    st = check_regular(p, "data file")  # a FIFO would block the hash forever
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise os_error(exc, p, "data file") from None
    return {"file": str(p.resolve()), "bytes": st.st_size, "sha256": h.hexdigest()}


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


def _local_format(spec: TaskSpec, local: dict, path: str) -> str:
    if local.get("format"):
        return local["format"]
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    fam = family_of(spec)
    if suffix == ".json":
        return fam.source_json
    if suffix in (".tsv", ".txt", ".conll", ".conllu"):
        return fam.source_text
    raise UserError(f"cannot tell the format of {path}; set 'format' in the spec's local block "
                    f"({', '.join(SOURCE_FORMATS)})", spec.source_file)


def _records_local(path: Path, fmt: str) -> list:
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


@dataclass
class LoadedSplit:
    examples: list
    provenance: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


def _hf_dataset(source: Source, split: str):
    hf = source.hf
    try:
        import datasets

        # datasets keys its cache of a local copy by path, not content: an edited copy would be read stale.
        fresh = {"download_mode": "force_redownload", "verification_mode": "no_checks"} \
            if Path(hf["path"]).expanduser().is_dir() else {}
        return datasets.load_dataset(hf["path"], hf.get("config"), split=hf["splits"][split],
                                     revision=hf.get("revision"), **fresh)
    except Exception as exc:  # noqa: BLE001 - offline, missing or gated datasets are the user's to fix
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UserError(f"cannot load {hf['path']}{'/' + hf['config'] if hf.get('config') else ''} split "
                        f"'{hf['splits'][split]}' from the hub ({type(exc).__name__}: {first})") from None


def _classlabel_names(ds, column: str | None):
    if not column or "." in column or column not in getattr(ds, "features", {}):
        return None
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return getattr(inner, "names", None)


def read_source(spec: TaskSpec, source: Source, split: str, data_dir: str | os.PathLike | None,
                mode: str = "auto", limit: int | None = None) -> LoadedSplit | None:
    """Examples of one source and split, or None when the source has no such split.

    ``mode``: 'local' (files only), 'hf' (hub only) or 'auto' (local files when
    they exist, else the hub).
    """
    local_path = None
    if source.local and source.local.get(split):
        p = Path(source.local[split]).expanduser()
        local_path = p if p.is_absolute() else Path(data_dir or ".") / p
    has_hf = bool(source.hf and split in source.hf["splits"])
    if local_path is None and not has_hf:
        return None
    use_local = mode == "local" or (mode == "auto" and local_path is not None and
                                    (os.path.lexists(local_path) or not has_hf))
    if use_local:
        if local_path is None:
            return None
        if not os.path.lexists(local_path):
            raise UserError(f"data file of intermediate task {spec.task} (source {source.name}, {split}) not found"
                            + ("" if not has_hf else "; without it the hub copy is used in --intermediate-source auto"),
                            local_path)
        fmt = _local_format(spec, source.local, str(local_path))
        columns = {**source.columns, **(source.local.get("columns") or {})}
        prov = {"source": source.name, "split": split, **file_signature(local_path)}
        if fmt == "squad_json":
            exs = read_squad(local_path, limit)
            return LoadedSplit(exs, [prov])
        if fmt == "conll":
            exs = read_conll(local_path, spec.labels, None, limit, lang=f"{source.name}-{split}")
            return LoadedSplit(exs, [prov])
        records = _records_local(local_path, fmt)
        if fmt == "tsv_pair" and not columns:
            columns = dict(family_of(spec).tsv_pair_columns)
        loaded = convert(spec, source, records, columns, None, split, limit, str(local_path))
        loaded.provenance = [prov]
        return loaded
    if mode == "local":
        return None
    ds = _hf_dataset(source, split)
    columns = {**source.columns, **(source.hf.get("columns") or {})}
    names = {role: _classlabel_names(ds, col) for role, col in columns.items() if isinstance(col, str)}
    records = ds if limit is None else ds.select(range(min(len(ds), limit * 2 + 16)))
    loaded = convert(spec, source, records, columns, names, split, limit, f"{source.hf['path']}:{split}")
    loaded.provenance = [{"source": source.name, "split": split, "hf": source.hf["path"],
                          "config": source.hf.get("config"), "hf_split": source.hf["splits"][split],
                          "revision": source.hf.get("revision"), "fingerprint": getattr(ds, "_fingerprint", None),
                          "rows": len(ds)}]
    return loaded


class Record:
    """One source record as a family reads it: its column roles, label mapping and where it came from."""

    def __init__(self, spec: TaskSpec, source: Source, rec: Any, index: int, columns: dict, names: dict, where: str):
        self.spec, self.source, self.rec, self.index = spec, source, rec, index
        self.columns, self.names, self.where = columns, names, where

    def col(self, role: str, default=None):
        path = self.columns.get(role)
        if path is None:
            return default
        try:
            if isinstance(path, list):
                return [get_path(self.rec, p) for p in path]
            return get_path(self.rec, str(path))
        except KeyError:
            raise UserError(f"{self.where}: record {self.index} has no field '{path}' (column '{role}' of source "
                            f"{self.source.name})", self.spec.source_file) from None

    def label(self, value, role: str, skip: bool = True) -> str | None:
        """A label in the task's names (through ``label_values`` and ClassLabel names); None: skip the record."""
        return _label(value, self.names.get(role), self.source, self.spec, self.where, skip)

    def fail(self, message: str):
        raise UserError(f"{self.where}: record {self.index} {message}", self.spec.source_file)


def convert(spec: TaskSpec, source: Source, records, columns: dict, names: dict | None, split: str,
            limit: int | None, where: str) -> LoadedSplit:
    """Records (dicts) to the family's examples by the spec's column roles; records it refuses are skipped."""
    fam = family_of(spec)
    fam.check_source_columns(spec, source, columns)
    out: list = []
    skipped = 0
    for i, rec in enumerate(records):
        if limit is not None and len(out) >= limit:
            break
        r = Record(spec, source, rec, i, columns, names or {}, where)
        ex = fam.from_record(spec, r, str(r.col("id", f"{source.name}-{split}-{i}")))
        if ex is None:
            skipped += 1
        else:
            out.append(ex)
    return LoadedSplit(out, [], skipped)


def flat_list(value) -> list:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        return value[0]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _label(value, classnames, source: Source, spec: TaskSpec, where: str, skip: bool = True) -> str | None:
    key = str(value).strip() if value is not None else ""
    if key in source.label_values:
        name = source.label_values[key]
    elif classnames is not None and type(value) is int and 0 <= value < len(classnames):
        name = classnames[value]
    elif skip and key in source.skip_labels:
        return None
    else:
        name = key
    if spec.labels is not None and name not in spec.labels:
        if skip and name in source.skip_labels:
            return None
        raise UserError(f"{where}: label {show(value)} of source {source.name} is not one of the task's labels "
                        f"({', '.join(spec.labels)}); map it in 'label_values'", spec.source_file)
    return name


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


def read_intermediate(spec: TaskSpec, split: str, data_dir=None, mode: str = "auto",
                      limit: int | None = None) -> LoadedSplit:
    """All sources of a task for one split, concatenated; an empty result when none has the split."""
    sources = [s for s in spec.sources if (s.local and s.local.get(split)) or (s.hf and split in s.hf["splits"])]
    per = None if limit is None else max(1, -(-limit // max(1, len(sources))))
    out = LoadedSplit([], [], 0)
    for s in sources:
        part = read_source(spec, s, split, data_dir, mode, per)
        if part is None:
            continue
        out.examples.extend(part.examples)
        out.provenance.extend(part.provenance)
        out.skipped += part.skipped
    if limit is not None:
        out.examples = out.examples[:limit]
    return out
