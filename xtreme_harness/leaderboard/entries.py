"""Results files as leaderboard entries, checked against the official aggregation.

A leaderboard that trusts a figure it did not recompute can print a score that
``evaluate.py`` would never give. So every file is re-aggregated from its
per-language figures with :mod:`xtreme_harness.tasks.scoring`, and a file whose
averages or overall scores disagree with its own per-language figures is
refused rather than shown.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.errors import UserError, os_error
from ..io.jsonfile import Where
from ..io.messages import shown
from ..spec import TaskSpec, benchmark
from ..tasks.registry import registry
from ..tasks.results import check_results
from ..tasks.scoring import overall_scores, task_languages

PROTOCOLS = ("fine-tuned transfer", "zero-shot prompted")
_TOL = 1e-9


def close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL * max(1.0, abs(a), abs(b))


@dataclass
class TaskScore:
    """One task of one entry: the averages, the per-language figures, and whether it is complete."""

    task: str
    primary: tuple[str, ...]
    avgs: dict[str, float | None]  # avg of each primary figure over languages
    avg_metric: float | None
    per_lang: dict[str, dict[str, float]] = field(default_factory=dict)  # figure -> lang -> value
    complete: bool = True
    missing: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    split: str | None = None  # a run's ``tasks.<t>.split`` (None: not recorded)
    counts: dict[str, int] = field(default_factory=dict)  # a run's ``tasks.<t>.n``: examples scored per language

    def lang_score(self, lang: str) -> float | None:
        """Mean of the primary figures in one language: the quantity ``avg_metric`` averages."""
        vals = [self.per_lang.get(k, {}).get(lang) for k in self.primary]
        if not vals or any(v is None for v in vals):
            return None
        return sum(vals) / len(vals)


@dataclass
class Published:
    """Where a reference row was printed and how to read it: split, version read, second-hand, deltas.

    A published figure is only comparable with a run's when the splits agree and
    the figure is absolute, so these marks travel with every reference row.
    """

    row_id: str
    file_id: str
    path: str
    model: str
    short: str
    citation: str
    table: str
    split: str  # test | dev | unstated | n/a, read off the source's own split text
    split_text: str
    split_exceptions: dict[str, str] = field(default_factory=dict)  # task -> the source's text
    figures_are: str = "absolute"  # or "delta"
    delta_vs: str | None = None
    delta_figures: dict[str, dict[str, float]] = field(default_factory=dict)
    intermediate: str | None = None  # the intermediate task as printed (delta rows)
    mlm: bool | None = None
    transfer: str | None = None
    setting: str | None = None
    label_printed: str | None = None
    url: str | None = None
    url_read: str | None = None
    arxiv: str | None = None  # the paper's arXiv id, for its canonical page
    params: dict[str, Any] = field(default_factory=dict)  # parameter counts as printed
    version_read: str | None = None
    page: str | None = None
    caveat: str | None = None
    second_hand: str | None = None
    printed_avg: dict[str, float] = field(default_factory=dict)  # printed label -> value, never our score
    per_language_tables: dict[str, str] = field(default_factory=dict)
    per_language_printed_avg: dict[str, dict[str, float]] = field(default_factory=dict)
    printed_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> {our figure: label printed}
    notes: list[str] = field(default_factory=list)  # the row's own notes, as the source gives them
    file_notes: list[str] = field(default_factory=list)  # notes the source gives for every row of the file
    baseline: Entry | None = field(default=None, repr=False)  # the row delta_vs names (delta rows)

    def split_of(self, task: str) -> str:
        exc = self.split_exceptions.get(task)
        return split_kind(exc) if exc else self.split

    @property
    def canonical_url(self) -> str | None:
        """The paper's own page: its arXiv abstract page by id, else the source's ``url`` (e.g. ACL Anthology).
        Never ``url_read``, which may be a copy of the paper somewhere else."""
        if self.arxiv:
            return f"https://arxiv.org/abs/{self.arxiv}"
        return self.url

    @property
    def is_delta(self) -> bool:
        return self.figures_are == "delta"


SPLIT_KINDS = ("test", "dev", "unstated", "n/a")


def split_kind(text: str) -> str:
    """The split a source's split text names: its first word ("dev (no held-out test data)" is dev)."""
    word = text.strip().split()[0].rstrip(",;:").lower() if text and text.strip() else ""
    return word if word in SPLIT_KINDS else ""


