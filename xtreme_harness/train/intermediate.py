"""Intermediate (STILTs) task specs and the readers that turn their data into examples.

An intermediate task is data, like an XTREME task: one YAML file under
``train/tasks/`` (or a user folder) names its format, labels and one or more
sources. Each source can be read from local files (JSON lines, CSV/TSV with a
header, XTREME-style headerless TSV, CoNLL word/tag files, SQuAD JSON) or from
the Hugging Face hub through ``datasets.load_dataset``; column names are
dotted paths into a record (``question.choices.*.text``), so a new dataset
usually needs a YAML file and no code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..data.examples import Answer, PairExample, QAExample, TaggingExample
from ..data.io import read_text
from ..errors import UserError
from .yamlcheck import check_mapping, read_yaml_file, str_list

FORMATS = ("pair_classification", "span_qa", "multiple_choice", "tagging")
LOCAL_FORMATS = ("jsonl", "json", "csv", "tsv", "tsv_pair", "conll", "squad_json")
METRIC_NAMES = ("accuracy", "token_accuracy", "seqeval_f1", "squad_f1")
DEFAULT_METRIC = {"pair_classification": "accuracy", "multiple_choice": "accuracy", "tagging": "token_accuracy",
                  "span_qa": "squad_f1"}
DEFAULT_SKIP = ("-1", "-", "")

# Column roles each format reads (required, optional).
ROLES = {
    "pair_classification": ({"text_a", "text_b", "label"}, {"id"}),
    "span_qa": ({"context", "question"}, {"id", "title", "answers", "answer_text", "answer_start"}),
    "multiple_choice": ({"choices", "label"}, {"id", "context", "question", "choice_labels"}),
    "tagging": ({"tokens", "tags"}, {"id"}),
}


@dataclass
class ChoiceExample:
    """One multiple-choice item: a context and/or question with N candidate answers."""

    id: str
    context: str
    question: str
    choices: list[str]
    label: int | None = None


@dataclass(frozen=True)
class Source:
    name: str
    hf: dict[str, Any] | None
    local: dict[str, Any] | None
    columns: dict[str, Any]
    label_values: dict[str, str]
    skip_labels: tuple[str, ...]


@dataclass(frozen=True)
class IntermediateSpec:
    task: str
    name: str
    format: str
    sources: tuple[Source, ...]
    labels: tuple[str, ...] | None  # None: taken from the training data (e.g. CCG supertags)
    num_choices: int | None = None
    unanswerable: bool = False
    metric: str = "accuracy"
    max_length: int | None = None
    doc_stride: int = 128
    max_query_length: int = 64
    description: str = ""
    source_file: str = ""

    def splits(self) -> set[str]:
        out = set()
        for s in self.sources:
            for block in (s.hf and s.hf.get("splits"), s.local):
                out.update(k for k in (block or {}) if k in ("train", "dev"))
        return out


_TOP = {"task": (str, True), "name": (str, True), "description": (str, False), "format": (str, True),
        "labels": ((list, str), False), "num_choices": (int, False), "unanswerable": (bool, False),
        "metric": (str, False), "max_length": (int, False), "doc_stride": (int, False),
        "max_query_length": (int, False), "sources": (list, True), "citation": (str, False)}
_SOURCE = {"name": (str, True), "hf": (dict, False), "local": (dict, False), "columns": (dict, False),
           "label_values": (dict, False), "skip_labels": (list, False), "note": (str, False)}
_HF = {"path": (str, True), "config": (str, False), "revision": (str, False), "splits": (dict, True),
       "columns": (dict, False)}
_LOCAL = {"train": (str, False), "dev": (str, False), "format": (str, False), "columns": (dict, False)}


def parse_intermediate(data: Any, loc, path: str) -> IntermediateSpec:
    check_mapping(data, _TOP, (), path, loc)
    fmt = data["format"]
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}' (expected one of: {', '.join(FORMATS)})", path, loc.line(("format",)))
    task = data["task"]
    if not task or any(c in task for c in "/\\.,+ ") or task.startswith("-"):
        raise UserError(f"task id '{task}' must be a plain name (no '/', '.', ',', '+' or spaces)", path,
                        loc.line(("task",)))
    labels = data.get("labels")
    if labels == "from_data":
        labels = None
    elif labels is not None:
        if isinstance(labels, str):
            raise UserError("'labels' must be a list or 'from_data'", path, loc.line(("labels",)))
        labels = tuple(str_list(labels, ("labels",), path, loc))
        if len(set(labels)) != len(labels):
            raise UserError("'labels' has duplicates", path, loc.line(("labels",)))
    if fmt == "pair_classification" and not labels:
        raise UserError("a pair_classification task needs a 'labels' list", path, loc.line(("labels",)))
    if fmt == "multiple_choice" and not data.get("num_choices"):
        raise UserError("a multiple_choice task needs 'num_choices'", path, loc.line(("format",)))
    metric = data.get("metric") or DEFAULT_METRIC[fmt]
    if metric not in METRIC_NAMES:
        raise UserError(f"unknown metric '{metric}' (expected one of: {', '.join(METRIC_NAMES)})", path,
                        loc.line(("metric",)))
    sources = []
    required, optional = ROLES[fmt]
    for i, s in enumerate(data["sources"]):
        where = ("sources", i)
        check_mapping(s, _SOURCE, where, path, loc)
        if not s.get("hf") and not s.get("local"):
            raise UserError(f"source '{s['name']}' needs an 'hf' or a 'local' block", path, loc.line(where))
        hf = local = None
        if s.get("hf"):
            hf = dict(check_mapping(s["hf"], _HF, where + ("hf",), path, loc))
            _check_splits(hf["splits"], where + ("hf", "splits"), path, loc)
        if s.get("local"):
            local = dict(check_mapping(s["local"], _LOCAL, where + ("local",), path, loc))
            if local.get("format") and local["format"] not in LOCAL_FORMATS:
                raise UserError(f"unknown local format '{local['format']}' (expected one of: "
                                f"{', '.join(LOCAL_FORMATS)})", path, loc.line(where + ("local", "format")))
        for block, w in ((s.get("columns"), where + ("columns",)),
                         ((hf or {}).get("columns"), where + ("hf", "columns")),
                         ((local or {}).get("columns"), where + ("local", "columns"))):
            for role in block or {}:
                if role not in required | optional:
                    raise UserError(f"unknown column role '{role}' for format {fmt} (expected: "
                                    f"{', '.join(sorted(required | optional))})", path, loc.line(w + (role,)))
        skip = tuple(str_list(s["skip_labels"], where + ("skip_labels",), path, loc)) if s.get("skip_labels") \
            else DEFAULT_SKIP
        sources.append(Source(name=s["name"], hf=hf, local=local, columns=dict(s.get("columns") or {}),
                              label_values={str(k): str(v) for k, v in (s.get("label_values") or {}).items()},
                              skip_labels=skip))
    if not sources:
        raise UserError("'sources' is empty", path, loc.line(("sources",)))
    return IntermediateSpec(task=task, name=data["name"], format=fmt, sources=tuple(sources), labels=labels,
                            num_choices=data.get("num_choices"), unanswerable=bool(data.get("unanswerable")),
                            metric=metric, max_length=data.get("max_length"),
                            doc_stride=data.get("doc_stride") or 128,
                            max_query_length=data.get("max_query_length") or 64,
                            description=data.get("description", ""), source_file=path)


def _check_splits(splits: dict, where, path, loc) -> None:
    for k, v in splits.items():
        if k not in ("train", "dev"):
            raise UserError(f"unknown split '{k}' (expected train or dev)", path, loc.line(where + (k,)))
        if not isinstance(v, str):
            raise UserError(f"'{k}' must name a dataset split", path, loc.line(where + (k,)))


def load_intermediate(path: str | os.PathLike) -> IntermediateSpec:
    data, loc, _ = read_yaml_file(path, "intermediate task spec")
    return parse_intermediate(data, loc, os.fspath(path))


def builtin_dir() -> Path:
    return Path(str(resources.files("xtreme_harness") / "train" / "tasks"))


@lru_cache(maxsize=16)
def _load_dir(directory: str) -> dict[str, IntermediateSpec]:
    d = Path(directory)
    if not d.is_dir():
        raise UserError("intermediate task folder not found", directory)
    specs: dict[str, IntermediateSpec] = {}
    for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
        if p.name.startswith("_"):
            continue
        spec = load_intermediate(p)
        if spec.task in specs:
            raise UserError(f"intermediate task '{spec.task}' is defined twice (also in "
                            f"{specs[spec.task].source_file})", str(p))
        specs[spec.task] = spec
    return specs


def registry(task_dirs=None) -> dict[str, IntermediateSpec]:
    """Built-in intermediate tasks, then user folders (which may add or override)."""
    specs = dict(_load_dir(str(builtin_dir())))
    for d in task_dirs or ():
        specs.update(_load_dir(str(Path(d).resolve())))
    return specs


def get_intermediate(name: str, task_dirs=None) -> IntermediateSpec:
    specs = registry(tuple(task_dirs or ()))
    if name not in specs:
        raise UserError(f"unknown intermediate task '{name}' (known: {', '.join(sorted(specs))})")
    return specs[name]


# --- reading --------------------------------------------------------------------------

def file_signature(path: str | os.PathLike) -> dict[str, Any]:
    """Size and sha256 of a data file, for the provenance record next to the checkpoints."""
    p = Path(path)
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"file": str(p.resolve()), "bytes": p.stat().st_size, "sha256": h.hexdigest()}


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
        if isinstance(obj, (list, tuple)) and key.isdigit() and int(key) < len(obj):
            return walk(obj[int(key)], i + 1)
        raise KeyError(path)

    return walk(record, 0)


def _local_format(spec: IntermediateSpec, local: dict, path: str) -> str:
    if local.get("format"):
        return local["format"]
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "squad_json" if spec.format == "span_qa" else "json"
    if suffix in (".tsv", ".txt", ".conll", ".conllu"):
        return "conll" if spec.format == "tagging" else "tsv"
    raise UserError(f"cannot tell the format of {path}; set 'format' in the spec's local block "
                    f"({', '.join(LOCAL_FORMATS)})", spec.source_file)


def _records_local(path: Path, fmt: str) -> list:
    if fmt == "jsonl":
        out = []
        for i, line in enumerate(read_text(path, "data file").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UserError(f"malformed JSON line: {exc.msg}", path, i) from None
        return out
    if fmt == "json":
        from ..data.io import read_json

        data = read_json(path)
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
            raise UserError(f"malformed {fmt.upper()}: {exc}", path, reader.line_num) from None
        return rows
    if fmt == "tsv_pair":
        text = read_text(path, "data file")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        return [{str(i): v for i, v in enumerate(row)} for row in reader if row]
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


def read_source(spec: IntermediateSpec, source: Source, split: str, data_dir: str | os.PathLike | None,
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
                                    (local_path.is_file() or not has_hf))
    if use_local:
        if local_path is None:
            return None
        if not local_path.is_file():
            raise UserError(f"data file of intermediate task {spec.task} (source {source.name}, {split}) not found"
                            + ("" if not has_hf else "; without it the hub copy is used in --intermediate-source auto"),
                            local_path)
        fmt = _local_format(spec, source.local, str(local_path))
        columns = {**source.columns, **(source.local.get("columns") or {})}
        prov = {"source": source.name, "split": split, **file_signature(local_path)}
        if fmt == "squad_json":
            from ..data.readers import read_squad

            exs = read_squad(local_path, limit)
            return LoadedSplit(exs, [prov])
        if fmt == "conll":
            from ..data.readers import read_conll

            exs = read_conll(local_path, spec.labels, None, limit, lang=f"{source.name}-{split}")
            return LoadedSplit(exs, [prov])
        records = _records_local(local_path, fmt)
        if fmt == "tsv_pair" and not columns and spec.format == "pair_classification":
            columns = {"text_a": "0", "text_b": "1", "label": "2"}
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


def convert(spec: IntermediateSpec, source: Source, records, columns: dict, names: dict | None, split: str,
            limit: int | None, where: str) -> LoadedSplit:
    """Records (dicts) to typed examples by the spec's column roles."""
    required, _ = ROLES[spec.format]
    if spec.format == "span_qa" and not ({"answers"} & set(columns) or {"answer_text", "answer_start"} <= set(columns)):
        raise UserError(f"source {source.name} of {spec.task} needs an 'answers' column (or answer_text and "
                        "answer_start)", spec.source_file)
    missing = sorted(required - set(columns))
    if missing:
        raise UserError(f"source {source.name} of {spec.task} does not name column(s) {', '.join(missing)}",
                        spec.source_file)
    names = names or {}
    out: list = []
    skipped = 0

    def col(rec, role, default=None):
        path = columns.get(role)
        if path is None:
            return default
        try:
            if isinstance(path, list):
                return [get_path(rec, p) for p in path]
            return get_path(rec, str(path))
        except KeyError:
            raise UserError(f"{where}: record {i} has no field '{path}' (column '{role}' of source "
                            f"{source.name})", spec.source_file) from None

    for i, rec in enumerate(records):
        if limit is not None and len(out) >= limit:
            break
        ex_id = str(col(rec, "id", f"{source.name}-{split}-{i}"))
        if spec.format == "pair_classification":
            label = _label(col(rec, "label"), names.get("label"), source, spec, where)
            if label is None:
                skipped += 1
                continue
            out.append(PairExample(id=ex_id, text_a=str(col(rec, "text_a")), text_b=str(col(rec, "text_b")),
                                   label=label))
        elif spec.format == "tagging":
            tokens = [str(t) for t in col(rec, "tokens")]
            tags = [_label(t, names.get("tags"), source, spec, where, skip=False) for t in col(rec, "tags")]
            if len(tags) != len(tokens):
                raise UserError(f"{where}: record {i} has {len(tokens)} tokens but {len(tags)} tags",
                                spec.source_file)
            if tokens:
                out.append(TaggingExample(id=ex_id, tokens=tokens, tags=tags))
        elif spec.format == "multiple_choice":
            choices = [str(c) for c in _flat(col(rec, "choices"))]
            if spec.num_choices and len(choices) != spec.num_choices:
                skipped += 1
                continue
            label = _choice_label(col(rec, "label"), col(rec, "choice_labels"), len(choices), source)
            if label is None:
                skipped += 1
                continue
            out.append(ChoiceExample(id=ex_id, context=str(col(rec, "context", "") or ""),
                                     question=str(col(rec, "question", "") or ""), choices=choices, label=label))
        else:  # span_qa
            context = str(col(rec, "context"))
            answers = _answers(col(rec, "answers"), col(rec, "answer_text"), col(rec, "answer_start"))
            good = [a for a in answers if a.start >= 0 and context[a.start:a.start + len(a.text)] == a.text and a.text]
            if answers and not good:
                skipped += 1
                continue
            if not good and not spec.unanswerable:
                skipped += 1
                continue
            out.append(QAExample(id=ex_id, question=str(col(rec, "question")), context=context, answers=good,
                                 title=str(col(rec, "title", "") or "")))
    return LoadedSplit(out, [], skipped)


