"""Task specs: the YAML schema, its validation, and the registry of spec folders.

A task is data, not a class. Everything a runner, reader, scorer or trainer
needs to know about a task lives in one YAML file; adding a task or a language
means adding or editing such a file (``--task-dir`` points at user folders).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .yamlfile import Locator as _Locator
from .yamlfile import load_yaml

FAMILIES = ("classification", "tagging", "qa", "retrieval")
READER_FORMATS = ("tsv_pair", "conll", "squad_json", "tatoeba", "bucc")
SUBMISSION_FORMATS = ("labels", "tags", "qa_json", "pairs", "indices")
SPLITS = ("train", "dev", "test")

# Which reader formats and submission formats make sense for each family.
FAMILY_FORMATS = {
    "classification": ({"tsv_pair"}, {"labels"}),
    "tagging": ({"conll"}, {"tags"}),
    "qa": ({"squad_json"}, {"qa_json"}),
    "retrieval": ({"tatoeba", "bucc"}, {"indices", "pairs"}),
}


@dataclass(frozen=True)
class SplitSpec:
    path: str  # template under the data dir, with {lang}
    gold: str | None = None  # labels file used when the data file lacks gold
    languages: tuple[str, ...] | None = None  # restrict (e.g. train is English only)


@dataclass(frozen=True)
class BenchmarkEntry:
    category: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class MetricSpec:
    official: str  # registry name of the metric the official scorer computes
    primary: tuple[str, ...]  # avg_metric = mean of avg_<key> over these keys
    secondary: tuple[str, ...] = ()  # extra figures reported beside, never instead


@dataclass(frozen=True)
class HFSpec:
    path: str
    config: str  # template with {lang} / {lang_name}
    splits: dict[str, str]
    columns: dict[str, str]
    lang_names: dict[str, str] = field(default_factory=dict)
    filter: dict[str, str] | None = None  # {"column": ..., "equals"|"prefix": template}


@dataclass(frozen=True)
class TaskSpec:
    task: str
    name: str
    description: str
    family: str
    format: str
    benchmarks: dict[str, BenchmarkEntry]
    splits: dict[str, SplitSpec]
    metrics: MetricSpec
    submission_ext: str
    submission_format: str
    labels: tuple[str, ...] | None = None
    hf: HFSpec | None = None
    train_source: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    source_file: str = ""

    def languages(self, version: str = "xtreme") -> tuple[str, ...]:
        """The task's languages in a benchmark version (empty if not part of it)."""
        entry = self.benchmarks.get(version)
        return entry.languages if entry else ()

    def all_languages(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for entry in self.benchmarks.values():
            for lang in entry.languages:
                seen.setdefault(lang, None)
        return tuple(seen)

    def category(self, version: str = "xtreme") -> str | None:
        entry = self.benchmarks.get(version)
        return entry.category if entry else None


# --- schema -------------------------------------------------------------------
# key: (python type(s), required). Nested mappings are validated by name below.
_TOP = {
    "task": (str, True),
    "name": (str, True),
    "description": (str, False),
    "family": (str, True),
    "format": (str, True),
    "benchmarks": (dict, True),
    "splits": (dict, True),
    "labels": (list, False),
    "metrics": (dict, True),
    "submission": (dict, True),
    "hf": (dict, False),
    "train_source": (dict, False),
    "features": (dict, False),
    "citation": (str, False),
}
_BENCH = {"category": (str, True), "languages": (list, True)}
_SPLIT = {"path": (str, True), "gold": (str, False), "languages": (list, False)}
_METRICS = {"official": (str, True), "primary": (list, True), "secondary": (list, False)}
_SUBMISSION = {"ext": (str, True), "format": (str, True)}
_HF = {
    "path": (str, True),
    "config": (str, True),
    "splits": (dict, True),
    "columns": (dict, True),
    "lang_names": (dict, False),
    "filter": (dict, False),
}
_TRAIN_SOURCE = {"task": (str, True), "split": (str, False), "path": (str, False), "note": (str, False)}
_FEATURES = {
    "max_length": (int, False),
    "doc_stride": (int, False),
    "max_query_length": (int, False),
    "n_best": (int, False),
    "max_answer_length": (int, False),
    "label_all_subtokens": (bool, False),
}
# A language code becomes part of file names (predictions/<task>/test-<lang>.tsv), so it must be a plain name.
_LANG_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_TYPE_NAMES = {str: "a string", dict: "a mapping", list: "a list", int: "an integer", bool: "true or false"}


def _check_mapping(data: Any, schema: dict, where: tuple, path: str, loc: _Locator) -> None:
    name = ".".join(str(k) for k in where) or "the document"
    if not isinstance(data, dict):
        raise UserError(f"{name} must be a mapping", path, loc.line(where))
    for key in data:
        if key not in schema:
            allowed = ", ".join(sorted(schema))
            raise UserError(f"unknown key '{'.'.join(map(str, where + (key,)))}' (allowed here: {allowed})",
                            path, loc.line(where + (key,)))
    for key, (typ, required) in schema.items():
        if key not in data:
            if required:
                raise UserError(f"missing required key '{'.'.join(map(str, where + (key,)))}'", path, loc.line(where))
            continue
        value = data[key]
        if typ is int and isinstance(value, bool) or not isinstance(value, typ):
            raise UserError(
                f"'{'.'.join(map(str, where + (key,)))}' must be {_TYPE_NAMES[typ]}, got {type(value).__name__}",
                path, loc.line(where + (key,)))


def _str_list(value: list, where: tuple, path: str, loc: _Locator) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise UserError(f"'{'.'.join(map(str, where))}[{i}]' must be a string", path, loc.line(where + (i,)))
        out.append(str(item))
    return tuple(out)


def _lang_list(value: list, where: tuple, path: str, loc: _Locator) -> tuple[str, ...]:
    langs = _str_list(value, where, path, loc)
    for i, lang in enumerate(langs):
        if not _LANG_CODE.match(lang):
            raise UserError(f"language code '{lang}' in '{'.'.join(map(str, where))}' must be a plain code "
                            "(letters, digits, '-' or '_'; e.g. de, zh, pt-br)", path, loc.line(where + (i,)))
    return langs


def _template(value: str, where: tuple, path: str, loc: _Locator, **fields) -> None:
    """A path or config template must format with the placeholders we fill in, and no others."""
    try:
        value.format(**{k: "x" for k in fields})
    except (KeyError, IndexError, ValueError) as exc:
        allowed = ", ".join("{" + k + "}" for k in fields)
        raise UserError(f"'{'.'.join(map(str, where))}' is not a valid template ({type(exc).__name__}: {exc}); "
                        f"expected only the placeholder(s) {allowed}", path, loc.line(where)) from None


def parse_spec(text: str, path: str = "<spec>") -> TaskSpec:
    """Validate one spec document and build a :class:`TaskSpec`."""
    from .metrics import METRICS  # local import: metrics never import spec

    data, loc = load_yaml(text, path)
    _check_mapping(data, _TOP, (), path, loc)

    task = data["task"]
    if not task or any(c in task for c in "/\\.") or task.startswith("-"):
        raise UserError(f"task id '{task}' must be a plain name (no '/', '\\' or '.')", path, loc.line(("task",)))

    family = data["family"]
    if family not in FAMILIES:
        raise UserError(f"unknown family '{family}' (expected one of: {', '.join(FAMILIES)})", path,
                        loc.line(("family",)))
    fmt = data["format"]
    if fmt not in FAMILY_FORMATS[family][0]:
        raise UserError(f"format '{fmt}' does not fit family '{family}' (expected one of: "
                        f"{', '.join(sorted(FAMILY_FORMATS[family][0]))})", path, loc.line(("format",)))

    benchmarks = {}
    for version, entry in data["benchmarks"].items():
        _check_mapping(entry, _BENCH, ("benchmarks", version), path, loc)
        langs = _lang_list(entry["languages"], ("benchmarks", version, "languages"), path, loc)
        benchmarks[str(version)] = BenchmarkEntry(entry["category"], langs)

    splits = {}
    for split, entry in data["splits"].items():
        if split not in SPLITS:
            raise UserError(f"unknown split '{split}' (expected one of: {', '.join(SPLITS)})", path,
                            loc.line(("splits", split)))
        _check_mapping(entry, _SPLIT, ("splits", split), path, loc)
        langs = entry.get("languages")
        for key in ("path", "gold"):
            if key in entry:
                _template(entry[key], ("splits", split, key), path, loc, lang=None)
        splits[split] = SplitSpec(
            path=entry["path"], gold=entry.get("gold"),
            languages=_lang_list(langs, ("splits", split, "languages"), path, loc) if langs is not None else None)

    m = data["metrics"]
    _check_mapping(m, _METRICS, ("metrics",), path, loc)
    for key in ("official",):
        if m[key] not in METRICS:
            raise UserError(f"unknown metric '{m[key]}' (known: {', '.join(sorted(METRICS))})", path,
                            loc.line(("metrics", key)))
    secondary = _str_list(m.get("secondary", []), ("metrics", "secondary"), path, loc)
    for i, name in enumerate(secondary):
        if name not in METRICS:
            raise UserError(f"unknown metric '{name}' (known: {', '.join(sorted(METRICS))})", path,
                            loc.line(("metrics", "secondary", i)))
    primary = _str_list(m["primary"], ("metrics", "primary"), path, loc)
    produced = METRICS[m["official"]].keys
    for i, key in enumerate(primary):
        if key not in produced:
            raise UserError(f"primary figure '{key}' is not produced by metric '{m['official']}' "
                            f"(it gives: {', '.join(produced)})", path, loc.line(("metrics", "primary", i)))
    if not primary:
        raise UserError("'metrics.primary' must name at least one figure", path, loc.line(("metrics", "primary")))

    sub = data["submission"]
    _check_mapping(sub, _SUBMISSION, ("submission",), path, loc)
    if sub["format"] not in FAMILY_FORMATS[family][1]:
        raise UserError(f"submission format '{sub['format']}' does not fit family '{family}' (expected one of: "
                        f"{', '.join(sorted(FAMILY_FORMATS[family][1]))})", path, loc.line(("submission", "format")))
    if sub["ext"] not in ("tsv", "json"):
        raise UserError(f"submission ext '{sub['ext']}' must be tsv or json", path, loc.line(("submission", "ext")))

    hf = None
    if "hf" in data:
        h = data["hf"]
        _check_mapping(h, _HF, ("hf",), path, loc)
        _template(h["config"], ("hf", "config"), path, loc, lang=None, lang_name=None)
        hf = HFSpec(path=h["path"], config=h["config"], splits={str(k): str(v) for k, v in h["splits"].items()},
                    columns={str(k): str(v) for k, v in h["columns"].items()},
                    lang_names={str(k): str(v) for k, v in (h.get("lang_names") or {}).items()},
                    filter=h.get("filter"))

    if "train_source" in data:
        _check_mapping(data["train_source"], _TRAIN_SOURCE, ("train_source",), path, loc)
    if "features" in data:
        _check_mapping(data["features"], _FEATURES, ("features",), path, loc)

    labels = None
    if "labels" in data:
        labels = _str_list(data["labels"], ("labels",), path, loc)
        if len(set(labels)) != len(labels):
            raise UserError("'labels' has duplicates", path, loc.line(("labels",)))
    if family in ("classification", "tagging") and not labels:
        raise UserError(f"a {family} task needs a 'labels' list", path, 1)

    return TaskSpec(
        task=task, name=data["name"], description=data.get("description", ""), family=family, format=fmt,
        benchmarks=benchmarks, splits=splits,
        metrics=MetricSpec(official=m["official"], primary=primary, secondary=secondary),
        submission_ext=sub["ext"], submission_format=sub["format"], labels=labels, hf=hf,
        train_source=dict(data.get("train_source") or {}), features=dict(data.get("features") or {}),
        citation=data.get("citation", ""), source_file=path)


def load_spec(path: str | os.PathLike) -> TaskSpec:
    from .data.io import read_text  # names the line of invalid UTF-8; drops a BOM and CRs

    path = os.fspath(path)
    return parse_spec(read_text(path, "spec file"), path)


def builtin_task_dir() -> Path:
    return Path(str(resources.files("xtreme_harness") / "tasks"))


@lru_cache(maxsize=16)
def _load_dir(directory: str) -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    d = Path(directory)
    if not d.is_dir():
        raise UserError("task spec folder not found", directory)
    for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
        if p.name.startswith("_"):
            continue
        spec = load_spec(p)
        if spec.task in specs:
            raise UserError(f"task '{spec.task}' is defined twice (also in {specs[spec.task].source_file})", str(p))
        specs[spec.task] = spec
    return specs


def registry(task_dirs: tuple[str, ...] | list[str] | None = None) -> dict[str, TaskSpec]:
    """All known tasks: the built-in specs, then user folders (which may override)."""
    specs = dict(_load_dir(str(builtin_task_dir())))
    for d in task_dirs or ():
        specs.update(_load_dir(str(Path(d).resolve())))
    return specs


def get_task(name: str, task_dirs=None) -> TaskSpec:
    specs = registry(tuple(task_dirs) if task_dirs else None)
    if name not in specs:
        raise UserError(f"unknown task '{name}' (known: {', '.join(sorted(specs))})")
    return specs[name]


@lru_cache(maxsize=1)
def benchmarks() -> dict[str, dict[str, Any]]:
    """Benchmark versions as the official ``evaluate.py`` defines them: tasks and categories."""
    with open(builtin_task_dir() / "_benchmarks.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def benchmark_tasks(version: str) -> list[str]:
    """Task ids of a benchmark version, in the official order."""
    return list(benchmark(version)["tasks"])


def benchmark_categories(version: str) -> dict[str, list[str]]:
    return {k: list(v) for k, v in benchmark(version)["categories"].items()}


def benchmark(version: str) -> dict[str, Any]:
    if version not in benchmarks():
        raise UserError(f"unknown benchmark version '{version}' (expected one of: {', '.join(benchmarks())})")
    return benchmarks()[version]


def resolve_tasks(arg: str, version: str = "xtreme", task_dirs=None) -> list[TaskSpec]:
    """Turn ``all`` or ``t1,t2`` into specs; ``all`` is the benchmark's tasks."""
    specs = registry(tuple(task_dirs) if task_dirs else None)
    if arg.strip() == "all":
        names = [t for t in benchmark_tasks(version) if t in specs]
    else:
        names = [t.strip() for t in arg.split(",") if t.strip()]
        if not names:
            raise UserError("--tasks is empty (expected 'all' or a comma-separated list of task ids)")
    out = []
    for n in names:
        if n not in specs:
            raise UserError(f"unknown task '{n}' (known: {', '.join(sorted(specs))})")
        out.append(specs[n])
    return out