@dataclass
class Training:
    """``results.json["model"]["training"]``: what the trainer did to make the checkpoint that was scored.

    Everything but ``seed`` says *what* was trained; two runs that differ only
    in their seed are repeats of one configuration.
    """

    seed: int
    intermediate: tuple[str, ...]
    mlm: dict[str, Any] | None
    base_model: str | None
    base_model_revision: str | None
    base_model_fingerprint: str | None
    parameters: int | None
    target: dict[str, Any]

    @property
    def base(self) -> tuple[str | None, str | None, str | None]:
        """The pretrained model's identity: its name, and its fingerprint and revision where recorded."""
        return (self.base_model, self.base_model_fingerprint, self.base_model_revision)

    @property
    def is_baseline(self) -> bool:
        return not self.intermediate and self.mlm is None

    def configuration(self) -> str:
        """What was trained, as canonical JSON: every field but the seed."""
        return json.dumps({"base": self.base, "intermediate": self.intermediate, "mlm": self.mlm,
                           "target": self.target}, sort_keys=True, default=str)

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "intermediate": list(self.intermediate), "mlm": self.mlm,
                "base_model": self.base_model, "base_model_revision": self.base_model_revision,
                "base_model_fingerprint": self.base_model_fingerprint, "parameters": self.parameters,
                "target": self.target}


@dataclass
class Entry:
    """A row of the leaderboard: a run (a results file) or a published reference."""

    name: str
    kind: str  # "run" or "reference"
    version: str
    tasks: dict[str, TaskScore]
    overall: dict[str, float]  # recomputed, only figures whose tasks are complete
    source: str = ""  # the results file, or the reference's citation
    overall_secondary: dict[str, float] = field(default_factory=dict)  # XTREME-R's all-task mean (see scoring)
    table: str = ""  # the reference's table
    reference_id: str = ""
    protocol: str | None = None
    intermediate: tuple[str, ...] | None = None  # None: unknown (no ``model.intermediate``)
    base_model: str | None = None
    model_path: str | None = None
    records_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    ref: Published | None = None  # reference rows only
    training: Training | None = None  # runs of checkpoints the trainer made
    parameters: int | None = None  # parameter count (training.parameters or model.parameters)
    identity: str = ""  # what was scored: entries of one identity from several passes merge into one row
    sources: list[str] = field(default_factory=list)  # every results file the row is made of
    records_by_task: dict[str, Path] = field(default_factory=dict)  # a merged row's records folder per task
    marked_partial: bool = False  # the file says "partial": true though its figures look complete
    model_info: dict[str, Any] = field(default_factory=dict)  # lm-eval model name and args, for the notes and JSON
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # results.json ``inputs``: task -> lang -> read

    @property
    def partial(self) -> bool:
        return "all_task" not in self.overall and "all_task" not in self.overall_secondary

    @property
    def score(self) -> float | None:
        """The headline score: the official all-task score, else (XTREME-R) the secondary mean of all tasks."""
        return self.overall.get("all_task", self.overall_secondary.get("all_task"))


def spec_for(task: str) -> TaskSpec | None:
    return registry().get(task)