def _flat(value) -> list:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        return value[0]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _label(value, classnames, source: Source, spec: IntermediateSpec, where: str, skip: bool = True) -> str | None:
    key = str(value).strip() if value is not None else ""
    if key in source.label_values:
        name = source.label_values[key]
    elif classnames is not None and isinstance(value, int) and 0 <= value < len(classnames):
        name = classnames[value]
    elif skip and key in source.skip_labels:
        return None
    else:
        name = key
    if spec.labels is not None and name not in spec.labels:
        if skip and name in source.skip_labels:
            return None
        raise UserError(f"{where}: label '{value}' of source {source.name} is not one of the task's labels "
                        f"({', '.join(spec.labels)}); map it in 'label_values'", spec.source_file)
    return name


def _choice_label(value, choice_labels, n: int, source: Source) -> int | None:
    key = str(value).strip() if value is not None else ""
    if key in source.label_values:
        key = source.label_values[key]
    if choice_labels is not None:
        labels = [str(c).strip() for c in _flat(choice_labels)]
        if key in labels:
            return labels.index(key)
    if key.lstrip("-").isdigit() and 0 <= int(key) < n:
        return int(key)
    if key in source.skip_labels:
        return None
    return None


def _answers(answers, texts, starts) -> list[Answer]:
    out = []
    if answers is not None:
        if isinstance(answers, dict):
            texts, starts = answers.get("text") or [], answers.get("answer_start") or []
        elif isinstance(answers, list):
            for a in answers:
                if isinstance(a, dict) and "text" in a and "answer_start" in a:
                    out.append(Answer(text=str(a["text"]), start=int(a["answer_start"])))
            return out
    if texts is not None and starts is not None:
        if not isinstance(texts, list):
            texts, starts = [texts], [starts]
        for t, s in zip(texts, starts):
            out.append(Answer(text=str(t), start=int(s)))
    return out


def read_intermediate(spec: IntermediateSpec, split: str, data_dir=None, mode: str = "auto",
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
