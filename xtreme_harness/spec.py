"""Task specs: one YAML schema for every task, its validation, and the registries of spec folders.

A task is data, not a class. An XTREME task (``tasks/*.yaml``) says where its
files are per split, its languages per benchmark version, its official metric
and submission format; an intermediate (STILTs) task (``tasks/intermediate/*.yaml``)
says where its training data comes from (``sources``). Both use the same words:
``family`` is the task type (the object in :mod:`xtreme_harness.families` that
runs it), ``format`` a data file format, ``features`` the featurisation
settings, ``metrics`` names from :data:`xtreme_harness.metrics.METRICS`.
Adding a task that fits a family is a YAML file (``--task-dir`` points at user
folders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Protocol


from .io.errors import UserError, clip
from .io.yamlfile import Locator, check_mapping, dotted, load_shipped, load_yaml, str_list
from .metrics import METRICS

SPLITS = ("train", "dev", "test")


class FamilyTraits(Protocol):
    """What validating a spec needs to know of its task family (:mod:`xtreme_harness.families` provides it)."""

    formats: tuple[str, ...]  # data formats its readers know (``format:``)
    submissions: tuple[str, ...]  # submission formats it writes (``submission.format``)
    needs_labels: bool  # a spec must give a label set
    labels_from_data: bool  # an intermediate spec may take its label set from its training data
    source_roles: tuple[frozenset, frozenset] | None  # (required, optional) column roles; None: no sources
    intermediate_features: tuple[str, ...]  # features an intermediate spec must set
    protocol_schema: tuple[dict, dict] | None  # the 'retrieval' block: (schema, allowed values); None: no block

    def default_metric(self, features: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class SplitSpec:
    path: str  # template under the data dir, with {lang}
    gold: str | None = None  # labels file used when the data file lacks gold
    languages: tuple[str, ...] | None = None  # restrict (e.g. train is English only)
    candidates: str | None = None  # a shared candidate file (Mewsli-X)


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
class Source:
    """Where an intermediate task's data comes from: the hub, local files, or both."""

    name: str
    hf: dict[str, Any] | None
    local: dict[str, Any] | None
    columns: dict[str, Any]
    label_values: dict[str, str]
    skip_labels: tuple[str, ...]