def primary_of(task: str, score: dict[str, Any]) -> tuple[str, ...]:
    """The figures ``avg_metric`` averages. A task without a built-in spec (a ``--task-dir`` spec) has none
    on record here, so they are read off the file: the fewest figures whose averages give its ``avg_metric``
    (a spec's metric may report figures that are not primary), else every figure with an average."""
    spec = spec_for(task)
    if spec is not None:
        return spec.metrics.primary
    figs = tuple(k for k, v in score.items() if isinstance(v, dict) and k not in ("secondary", "n", "stats")
                 and _is_num(score.get(f"avg_{k}")))
    target = score.get("avg_metric")
    if _is_num(target) and 1 < len(figs) <= 8:
        for size in range(1, len(figs) + 1):
            for combo in itertools.combinations(figs, size):
                if close(sum(float(score[f"avg_{k}"]) for k in combo) / size, float(target)):
                    return combo
    return figs


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def resolve_results_path(path: str | os.PathLike) -> Path:
    """A results file, or a folder holding ``results.json`` (what ``xtreme-eval --output`` writes).

    Anything else (a missing path, a FIFO, a link loop) is returned as it is,
    for the reader to refuse with its own message.
    """
    p = Path(path)
    try:
        is_dir = stat.S_ISDIR(os.stat(p).st_mode)
    except (OSError, ValueError):
        return p
    if not is_dir:
        return p
    inner = p / "results.json"
    try:
        os.lstat(inner)
    except FileNotFoundError:
        raise UserError("folder has no results.json", str(p)) from None
    except OSError as exc:
        raise os_error(exc, inner, "results file") from None
    return inner


def results_key(path: str | os.PathLike) -> str:
    """The file a results argument names, for telling two arguments apart (never raises on link loops)."""
    return os.path.realpath(resolve_results_path(path))


# lm-eval names its results files results_<ISO time>.json (or <stem>_<ISO time>.json for --output_path X.json)
LMEVAL_FILE = re.compile(r"^results_\d{4}-\d\d-\d\dT[0-9.\-]+\.json$")


def expand_inputs(paths: list[str]) -> list[str]:
    """Results arguments as files: a folder with ``results.json`` is that file (an ``xtreme-eval`` output);
    any other folder is searched recursively for ``results.json`` files and lm-eval's ``results_<time>.json``
    files (an ``xtreme-eval`` sweep output has one sub-folder per run and seed). A folder where nothing is
    found is an error; files and anything else pass through, for the reader to accept or refuse."""
    out: list[str] = []
    for arg in paths:
        p = Path(arg)
        try:
            is_dir = stat.S_ISDIR(os.stat(p).st_mode)
        except (OSError, ValueError):
            is_dir = False
        if not is_dir or os.path.lexists(p / "results.json"):
            out.append(arg)
            continue
        found = _search(p)
        if not found:
            raise UserError("folder has no results.json (searched its sub-folders too) and no lm-eval "
                            "results_<time>.json file", str(p))
        out += [str(f) for f in found]
    return out


def _search(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, onerror=_walk_error, followlinks=False):
        dirs.sort()
        here = Path(folder)
        if "results.json" in files:
            found.append(here / "results.json")
            dirs[:] = []  # an xtreme-eval output folder: its records and predictions hold no other run
            continue
        found += [here / f for f in sorted(files) if LMEVAL_FILE.match(f)]
    return sorted(found)


def _walk_error(exc: OSError) -> None:
    raise os_error(exc, exc.filename or "", "results folder")


def load_results(path: str | os.PathLike, name: str | None = None) -> Entry:
    """Read, validate and re-aggregate one results file (``results.json``, an ``xtreme-score --json`` file or
    a results file lm-eval's ``--output_path`` wrote for the ``xtreme_*`` tasks)."""
    from ..io.files import read_text
    from ..io.jsonfile import JsonLocator, parse_json
    from .lmeval_results import is_lmeval, lmeval_document

    p = resolve_results_path(path)
    text = read_text(str(p), "results file")
    raw = parse_json(text, str(p), "results file")
    loc = JsonLocator(text)
    w = Where(str(p), loc)
    if is_lmeval(raw):
        doc, info = lmeval_document(raw, w)
        e = _entry(doc, str(p), w, name, None)
        e.model_info = info
        shots = ", ".join(f"{k}-shot" for k in info["n_shot"]) or "shots not recorded"
        version = f" (lm-eval {info['lm_eval_version']})" if info.get("lm_eval_version") else ""
        e.notes.insert(0, f"lm-eval results file{version}: model {info['model']}"
                          + (f", model_args {info['model_args']}" if info["model_args"] else "")
                          + f"; {shots}" + (" (English examples)" if any(info["n_shot"]) else ""))
        return e
    check_results(raw, str(p), loc)
    return _entry(raw, str(p), w, name, p.parent)


