"""Reading an intermediate (STILTs) task's sources into the family's examples.

A source is read from local files or a hub dataset as records
(:mod:`xtreme_harness.formats.records`); the task's family turns each record
into an example (``from_record``) and names the local format a file
extension means. Provenance (file size and sha256, or hub revision and
fingerprint) is kept beside the examples for the trainer's record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..families import family_of
from ..formats import hub
from ..formats.conll import read_conll
from ..formats.records import classlabel_names, get_path, records_local
from ..formats.squad import read_squad
from ..io.errors import UserError
from ..io.files import file_signature
from ..io.messages import show
from ..spec import SOURCE_FORMATS, Source, TaskSpec


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


@dataclass
class LoadedSplit:
    examples: list
    provenance: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


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
        records = records_local(local_path, fmt)
        if fmt == "tsv_pair" and not columns:
            columns = dict(family_of(spec).tsv_pair_columns)
        loaded = convert(spec, source, records, columns, None, split, limit, str(local_path))
        loaded.provenance = [prov]
        return loaded
    if mode == "local":
        return None
    ds = hub.load(source.hf["path"], source.hf.get("config"), source.hf["splits"][split], source.hf.get("revision"))
    columns = {**source.columns, **(source.hf.get("columns") or {})}
    names = {role: classlabel_names(ds, col) for role, col in columns.items() if isinstance(col, str)}
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