@dataclass(frozen=True)
class TaskSpec:
    task: str
    name: str
    description: str
    family: str
    metrics: MetricSpec
    format: str = ""  # the data file format of an XTREME task's splits
    benchmarks: dict[str, BenchmarkEntry] = field(default_factory=dict)
    splits: dict[str, SplitSpec] = field(default_factory=dict)
    submission_ext: str = ""
    submission_format: str = ""
    labels: tuple[str, ...] | None = None  # None with labels_from_data: read off the training data (CCG)
    labels_from_data: bool = False
    own_languages: tuple[str, ...] = ()  # the task's languages where no benchmark lists them (LAReQA)
    hf: HFSpec | None = None
    train_source: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    retrieval: dict[str, Any] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    citation: str = ""
    source_file: str = ""
    replaces_builtin: bool = False  # a user spec that knowingly takes a built-in task's id (marked in results)

    @property
    def intermediate(self) -> bool:
        """An intermediate (training-only) task: it has sources, not benchmark splits."""
        return bool(self.sources)

    def languages(self, version: str = "xtreme") -> tuple[str, ...]:
        """The task's languages in a benchmark version, exactly as ``evaluate.py`` lists them (may be empty)."""
        entry = self.benchmarks.get(version)
        return entry.languages if entry else ()

    def all_languages(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for lang in self.own_languages:
            seen.setdefault(lang, None)
        for entry in self.benchmarks.values():
            for lang in entry.languages:
                seen.setdefault(lang, None)
        return tuple(seen)

    def category(self, version: str = "xtreme") -> str | None:
        entry = self.benchmarks.get(version)
        return entry.category if entry else None


# --- schema -------------------------------------------------------------------
# key: (python type(s), required). Nested mappings are validated by name below.
_COMMON = {
    "task": (str, True),
    "name": (str, True),
    "description": (str, False),
    "family": (str, True),
    "labels": ((list, str), False),
    "metrics": (dict, False),
    "features": (dict, False),
    "citation": (str, False),
    "replaces_builtin": (bool, False),
}
_TARGET = {**_COMMON, "format": (str, True), "benchmarks": (dict, True), "splits": (dict, True),
           "submission": (dict, True), "languages": (list, False), "hf": (dict, False),
           "train_source": (dict, False), "retrieval": (dict, False), "metrics": (dict, True)}
_INTERMEDIATE = {**_COMMON, "sources": (list, True)}
_BENCH = {"category": (str, True), "languages": (list, True)}
_SPLIT = {"path": (str, True), "gold": (str, False), "languages": (list, False), "candidates": (str, False)}
_METRICS = {"official": (str, True), "primary": (list, False), "secondary": (list, False)}
_SUBMISSION = {"ext": (str, True), "format": (str, True)}
_HF = {"path": (str, True), "config": (str, True), "splits": (dict, True), "columns": (dict, True),
       "lang_names": (dict, False), "filter": (dict, False)}
# How the trainer gets a target's English training data (xtreme-train reads only this): the training run
# (``unit``; tasks naming one unit share one model), the file (a split of the spec, or a path under the data
# folder), the dev data it selects checkpoints on, the intermediate spec read when the file is absent, and the
# paper's hyper-parameters for the run.
_TRAIN_SOURCE = {"unit": (str, True), "split": (str, False), "path": (str, False), "dev_split": (str, False),
                 "dev_path": (str, False), "fallback": (str, False), "hyperparameters": (dict, False),
                 "note": (str, False)}
# Featurisation settings, shared by every family: (type, smallest allowed value).
FEATURES = {  # key: (type, lowest, highest)
    "max_length": (int, 8, 8192),
    "doc_stride": (int, 1, 8192),
    "max_query_length": (int, 1, 8192),
    "n_best": (int, 1, 1000),
    "max_answer_length": (int, 1, 8192),
    "label_all_subtokens": (bool, None, None),
    "num_choices": (int, 2, 100),
    "unanswerable": (bool, None, None),
    "k": (int, 1, 100_000),
}
_SOURCE = {"name": (str, True), "hf": (dict, False), "local": (dict, False), "columns": (dict, False),
           "label_values": (dict, False), "skip_labels": (list, False), "note": (str, False)}
_SOURCE_HF = {"path": (str, True), "config": (str, False), "revision": (str, False), "splits": (dict, True),
              "columns": (dict, False)}
_SOURCE_LOCAL = {"train": (str, False), "dev": (str, False), "format": (str, False), "columns": (dict, False)}
# Local file formats an intermediate source can be read from.
SOURCE_FORMATS = ("jsonl", "json", "csv", "tsv", "tsv_pair", "conll", "squad_json")
# Words of the earlier intermediate-spec vocabulary, for a message that says what they are now.
_RENAMED = {"format": "'family' (classification, tagging, qa, multiple_choice)",
            "metric": "'metrics: {official: NAME}'", "max_length": "'features: {max_length: N}'",
            "doc_stride": "'features: {doc_stride: N}'", "max_query_length": "'features: {max_query_length: N}'",
            "num_choices": "'features: {num_choices: N}'", "unanswerable": "'features: {unanswerable: true}'"}
# A language code becomes part of file names (predictions/<task>/test-<lang>.tsv), so it must be a plain name.
_LANG_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


MAX_LANGUAGES = 500  # XTREME-R has 50 languages, Tatoeba 112; a longer list is a mistake, and slow


def _lang_list(value: list, where: tuple, path: str, loc: Locator) -> tuple[str, ...]:
    if isinstance(value, list) and len(value) > MAX_LANGUAGES:
        raise UserError(f"'{dotted(where)}' lists {len(value)} languages; expected at most {MAX_LANGUAGES}", path,
                        loc.line(where))
    langs = tuple(str_list(value, where, path, loc, allow_csv=False))
    seen: set[str] = set()
    for i, lang in enumerate(langs):
        if not _LANG_CODE.match(lang):
            raise UserError(f"language code '{clip(lang)}' in '{dotted(where)}' must be a plain code "
                            "(letters, digits, '-' or '_'; e.g. de, zh, pt-br)", path, loc.line(where + (i,)))
        if lang in seen:
            raise UserError(f"language '{lang}' is listed twice in '{dotted(where)}'", path, loc.line(where + (i,)))
        seen.add(lang)
    return langs


def _template(value: str, where: tuple, path: str, loc: Locator, **fields) -> None:
    """A path or config template must format with the placeholders we fill in, and no others."""
    try:
        value.format(**{k: "x" for k in fields})
    except (KeyError, IndexError, ValueError) as exc:
        allowed = ", ".join("{" + k + "}" for k in fields)
        raise UserError(f"'{dotted(where)}' is not a valid template ({type(exc).__name__}: {exc}); "
                        f"expected only the placeholder(s) {allowed}", path, loc.line(where)) from None


def _one_of(value: str, allowed, what: str, where: tuple, path: str, loc: Locator) -> str:
    if value not in allowed:
        raise UserError(f"unknown {what} '{value}' (expected one of: {', '.join(allowed)})", path, loc.line(where))
    return value


def _features(data: Any, path: str, loc: Locator) -> dict[str, Any]:
    if data is None:
        return {}
    check_mapping(data, {k: (t, False) for k, (t, _, _) in FEATURES.items()}, ("features",), path, loc)
    for key, value in data.items():
        _, low, high = FEATURES[key]
        if low is not None and not low <= value <= high:
            raise UserError(f"'features.{key}' must be between {low} and {high}, got {value}", path,
                            loc.line(("features", key)))
    return dict(data)


def _metrics(data: Any, fam: "FamilyTraits", features: dict, path: str, loc: Locator) -> MetricSpec:
    if data is None:
        official = fam.default_metric(features)
        return MetricSpec(official, (METRICS[official].headline,))
    check_mapping(data, _METRICS, ("metrics",), path, loc)
    _one_of(data["official"], sorted(METRICS), "metric", ("metrics", "official"), path, loc)
    secondary = tuple(str_list(data.get("secondary", []), ("metrics", "secondary"), path, loc, allow_csv=False))
    for i, name in enumerate(secondary):
        _one_of(name, sorted(METRICS), "metric", ("metrics", "secondary", i), path, loc)
    primary = tuple(str_list(data.get("primary", [METRICS[data["official"]].headline]), ("metrics", "primary"),
                             path, loc, allow_csv=False))
    produced = METRICS[data["official"]].keys
    for i, key in enumerate(primary):
        if key not in produced:
            raise UserError(f"primary figure '{key}' is not produced by metric '{data['official']}' "
                            f"(it gives: {', '.join(produced)})", path, loc.line(("metrics", "primary", i)))
    if not primary:
        raise UserError("'metrics.primary' must name at least one figure", path, loc.line(("metrics", "primary")))
    return MetricSpec(data["official"], primary, secondary)


def _labels(data: dict, family: str, fam: "FamilyTraits", path: str, loc: Locator,
            intermediate: bool) -> tuple[tuple[str, ...] | None, bool]:
    """The label set, and whether it is read off the training data (an intermediate tagging task's choice)."""
    labels = data.get("labels")
    from_data_ok = intermediate and fam.labels_from_data
    if labels == "from_data" and from_data_ok:
        return None, True
    if isinstance(labels, str):
        raise UserError("'labels' must be a list" + (" or 'from_data'" if from_data_ok else ""), path,
                        loc.line(("labels",)))
    if labels is not None:
        labels = tuple(str_list(labels, ("labels",), path, loc, allow_csv=False))
        if len(set(labels)) != len(labels):
            raise UserError("'labels' has duplicates", path, loc.line(("labels",)))
    if not labels:
        if from_data_ok:
            return None, True
        if fam.needs_labels:
            raise UserError(f"a {family} task needs a 'labels' list", path, loc.line(("labels",)) or 1)
    return labels, False


def parse_spec(text: str, path: str, families: Mapping[str, "FamilyTraits"]) -> TaskSpec:
    """Validate one spec document (an XTREME task or an intermediate task) and build a :class:`TaskSpec`.

    ``families`` are the task families by name (the task registry passes them in: specs know what a family
    must declare, never a family itself)."""
    data, loc = load_yaml(text, path)
    if not isinstance(data, dict):
        raise UserError("the document must be a mapping", path, 1)
    intermediate = "sources" in data
    if intermediate:
        for key in data:
            if key in _RENAMED and key not in _INTERMEDIATE:
                raise UserError(f"'{key}' is no longer an intermediate-spec key; write {_RENAMED[key]}", path,
                                loc.line((key,)))
    check_mapping(data, _INTERMEDIATE if intermediate else _TARGET, (), path, loc)

    task = data["task"]
    bad = "/\\.,+ " if intermediate else "/\\."
    if not task or any(c in task for c in bad) or task.startswith("-"):
        raise UserError(f"task id '{task}' must be a plain name (no {', '.join(repr(c) for c in bad.strip())} or "
                        "spaces)", path, loc.line(("task",)))
    if data["family"] == "retrieval":  # the vocabulary of harness 0.2: one family then, three now
        raise UserError("family 'retrieval' is now three families: nearest_neighbour (was method: nearest), "
                        "bitext_mining (method: margin) and ranking (method: ranking); name one and drop 'method'",
                        path, loc.line(("family",)))
    family = _one_of(data["family"], [f for f, fam in families.items() if not intermediate or fam.source_roles],
                     "family", ("family",), path, loc)
    fam = families[family]
    features = _features(data.get("features"), path, loc)
    metrics = _metrics(data.get("metrics"), fam, features, path, loc)
    labels, from_data = _labels(data, family, fam, path, loc, intermediate)
    common = dict(task=task, name=data["name"], description=data.get("description", ""), family=family,
                  metrics=metrics, labels=labels, labels_from_data=from_data, features=features,
                  citation=data.get("citation", ""), source_file=path,
                  replaces_builtin=bool(data.get("replaces_builtin")))
    if intermediate:
        for key in fam.intermediate_features:
            if not features.get(key):
                raise UserError(f"a {family} task needs 'features: {{{key}: ...}}'", path, loc.line(("family",)))
        return TaskSpec(**common, sources=_sources(data["sources"], family, fam, path, loc))

    fmt = _one_of(data["format"], fam.formats, f"format for family '{family}'", ("format",), path, loc)
    benchmarks = {}
    for version, entry in data["benchmarks"].items():
        check_mapping(entry, _BENCH, ("benchmarks", version), path, loc)
        langs = _lang_list(entry["languages"], ("benchmarks", version, "languages"), path, loc)
        benchmarks[str(version)] = BenchmarkEntry(entry["category"], langs)
    own = _lang_list(data["languages"], ("languages",), path, loc) if "languages" in data else ()

    splits = {}
    for split, entry in data["splits"].items():
        _one_of(split, SPLITS, "split", ("splits", split), path, loc)
        check_mapping(entry, _SPLIT, ("splits", split), path, loc)
        for key in ("path", "gold"):
            if key in entry:
                _template(entry[key], ("splits", split, key), path, loc, lang=None)
        langs = entry.get("languages")
        splits[split] = SplitSpec(
            path=entry["path"], gold=entry.get("gold"), candidates=entry.get("candidates"),
            languages=_lang_list(langs, ("splits", split, "languages"), path, loc) if langs is not None else None)

    sub = data["submission"]
    check_mapping(sub, _SUBMISSION, ("submission",), path, loc)
    _one_of(sub["format"], fam.submissions, f"submission format for family '{family}'", ("submission", "format"),
            path, loc)
    _one_of(sub["ext"], ("tsv", "json", "jsonl"), "submission ext", ("submission", "ext"), path, loc)

    hf = None
    if "hf" in data:
        h = data["hf"]
        check_mapping(h, _HF, ("hf",), path, loc)
        _template(h["config"], ("hf", "config"), path, loc, lang=None, lang_name=None)
        hf = HFSpec(path=h["path"], config=h["config"], splits={str(k): str(v) for k, v in h["splits"].items()},
                    columns={str(k): str(v) for k, v in h["columns"].items()},
                    lang_names={str(k): str(v) for k, v in (h.get("lang_names") or {}).items()},
                    filter=h.get("filter"))
    if "train_source" in data:
        src = check_mapping(data["train_source"], _TRAIN_SOURCE, ("train_source",), path, loc)
        if ("split" in src) == ("path" in src):
            raise UserError("'train_source' needs one of 'split' (a split of this spec) or 'path' (a file under the "
                            "data folder)", path, loc.line(("train_source",)))
        for key in ("split", "dev_split"):
            if key in src and src[key] not in splits:
                raise UserError(f"'train_source.{key}' names split '{src[key]}', which this spec does not have "
                                f"(it has: {', '.join(splits)})", path, loc.line(("train_source", key)))
    retrieval = dict(data.get("retrieval") or {})
    if fam.protocol_schema is not None:
        schema, values = fam.protocol_schema
        if not retrieval and any(req for _, req in schema.values()):
            required = ", ".join(f"{k}: {'|'.join(v)}" for k, v in values.items() if schema[k][1])
            raise UserError(f"a {family} task needs a 'retrieval' block ({required})", path, loc.line(("family",)))
        check_mapping(retrieval, schema, ("retrieval",), path, loc)
        for key, allowed in values.items():
            if key in retrieval:
                _one_of(retrieval[key], allowed, f"retrieval {key}", ("retrieval", key), path, loc)
    elif retrieval:
        raise UserError("'retrieval' applies to retrieval tasks only", path, loc.line(("retrieval",)))

    return TaskSpec(**common, format=fmt, benchmarks=benchmarks, splits=splits, submission_ext=sub["ext"],
                    submission_format=sub["format"], own_languages=own, hf=hf,
                    train_source=dict(data.get("train_source") or {}), retrieval=retrieval)


def _sources(items: list, family: str, fam: "FamilyTraits", path: str, loc: Locator) -> tuple[Source, ...]:
    sources = []
    required, optional = fam.source_roles
    for i, s in enumerate(items):
        where = ("sources", i)
        check_mapping(s, _SOURCE, where, path, loc)
        if not s.get("hf") and not s.get("local"):
            raise UserError(f"source '{s['name']}' needs an 'hf' or a 'local' block", path, loc.line(where))
        hf = local = None
        if s.get("hf"):
            hf = dict(check_mapping(s["hf"], _SOURCE_HF, where + ("hf",), path, loc))
            for k, v in hf["splits"].items():
                _one_of(k, ("train", "dev"), "split", where + ("hf", "splits", k), path, loc)
                if not isinstance(v, str):
                    raise UserError(f"'{k}' must name a dataset split", path, loc.line(where + ("hf", "splits", k)))
        if s.get("local"):
            local = dict(check_mapping(s["local"], _SOURCE_LOCAL, where + ("local",), path, loc))
            if local.get("format"):
                _one_of(local["format"], SOURCE_FORMATS, "local format", where + ("local", "format"), path, loc)
        for block, w in ((s.get("columns"), where + ("columns",)),
                         ((hf or {}).get("columns"), where + ("hf", "columns")),
                         ((local or {}).get("columns"), where + ("local", "columns"))):
            for role in block or {}:
                if role not in required | optional:
                    raise UserError(f"unknown column role '{role}' for family {family} (expected: "
                                    f"{', '.join(sorted(required | optional))})", path, loc.line(w + (role,)))
        skip = tuple(str_list(s["skip_labels"], where + ("skip_labels",), path, loc)) if s.get("skip_labels") \
            else ("-1", "-", "")
        sources.append(Source(name=s["name"], hf=hf, local=local, columns=dict(s.get("columns") or {}),
                              label_values={str(k): str(v) for k, v in (s.get("label_values") or {}).items()},
                              skip_labels=skip))
    if not sources:
        raise UserError("'sources' is empty", path, loc.line(("sources",)))
    return tuple(sources)


def builtin_task_dir() -> Path:
    return Path(str(resources.files("xtreme_harness") / "tasks"))


@lru_cache(maxsize=1)
def benchmarks() -> dict[str, dict[str, Any]]:
    """Benchmark versions as the official ``evaluate.py`` defines them: tasks and categories."""
    return load_shipped(builtin_task_dir() / "_benchmarks.yaml")


def benchmark_tasks(version: str) -> list[str]:
    """Task ids of a benchmark version, in the official order."""
    return list(benchmark(version)["tasks"])


def benchmark_categories(version: str) -> dict[str, list[str]]:
    return {k: list(v) for k, v in benchmark(version)["categories"].items()}


def benchmark(version: str) -> dict[str, Any]:
    if version not in benchmarks():
        raise UserError(f"unknown benchmark version '{version}' (expected one of: {', '.join(benchmarks())})")
    return benchmarks()[version]