def entry_from_dict(raw: Any, path: str = "<results>", name: str | None = None,
                    base_dir: Path | None = None) -> Entry:
    """A results document already in memory, checked as :func:`load_results` checks a file."""
    w = Where(path)
    check_results(raw, path, w)
    return _entry(raw, path, w, name, base_dir)


def _entry(raw: dict, path: str, w: Where, name: str | None, base_dir: Path | None) -> Entry:
    version = raw.get("version") or "xtreme"
    try:
        benchmark(version)
    except UserError as exc:
        w.fail(exc.message, "version")
    coverage = raw.get("coverage") or {}

    tasks: dict[str, TaskScore] = {}
    notes: list[str] = []
    replaced: set[str] = set()
    for task, score in raw["tasks"].items():
        tasks[task] = _task_score(task, score, coverage.get(task), version, w)
        spec_file = (coverage.get(task) or {}).get("replaces_builtin")
        if spec_file:  # a user spec under a built-in id: shown, never counted in an overall score
            tasks[task].complete = False
            replaced.add(task)
            notes.append(f"{task}: evaluated with a task spec that replaces the built-in one ({spec_file}); "
                         "not the official task, so left out of every overall score")

    complete = {t for t, ts in tasks.items() if ts.complete and ts.avg_metric is not None}
    overall, overall_secondary = overall_scores({t: {"avg_metric": ts.avg_metric} for t, ts in tasks.items()
                                                 if ts.avg_metric is not None}, complete, version)
    for block, recomputed in (("overall", overall), ("overall_secondary", overall_secondary)):
        for key, value in (raw.get(block) or {}).items():
            if key not in recomputed:
                bench = benchmark(version)
                needed = bench["tasks"] if key == "all_task" else bench["categories"].get(key, [])
                lacking = [t for t in needed if t not in complete]
                why = (f"task(s) {', '.join(lacking)} are partial or missing" if set(lacking) - replaced
                       else f"task(s) {', '.join(lacking)} were evaluated with a replacement spec" if lacking
                       else "it is not a figure of this benchmark version")
                w.fail(f"{block}.{key} = {value} is reported but {why}; it cannot be recomputed", block, key)
            elif not close(float(value), recomputed[key]):
                w.fail(f"{block}.{key} = {value!r} but the task figures give {recomputed[key]!r} "
                       "(mean of avg_metric, as evaluate.py computes it)", block, key)
    forced_partial = raw.get("partial") is True and ("all_task" in overall or "all_task" in overall_secondary)
    if forced_partial:
        # The file knows what ran; a complete-looking set of figures does not overrule it.
        overall.pop("all_task", None)
        overall_secondary.pop("all_task", None)
        notes.append("its results file marks the run partial ('partial': true), so no overall score is shown")

    model = raw.get("model") or {}
    training = _training(model, w)
    parameters = _parameters(model, training, w)
    label = name or (training_name(training) if training is not None else None) or model.get("name") \
        or _default_name(path)
    protocol = model.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        w.fail(f"model.protocol '{protocol}' is not one of: {', '.join(PROTOCOLS)}", "model", "protocol")
    if protocol is not None and protocol != PROTOCOLS[0]:
        notes.append(f"protocol: {protocol}, not XTREME's {PROTOCOLS[0]}")
    inter = model.get("intermediate")  # null or absent: unknown; []: the no-intermediate baseline
    if isinstance(inter, str):
        inter = [inter] if inter else []
    if training is not None:
        if inter is not None and tuple(inter) != training.intermediate:
            w.fail(f"model.intermediate {shown(inter)} disagrees with model.training.intermediate "
                   f"{shown(list(training.intermediate))}; expected the same intermediate task(s)",
                   "model", "intermediate")
        inter = list(training.intermediate)
    records_dir = None
    if isinstance(raw.get("records"), str) and base_dir is not None:
        records_dir = Path(os.path.realpath(Path(base_dir) / raw["records"]))
    config = raw.get("config") or {}
    if config.get("limit"):
        notes.append(f"evaluated on at most {config['limit']} examples per language (--limit); "
                     "not comparable to full test-set figures")
    from ..options import unofficial_options

    notes += [f"not XTREME's protocol: {why}" for why in unofficial_options(config)]
    split = {ts.get("split") for ts in raw["tasks"].values() if ts.get("split")}
    if split - {"test"}:
        notes.append(f"split: {', '.join(sorted(split))}")
    # What was scored; a file that does not say (an xtreme-score --json file) has none and never merges.
    identity = json.dumps({"name": model.get("name"), "path": model.get("path"), "revision": model.get("revision"),
                           "protocol": protocol, "training": training.as_dict() if training else None,
                           "lm_eval": model.get("lm_eval"), "version": version}, sort_keys=True, default=str) \
        if model.get("name") or model.get("path") or training is not None else ""
    return Entry(name=str(label), kind="run", version=version, tasks=tasks, overall=overall, source=path,
                 overall_secondary=overall_secondary,
                 protocol=protocol, intermediate=tuple(inter) if inter is not None else None,
                 base_model=model.get("base_model") or (training.base_model if training else None),
                 model_path=model.get("path"), records_dir=records_dir,
                 notes=notes, training=training, parameters=parameters, identity=identity, sources=[path],
                 marked_partial=forced_partial,
                 inputs=raw.get("inputs") if isinstance(raw.get("inputs"), dict) else {})


def _training(model: dict, w: Where) -> Training | None:
    """``model.training``, checked: a wrong type is the user's mistake, named at its line."""
    t = model.get("training")
    if t is None:
        return None
    where = ("model", "training")
    if not isinstance(t, dict):
        w.fail(f"model.training is {shown(t)}; expected an object (seed, intermediate, mlm, base_model, "
               "parameters, target)", *where)
    seed = t.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        w.fail(f"model.training.seed is {shown(seed)}; expected an integer (the training seed)", *where, "seed")
    inter = t.get("intermediate")
    if not isinstance(inter, list) or not all(isinstance(x, str) and x.strip() for x in inter):
        w.fail(f"model.training.intermediate is {shown(inter)}; expected a list of intermediate task names "
               "([] for the baseline)", *where, "intermediate")
    if len(set(inter)) != len(inter):
        w.fail(f"model.training.intermediate {shown(inter)} names a task twice", *where, "intermediate")
    mlm = t.get("mlm")
    if mlm is not None:
        if not isinstance(mlm, dict):
            w.fail(f"model.training.mlm is {shown(mlm)}; expected null or an object {{data, weight}}",
                   *where, "mlm")
        data = mlm.get("data")
        if data is not None and not (isinstance(data, list) and all(isinstance(x, str) for x in data)):
            w.fail(f"model.training.mlm.data is {shown(data)}; expected a list of file names", *where, "mlm", "data")
        weight = mlm.get("weight")
        if weight is not None and not (_is_num(weight) and weight >= 0):
            w.fail(f"model.training.mlm.weight is {shown(weight)}; expected a number of 0 or more",
                   *where, "mlm", "weight")
    for key in ("base_model", "base_model_revision", "base_model_fingerprint"):
        v = t.get(key)
        if v is not None and not isinstance(v, str):
            w.fail(f"model.training.{key} is {shown(v)}; expected a string or null", *where, key)
    params = t.get("parameters")
    if params is not None and not _count_ok(params):
        w.fail(f"model.training.parameters is {shown(params)}; expected the parameter count, a positive integer",
               *where, "parameters")
    target = t.get("target")
    if target is None:
        target = {}
    if not isinstance(target, dict) or not all(isinstance(v, dict) for v in target.values()):
        w.fail(f"model.training.target is {shown(target)}; expected an object mapping each target task to its "
               "hyper-parameters", *where, "target")
    return Training(seed=seed, intermediate=tuple(inter), mlm=mlm, base_model=t.get("base_model"),
                    base_model_revision=t.get("base_model_revision"),
                    base_model_fingerprint=t.get("base_model_fingerprint"), parameters=params, target=target)


def _count_ok(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _parameters(model: dict, training: Training | None, w: Where) -> int | None:
    own = model.get("parameters")
    if own is not None and not _count_ok(own):
        w.fail(f"model.parameters is {shown(own)}; expected the parameter count, a positive integer",
               "model", "parameters")
    if own is not None and training is not None and training.parameters is not None and own != training.parameters:
        w.fail(f"model.parameters ({own}) disagrees with model.training.parameters ({training.parameters})",
               "model", "parameters")
    return own if own is not None else training.parameters if training is not None else None


def intermediate_label(names: tuple[str, ...] | list[str]) -> str:
    """An intermediate task's short printed name (ANLI+, QQP, SQuAD v1.1), else its id."""
    from ..tasks.registry import intermediate_registry

    try:
        specs = intermediate_registry()
    except UserError:
        specs = {}
    out = []
    for n in names:
        spec = specs.get(n)
        out.append(spec.name.split(" (")[0].strip() if spec is not None and spec.name else n)
    return "+".join(out)


def transfer_label(intermediate: tuple[str, ...], mlm: Any) -> str:
    """A transfer-table row named by what was trained: ``+ANLI+``, ``+ANLI+ +MLM``, ``+QQP+SQuAD v1.1``, ``+MLM``."""
    parts = []
    if intermediate:
        parts.append("+" + intermediate_label(intermediate))
    if mlm is not None:
        parts.append("+MLM")
    return " ".join(parts) if parts else "baseline (no intermediate task)"


def training_name(t: Training) -> str:
    """A summary row for a trainer's checkpoint: the base model, what was added, the seed."""
    what = transfer_label(t.intermediate, t.mlm)
    base = t.base_model or "model"
    return f"{base} {what if not t.is_baseline else '(no intermediate task)'}, seed {t.seed}"


def _default_name(path: str) -> str:
    p = Path(path)
    return p.parent.name if p.name == "results.json" and p.parent.name else p.stem


def _task_score(task: str, score: dict[str, Any], cov: Any, version: str, w: Where) -> TaskScore:
    """One task, its averages recomputed from its per-language figures (types and ranges are checked already)."""
    primary = primary_of(task, score)
    spec = spec_for(task)
    per_lang: dict[str, dict[str, float]] = {}
    for k in primary:
        figs = score.get(k)
        if figs is None:
            continue
        if not isinstance(figs, dict):
            w.fail(f"tasks.{task}.{k} must map language to a number", "tasks", task, k)
        per_lang[k] = {str(lang): float(v) for lang, v in figs.items()}
    avgs: dict[str, float | None] = {}
    for k in primary:
        v = score.get(f"avg_{k}")
        avgs[k] = float(v) if v is not None else None
    avg_metric = score.get("avg_metric")

    bench_langs = list(task_languages(spec, version)) if spec else []
    scored = list(dict.fromkeys(lang for figs in per_lang.values() for lang in figs))
    present_all = [lang for lang in scored if all(lang in per_lang.get(k, {}) for k in primary)]
    missing = [lang for lang in bench_langs if lang not in present_all]
    complete = bool(primary) and not missing and bool(per_lang)
    if isinstance(cov, dict):
        if cov.get("complete") is False:
            complete = False
        for lang in cov.get("missing") or []:
            if lang not in missing:
                missing.append(lang)

    # Re-aggregate as the official scorer does: complete tasks over the version's languages.
    over = bench_langs if complete and bench_langs else present_all
    for k in primary:
        figs = per_lang.get(k)
        if not figs or not over:
            continue
        recomputed = sum(figs[lang] for lang in over if lang in figs) / len([lang for lang in over if lang in figs])
        if avgs.get(k) is None:
            avgs[k] = recomputed
        elif not close(avgs[k], recomputed):
            w.fail(f"tasks.{task}.avg_{k} = {avgs[k]!r} but its per-language figures average to {recomputed!r}",
                   "tasks", task, f"avg_{k}")
    if primary and all(avgs.get(k) is not None for k in primary):
        recomputed_metric = sum(avgs[k] for k in primary) / len(primary)
        if avg_metric is None:
            avg_metric = recomputed_metric
        elif not close(float(avg_metric), recomputed_metric):
            w.fail(f"tasks.{task}.avg_metric = {avg_metric!r} but the mean of its primary averages "
                   f"({', '.join(primary)}) is {recomputed_metric!r}", "tasks", task, "avg_metric")
    split = score.get("split")
    return TaskScore(task=task, primary=primary, avgs=avgs,
                     avg_metric=float(avg_metric) if avg_metric is not None else None,
                     per_lang=per_lang, complete=complete, missing=missing, languages=present_all, split=split,
                     counts=dict(score.get("n") or {}))


def dedupe_names(entries: list[Entry]) -> None:
    """Give runs that share a name a distinguishing suffix, so no two rows look alike."""
    def dups() -> set[str]:
        names = [e.name for e in entries]
        return {n for n in names if names.count(n) > 1}

    clash = dups()
    for e in entries:
        if e.name in clash and e.kind == "run" and Path(e.source).parent.name:
            e.name = f"{e.name} ({Path(e.source).parent.name})"
    clash = dups()
    counter: dict[str, int] = {}
    for e in entries:
        if e.name in clash:
            counter[e.name] = counter.get(e.name, 0) + 1
            e.name = f"{e.name} #{counter[e.name]}"


def merge_passes(entries: list[Entry]) -> list[Entry]:
    """One row per model: runs of one identity (the same model, revision, protocol and training, seed included)
    scored in several passes (test for most tasks, dev for MLQA, in two output folders) become one entry, each
    task keeping its split (and its records folder). Passes that share a task stay separate rows, as before."""
    from ..tasks.scoring import overall_scores

    groups: dict[str, list[Entry]] = {}
    order: list[list[Entry]] = []
    for e in entries:
        if e.kind != "run" or not e.identity:
            order.append([e])
            continue
        if e.identity not in groups:
            groups[e.identity] = []
            order.append(groups[e.identity])
        groups[e.identity].append(e)
    out: list[Entry] = []
    for group in order:
        tasks = [t for e in group for t in e.tasks]
        if len(group) == 1 or len(tasks) != len(set(tasks)):
            out += group
            continue
        first = group[0]
        merged_tasks: dict[str, TaskScore] = {}
        records: dict[str, Path] = {}
        for e in group:
            for t, ts in e.tasks.items():
                merged_tasks[t] = ts
                if e.records_dir is not None:
                    records[t] = e.records_dir
        complete = {t for t, ts in merged_tasks.items() if ts.complete and ts.avg_metric is not None}
        overall, secondary = overall_scores({t: {"avg_metric": ts.avg_metric} for t, ts in merged_tasks.items()
                                             if ts.avg_metric is not None}, complete, first.version)
        if any(e.marked_partial for e in group):
            overall.pop("all_task", None)
            secondary.pop("all_task", None)
        notes: list[str] = []
        for e in group:
            notes += [n for n in e.notes if n not in notes and not n.startswith("split: ")]
        splits = {t: ts.split or "test" for t, ts in merged_tasks.items()}
        if set(splits.values()) - {"test"}:
            notes.append("split: " + ", ".join(f"{t} {s}" for t, s in splits.items() if s != "test")
                         + "; the other tasks on test")
        notes.append(f"one model scored in {len(group)} passes, merged into this row: "
                     + "; ".join(f"{e.source} ({', '.join(e.tasks)})" for e in group))
        out.append(Entry(name=first.name, kind="run", version=first.version, tasks=merged_tasks, overall=overall,
                         source=first.source, overall_secondary=secondary, protocol=first.protocol,
                         intermediate=first.intermediate, base_model=first.base_model, model_path=first.model_path,
                         records_dir=None, notes=notes, training=first.training,
                         parameters=first.parameters, identity=first.identity,
                         sources=[s for e in group for s in e.sources], records_by_task=records,
                         marked_partial=any(e.marked_partial for e in group), model_info=first.model_info,
                         inputs={t: v for e in group for t, v in e.inputs.items()}))
    return out


def board_tasks(version: str) -> list[str]:
    """Tasks in category order (the order papers print them), then any others of the version."""
    bench = benchmark(version)
    order: list[str] = []
    for tasks in bench["categories"].values():
        order += [t for t in tasks if t not in order]
    return order + [t for t in bench["tasks"] if t not in order]
