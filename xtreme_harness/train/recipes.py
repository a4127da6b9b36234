"""Recipes: one YAML file that captures a whole STILTs run, validated line by line.

A recipe names the pretrained encoder, the English intermediate task(s) (none
for the baseline), the XTREME targets and every hyper-parameter; the effective
recipe (file + command-line overrides) is saved next to the checkpoints with
the package version, the data files' sizes and sha256 and the git commit, so a
result can always be traced back to exactly what produced it.

Example::

    base_model: xlm-roberta-large
    output: runs/anli-plus        # default for --out
    seed: 42                      # or seeds: [1, 2, 3]: one suite per seed, OUT/seed-<n>/
    precision: auto               # auto (bf16 on GPUs that have it) | bf16 | fp16 | no
    data_dir: download            # XTREME layout: English train/dev files of the targets
    intermediate:
      tasks: [anli_plus]          # omit or [] for the baseline
      data_dir: stilts-data       # local files named in the intermediate specs (else the hub)
      source: auto                # auto | local | hf
      sampling: proportional      # proportional | temperature | uniform (several tasks)
      temperature: 2.0
      mlm: {files: [cc100.de.txt, cc100.zh.txt], weight: 0.1, max_length: 128}
      hyperparameters: {lr: 1.0e-5, epochs: 2, batch_size: 32}
    targets: all                  # or [xnli, panx, ...]
    hyperparameters: {warmup_ratio: 0.1}       # every target phase
    target_hyperparameters: {panx: {epochs: 10}}
    train_files: {xnli: mnli/train-en.tsv}     # English only
    dev_files: {}
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..io.errors import UserError, clip
from ..io.options import _fmt, declared, number_problem, problem
from ..io.yamlfile import (
    Locator,
    check_mapping,
    dotted,
    load_yaml,
    read_yaml_file,
    str_list,
)
from .loop import Hyper
from .sampling import SAMPLING

# The order targets train and are listed in: the XTREME paper's (Table 1); which tasks are trainable, and how,
# is read off their specs.
_ORDER = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "xcopa")


def _trainable() -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """(train_source by task, unit by task, hyper-parameter defaults by unit), read off the task specs'
    ``train_source`` blocks: the one place that says how a target is trained. Tasks naming one unit (XQuAD and
    MLQA: SQuAD v1.1) share one model, so their blocks must agree."""
    from ..tasks.registry import registry

    specs = registry()
    order = [t for t in _ORDER if t in specs] + sorted(t for t in specs if t not in _ORDER)
    sources = {t: specs[t].train_source for t in order if t in specs and specs[t].train_source}
    units, defaults = {}, {}
    for task, src in sources.items():
        unit = src["unit"]
        first = next((t for t, u in units.items() if u == unit), None)
        if first is not None and {k: v for k, v in sources[first].items() if k != "note"} != \
                {k: v for k, v in src.items() if k != "note"}:
            raise UserError(f"tasks {first} and {task} share the training unit '{unit}' but their train_source "
                            "blocks differ", specs[task].source_file)
        units[task] = unit
        defaults[unit] = dict(src.get("hyperparameters") or {})
    return sources, units, defaults


TRAIN_SOURCES, UNIT_OF, _TARGET_DEFAULTS = _trainable()
TARGETS = tuple(TRAIN_SOURCES)  # the trainable tasks
XTREME_TARGETS = tuple(t for t in TARGETS if t in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"))
INTERMEDIATE_DEFAULTS = {"lr": 1e-5, "epochs": 2, "batch_size": 32}



_HYPER_OPTS = {name: opt for name, (_, opt) in declared(Hyper).items()}
HYPER_SCHEMA = {name: (opt.kind, False) for name, opt in _HYPER_OPTS.items()}


def target_defaults(unit: str) -> dict[str, Any]:
    return {"lr": 1e-5, **_TARGET_DEFAULTS[unit]}


# --- one check for every number of a recipe ------------------------------------------------------





def hyper_problem(name: str, value: Any) -> str | None:
    """What is wrong with one hyper-parameter value (None: fine or not set), by its one declaration."""
    if value is None:
        return None
    opt = _HYPER_OPTS.get(name)
    if opt is None:
        return f"unknown hyper-parameter '{name}' (known: {', '.join(sorted(HYPER_SCHEMA))})"
    if name == "epochs":  # 0 is allowed, with max_steps (checked on the whole layer)
        found = number_problem(value, float, 0, False, None, opt.high)
        return found.replace("must be at least 0", "must be positive") if found else None
    return problem(opt, value)


def _combination_problem(values: dict[str, Any]) -> tuple[str, str] | None:
    """(key, problem) of settings that are fine alone but not together."""
    epochs, steps = values.get("epochs"), values.get("max_steps")
    if epochs is not None and epochs <= 0 and not steps:
        return "epochs", f"epochs must be positive (0 only with max_steps), got {_fmt(epochs)}"
    batch, per = values.get("batch_size"), values.get("per_device_batch_size")
    if batch is not None and per is not None and batch % per:
        return "per_device_batch_size", (f"batch_size {batch} is not a multiple of per_device_batch_size {per} "
                                         "(the rest of the batch is gradient accumulation)")
    return None


def make_hyper(*layers: dict | None) -> Hyper:
    """Later layers override earlier ones; None values do not override. Every value is checked."""
    values: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            if v is not None:
                values[k] = v
    unknown = sorted(set(values) - set(HYPER_SCHEMA))
    if unknown:
        raise UserError(f"unknown hyper-parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(HYPER_SCHEMA))})")
    for k, v in values.items():
        problem = hyper_problem(k, v)
        if problem:
            raise UserError(f"{k} {problem}")
    for k, (typ, _) in HYPER_SCHEMA.items():
        if k in values and typ is float:
            values[k] = float(values[k])
    h = Hyper(**values)
    check_hyper(h)
    return h


def check_hyper(h: Hyper) -> None:
    """Every value of the right type, finite and in the range its field declares; epochs may be 0 only
    with max_steps; the per-device batch divides the batch."""
    values = dataclasses.asdict(h)
    for name, value in values.items():
        problem = hyper_problem(name, value)
        if problem:
            raise UserError(f"{name} {problem}")
    bad = _combination_problem(values)
    if bad:
        raise UserError(bad[1])


# Recipe settings outside the hyper-parameters: (kind, low, above, below, high), their YAML key and flag.
RECIPE_NUMBERS = {
    "seed": ((int, 0, False, None, 2**32 - 1), ("seed",), "--seed"),
    "temperature": ((float, 0, True, None, 1e6), ("intermediate", "temperature"), "--temperature"),
    "mlm_weight": ((float, 0, False, None, 1.0), ("intermediate", "mlm", "weight"), "--mlm-weight"),
    "mlm_max_length": ((int, 8, False, None, 1 << 20), ("intermediate", "mlm", "max_length"), None),
}
MAX_SEEDS = 1000  # a study's repeats; more is a typo (a range pasted as a list)


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """``--seeds 1,2,3``: the seeds as integers (their range, and that each is named once, is checked with the
    recipe's other settings by :func:`validate_recipe`)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise UserError(f"{flag} is empty; expected comma-separated integer seeds, e.g. {flag} 1,2,3")
    out = []
    for part in parts:
        body = part[1:] if part[:1] in "+-" else part
        if not (body.isascii() and body.isdigit()):
            raise UserError(f"{flag} expects comma-separated integer seeds (e.g. {flag} 1,2,3), got "
                            f"'{clip(part or '(nothing)', 40)}' in '{clip(str(text), 60)}'")
        out.append(int(part))
    return out


def seeds_problem(seeds: Any) -> str | None:
    """What is wrong with a list of seeds (None: fine): each an integer in the range of ``seed``, each once."""
    if not isinstance(seeds, list) or not seeds:
        return f"must be a non-empty list of integer seeds, got {clip(repr(seeds), 40)}"
    if len(seeds) > MAX_SEEDS:
        return f"lists {len(seeds)} seeds; expected at most {MAX_SEEDS}"
    kind, low, above, below, high = RECIPE_NUMBERS["seed"][0]
    for s in seeds:
        found = number_problem(s, kind, low, above, below, high)
        if found:
            return found
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        return f"names seed {twice[0]} twice; expected each seed once"
    return None


CHOICES = {"precision": (("auto", "bf16", "fp16", "no"), ("precision",), "--precision"),
           "intermediate_source": (("auto", "local", "hf"), ("intermediate", "source"), "--intermediate-source"),
           "sampling": (SAMPLING, ("intermediate", "sampling"), "--sampling")}


@dataclass
class Recipe:
    base_model: str
    seed: int = 42
    seeds: list[int] | None = None  # several seeds: one suite per seed (OUT/seed-<n>/), ``seed`` unused
    precision: str = "auto"
    data_dir: str = "download"
    intermediate: list[str] = field(default_factory=list)
    intermediate_data_dir: str | None = None
    intermediate_source: str = "auto"
    task_dirs: list[str] = field(default_factory=list)
    sampling: str = "proportional"
    temperature: float = 2.0
    mlm_data: list[str] = field(default_factory=list)
    mlm_weight: float = 0.0
    mlm_max_length: int = 128
    intermediate_hyperparameters: dict[str, Any] = field(default_factory=dict)
    targets: list[str] = field(default_factory=lambda: list(XTREME_TARGETS))
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    target_hyperparameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_files: dict[str, str] = field(default_factory=dict)
    dev_files: dict[str, str] = field(default_factory=dict)
    trust_remote_code: bool = False
    output: str | None = None  # default --out
    description: str = ""
    source_file: str | None = None
    # Where each setting came from, for messages: the recipe file's lines, and the flags that overrode it.
    locator: Locator | None = field(default=None, repr=False, compare=False)
    flags: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def units(self) -> list[tuple[str, list[str]]]:
        """Training units in order: (unit, targets it serves); SQuAD trains once for XQuAD and MLQA."""
        out: dict[str, list[str]] = {}
        for t in self.targets:
            out.setdefault(UNIT_OF[t], []).append(t)
        return list(out.items())

    def intermediate_hyper(self, cli: dict | None = None) -> Hyper:
        return make_hyper(INTERMEDIATE_DEFAULTS, self.intermediate_hyperparameters, cli)

    def target_hyper(self, unit: str, cli: dict | None = None) -> Hyper:
        per = {}
        for name, values in self.target_hyperparameters.items():
            if name == unit or UNIT_OF.get(name) == unit:
                per.update(values)
        return make_hyper(target_defaults(unit), self.hyperparameters, per, cli)

    def to_dict(self) -> dict[str, Any]:
        """The recipe in its YAML shape (what is saved beside the checkpoints)."""
        inter: dict[str, Any] = {"tasks": list(self.intermediate)}
        if self.intermediate_data_dir:
            inter["data_dir"] = self.intermediate_data_dir
        inter["source"] = self.intermediate_source
        if self.task_dirs:
            inter["task_dirs"] = list(self.task_dirs)
        inter["sampling"] = self.sampling
        inter["temperature"] = self.temperature
        if self.mlm_data:
            inter["mlm"] = {"files": list(self.mlm_data), "weight": self.mlm_weight, "max_length": self.mlm_max_length}
        if self.intermediate_hyperparameters:
            inter["hyperparameters"] = dict(self.intermediate_hyperparameters)
        d: dict[str, Any] = {}
        if self.description:
            d["description"] = self.description
        d["base_model"] = self.base_model
        if self.seeds is not None:
            d["seeds"] = list(self.seeds)
        else:
            d["seed"] = self.seed
        d.update({"precision": self.precision, "data_dir": self.data_dir, "intermediate": inter,
                  "targets": list(self.targets)})
        if self.output:
            d["output"] = self.output
        for key in ("hyperparameters", "target_hyperparameters", "train_files", "dev_files"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.trust_remote_code:
            d["trust_remote_code"] = True
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


_TOP = {"base_model": (str, True), "seed": (int, False), "seeds": (list, False), "precision": (str, False),
        "data_dir": (str, False),
        "intermediate": ((dict, list, str), False), "targets": ((list, str), False),
        "hyperparameters": (dict, False), "target_hyperparameters": (dict, False), "train_files": (dict, False),
        "dev_files": (dict, False), "trust_remote_code": (bool, False), "output": (str, False),
        "description": (str, False)}
_INTER = {"tasks": ((list, str), False), "data_dir": (str, False), "source": (str, False),
          "task_dirs": (list, False), "sampling": (str, False), "temperature": (float, False),
          "mlm": (dict, False), "hyperparameters": (dict, False)}
_MLM = {"files": ((list, str), True), "weight": (float, False), "max_length": (int, False)}


def parse_targets(value: Any, where=("targets",), path: str = "<recipe>", loc: Locator | None = None) -> list[str]:
    """'all' (XTREME's seven), 'none' or a list/comma string of trainable tasks."""
    loc = loc or Locator("")
    if isinstance(value, str) and value.strip() == "all":
        return list(XTREME_TARGETS)
    if isinstance(value, str) and value.strip() in ("none", ""):
        return []
    names = str_list(value, where, path, loc)
    out = []
    for i, n in enumerate(names):
        if n in ("bucc2018", "tatoeba"):
            raise UserError(f"target '{n}' has no training: retrieval tasks use the encoder ({'OUT/encoder'})",
                            path if path != "<recipe>" else None, loc.line(where) if path != "<recipe>" else None)
        if n not in TARGETS:
            raise UserError(f"unknown target '{n}' (trainable XTREME tasks: {', '.join(TARGETS)})",
                            path if path != "<recipe>" else None, loc.line(where) if path != "<recipe>" else None)
        if n not in out:
            out.append(n)
    return out


def parse_recipe(data: Any, loc: Locator, path: str) -> Recipe:
    check_mapping(data, _TOP, (), path, loc)
    r = Recipe(base_model=data["base_model"], source_file=path, locator=loc)
    if data.get("seed") is not None and data.get("seeds") is not None:
        raise UserError("give seed (one suite) or seeds (one suite per seed), not both", path, loc.line(("seeds",)))
    if data.get("seeds") is not None:
        r.seeds = data["seeds"]  # checked with the other settings below (validate_recipe)
    for key in ("seed", "precision", "data_dir", "trust_remote_code", "output", "description"):
        if data.get(key) is not None:
            setattr(r, key, data[key])
    inter = data.get("intermediate")
    if isinstance(inter, (list, str)):
        inter = {"tasks": inter}
    if inter:
        check_mapping(inter, _INTER, ("intermediate",), path, loc)
        r.intermediate = str_list(inter.get("tasks") or [], ("intermediate", "tasks"), path, loc)
        r.intermediate_data_dir = inter.get("data_dir")
        r.intermediate_source = inter.get("source") or "auto"
        r.task_dirs = str_list(inter.get("task_dirs") or [], ("intermediate", "task_dirs"), path, loc)
        r.sampling = inter.get("sampling") or "proportional"
        if inter.get("temperature") is not None:
            r.temperature = inter["temperature"]
        if inter.get("mlm"):
            mlm = check_mapping(inter["mlm"], _MLM, ("intermediate", "mlm"), path, loc)
            r.mlm_data = str_list(mlm["files"], ("intermediate", "mlm", "files"), path, loc)
            r.mlm_weight = mlm["weight"] if mlm.get("weight") is not None else 0.1
            r.mlm_max_length = mlm["max_length"] if mlm.get("max_length") is not None else 128
        if inter.get("hyperparameters"):
            r.intermediate_hyperparameters = _hyper_block(inter["hyperparameters"],
                                                          ("intermediate", "hyperparameters"), path, loc)
    if "targets" in data and data["targets"] is not None:
        r.targets = parse_targets(data["targets"], ("targets",), path, loc)
    if data.get("hyperparameters"):
        r.hyperparameters = _hyper_block(data["hyperparameters"], ("hyperparameters",), path, loc)
    for name, block in (data.get("target_hyperparameters") or {}).items():
        if name not in TARGETS and name != "squad":
            raise UserError(f"target_hyperparameters: unknown target '{name}' (expected: "
                            f"{', '.join(TARGETS)}, squad)", path, loc.line(("target_hyperparameters", name)))
        r.target_hyperparameters[name] = _hyper_block(block, ("target_hyperparameters", name), path, loc)
    for key in ("train_files", "dev_files"):
        for name, value in (data.get(key) or {}).items():
            if name not in TARGETS and name != "squad":
                raise UserError(f"{key}: unknown target '{name}'", path, loc.line((key, name)))
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"{key}.{name} must be a file path", path, loc.line((key, name)))
            getattr(r, key)[name] = value
    validate_recipe(r)
    return r


def _hyper_block(block: Any, where: tuple, path: str, loc: Locator) -> dict[str, Any]:
    if isinstance(block, dict):  # YAML 1.1 reads "1e-5" as a string; accept it as the number it means
        block = dict(block)
        for k, v in block.items():
            if HYPER_SCHEMA.get(k, (None,))[0] is float and isinstance(v, str):
                try:
                    block[k] = float(v)
                except ValueError:
                    pass
    check_mapping(block, HYPER_SCHEMA, where, path, loc)
    for k, v in block.items():
        problem = hyper_problem(k, v)
        if problem:
            raise UserError(f"{dotted(where + (k,))} {problem}", path, loc.line(where + (k,)))
    bad = _combination_problem(block)
    if bad:
        raise UserError(bad[1], path, loc.line(where + (bad[0],)))
    return dict(block)


# --- the one validator: `xtreme-train check` and `run` alike -----------------------------------------

@dataclass
class PhasePlan:
    """One training phase as it will run: 'intermediate' or a target unit, the targets it serves, its hyper."""

    name: str
    served: list[str]
    hyper: Hyper


def _fail(recipe: Recipe, message: str, keys: tuple | None, flag: str | None = None,
          named: bool = True) -> UserError:
    """The error, located at the flag that set the value, else at its line in the recipe file; ``named``:
    the message starts with the setting's name."""
    if flag:
        return UserError(f"{flag} {message}" if named else f"{flag}: {message}")
    label = dotted(keys) if keys else "recipe"
    text = f"{label} {message}" if named else message
    if recipe.source_file and recipe.locator is not None and keys is not None:
        return UserError(text, recipe.source_file, recipe.locator.line(keys))
    return UserError(text, recipe.source_file)


def _hyper_source(recipe: Recipe, phase: str, key: str, cli: dict | None) -> tuple[tuple | None, str | None]:
    """(recipe key path, flag) of the layer that gave ``key`` its value in ``phase`` (the defaults: the phase's
    task list)."""
    if cli and cli.get(key) is not None:
        return None, "--" + key.replace("_", "-")
    if phase == "intermediate":
        if recipe.intermediate_hyperparameters.get(key) is not None:
            return ("intermediate", "hyperparameters", key), None
        return ("intermediate", "tasks"), recipe.flags.get("intermediate")
    for name in sorted(recipe.target_hyperparameters, key=lambda n: n != phase):
        if (name == phase or UNIT_OF.get(name) == phase) and \
                recipe.target_hyperparameters[name].get(key) is not None:
            return ("target_hyperparameters", name, key), None
    if recipe.hyperparameters.get(key) is not None:
        return ("hyperparameters", key), None
    return ("targets",), recipe.flags.get("targets")


def task_settings(spec, hyper: Hyper, intermediate: bool = False):
    """The family settings a phase featurises a task with (the family refuses lengths it cannot use)."""
    from ..families import family_of

    if intermediate:
        return family_of(spec).settings(spec, {"max_length": hyper.max_length or spec.features.get("max_length")
                                               or 256})
    return family_of(spec).settings(spec, {"max_length": hyper.max_length or 256, "doc_stride": hyper.doc_stride,
                                           "max_query_length": hyper.max_query_length})


def validate_recipe(recipe: Recipe, cli_hyper: dict | None = None) -> list[PhasePlan]:
    """Check every setting of a recipe (file, flags, Python API) and return its phases as they will run.

    Types, finite ranges and choices of the recipe's own settings, every hyper-parameter layer, their
    combination per phase and the task families' own limits (a QA max length that leaves no room for the
    context): an error names the flag or the recipe file's line that set the value."""
    r = recipe
    if not isinstance(r.base_model, str) or not r.base_model.strip():
        raise _fail(r, "must name a model folder or hub id", ("base_model",), r.flags.get("base_model"))
    for name, (choices, keys, flag) in CHOICES.items():
        value = getattr(r, name)
        if value not in choices:
            raise _fail(r, f"'{clip(str(value), 40)}': expected one of {', '.join(choices)}", keys,
                        flag if name in r.flags else None)
    for name, ((kind, low, above, below, high), keys, flag) in RECIPE_NUMBERS.items():
        value = getattr(r, name)
        if name == "mlm_weight" and not r.mlm_data:
            low, above = 0, False
        elif name == "mlm_weight":
            above = True
        problem = number_problem(value, kind, low, above, below, high)
        if problem:
            raise _fail(r, problem, keys, flag if name in r.flags else None)
    if r.seeds is not None:
        problem = seeds_problem(r.seeds)
        if problem:
            raise _fail(r, problem, ("seeds",), r.flags.get("seeds"))
    if r.mlm_data and r.intermediate and r.mlm_weight >= 1:
        raise _fail(r, "1 leaves no batches for the intermediate tasks", ("intermediate", "mlm", "weight"),
                    "--mlm-weight" if "mlm_weight" in r.flags else None)
    for i, t in enumerate(r.targets):
        if t not in TARGETS:
            raise _fail(r, f"'{clip(str(t), 40)}' is not a trainable target (expected: {', '.join(TARGETS)})",
                        ("targets",), r.flags.get("targets"))
    from ..tasks.registry import get_intermediate

    inter_specs = []
    for name in r.intermediate:
        try:
            inter_specs.append(get_intermediate(name, r.task_dirs))
        except UserError as exc:
            if r.flags.get("intermediate") or not r.source_file:
                raise
            raise UserError(exc.message, r.source_file, r.locator.line(("intermediate", "tasks"))
                            if r.locator else None) from None
    if not r.targets and not r.intermediate and not r.mlm_data:
        raise _fail(r, "nothing to train: no intermediate task, no MLM data and no target", ("targets",),
                    r.flags.get("targets"), named=False)
    layers = [("intermediate", "hyperparameters"), ("hyperparameters",)] + \
        [("target_hyperparameters", n) for n in r.target_hyperparameters]
    for keys in layers:
        block = r.intermediate_hyperparameters if keys[0] == "intermediate" else \
            r.hyperparameters if keys[0] == "hyperparameters" else r.target_hyperparameters[keys[1]]
        if not isinstance(block, dict):
            raise _fail(r, "must be a mapping of hyper-parameters", keys)
        for k, v in block.items():
            problem = hyper_problem(k, v)
            if problem:
                raise _fail(r, problem, keys + (k,))
    for k, v in (cli_hyper or {}).items():
        problem = hyper_problem(k, v)
        if problem:
            raise UserError(f"--{k.replace('_', '-')} {problem}")

    plans = []
    if r.intermediate or r.mlm_data:
        plans.append(PhasePlan("intermediate", [], _phase_hyper(r, "intermediate", cli_hyper)))
        for spec in inter_specs:
            _check_settings(r, "intermediate", spec, plans[-1].hyper, cli_hyper, True)
    from ..tasks.registry import get_task

    for unit, served in r.units():
        plan = PhasePlan(unit, served, _phase_hyper(r, unit, cli_hyper))
        _check_settings(r, unit, get_task(served[0]), plan.hyper, cli_hyper, False)
        plans.append(plan)
    return plans


def recipe_output(r: Recipe) -> str | None:
    """The recipe's ``output`` folder, checked as an output path (an error names the recipe's line)."""
    if not r.output:
        return None
    from ..io.files import output_path

    if not isinstance(r.output, str):
        raise _fail(r, "must be a folder path", ("output",))
    try:
        output_path(r.output, "output", folder=True)
    except UserError as exc:
        raise _fail(r, f"{exc.message}: {clip(r.output, 200)}", ("output",), named=False) from None
    return r.output


def check_model_length(r: Recipe, plans: list[PhasePlan], limit: int | None, model: str,
                       cli: dict | None = None) -> None:
    """A max length beyond the model's position embeddings would fail mid-run: refuse it up front."""
    if not limit:
        return
    for plan in plans:
        n = plan.hyper.max_length
        if n is not None and n > limit:
            keys, flag = _hyper_source(r, plan.name, "max_length", cli)
            raise _fail(r, f"{plan.name} phase: max_length {n} is more than the {limit} positions {model} "
                           f"can read; expected at most {limit}", keys, flag, named=False)
    if r.mlm_data and r.mlm_max_length > limit:
        raise _fail(r, f"{r.mlm_max_length} is more than the {limit} positions {model} can read",
                    ("intermediate", "mlm", "max_length"))


def _phase_hyper(r: Recipe, phase: str, cli: dict | None) -> Hyper:
    """The merged hyper-parameters of a phase; each layer is valid alone, so what fails is a combination."""
    try:
        return r.intermediate_hyper(cli) if phase == "intermediate" else r.target_hyper(phase, cli)
    except UserError as exc:
        values = dataclasses.asdict(Hyper())
        layers = [INTERMEDIATE_DEFAULTS, r.intermediate_hyperparameters] if phase == "intermediate" else \
            [target_defaults(phase), r.hyperparameters] + [b for n, b in r.target_hyperparameters.items()
                                                         if n == phase or UNIT_OF.get(n) == phase]
        for layer in [*layers, cli or {}]:
            values.update({k: v for k, v in layer.items() if v is not None})
        bad = _combination_problem(values)
        if bad is None:
            raise _fail(r, f"{phase} phase: {exc.message}", None, named=False) from None
        keys, flag = _hyper_source(r, phase, bad[0], cli)
        raise _fail(r, f"{phase} phase: {bad[1]}", keys, flag, named=False) from None


def _check_settings(r: Recipe, phase: str, spec, hyper: Hyper, cli: dict | None, intermediate: bool) -> None:
    try:
        task_settings(spec, hyper, intermediate)
    except UserError as exc:
        keys, flag = _hyper_source(r, phase, "max_length", cli)
        raise _fail(r, exc.message, keys, flag, named=False) from None


def load_recipe(path: str | os.PathLike) -> Recipe:
    data, loc, _ = read_yaml_file(path, "recipe")
    if data is None:
        raise UserError("recipe is empty", os.fspath(path), 1)
    return parse_recipe(data, loc, os.fspath(path))


def recipe_from_text(text: str, path: str = "<recipe>") -> Recipe:
    data, loc = load_yaml(text, path)
    return parse_recipe(data, loc, path)


# --- command-line settings ----------------------------------------------------------------

def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        if "=" not in v or not v.split("=", 1)[1].strip():
            raise UserError(f"{flag} expects TASK=PATH, got '{clip(v)}'")
        k, path = v.split("=", 1)
        out[k.strip()] = path.strip()
    return out


def recipe_from_options(args) -> Recipe:
    """A recipe file (``args.recipe``) or a bare one (``args.base``), with the command line's settings laid over it.

    ``args`` has the ``xtreme-train run`` options as attributes (None: not given). The result is checked by
    :func:`validate_recipe`; a bad flag value is named by its flag.
    """
    if args.recipe:
        recipe = load_recipe(args.recipe)
    elif args.base:
        recipe = Recipe(base_model=args.base)
    else:
        raise UserError("give --recipe FILE or --base MODEL")
    if args.base:
        recipe.base_model = args.base
        recipe.flags["base_model"] = "--base"
    if args.intermediate is not None:
        names = [] if args.intermediate.strip() in ("", "none", "baseline") else \
            [n.strip() for n in args.intermediate.split(",") if n.strip()]
        recipe.intermediate = names
        recipe.flags["intermediate"] = "--intermediate"
    if args.targets is not None:
        recipe.targets = parse_targets(args.targets)
        recipe.flags["targets"] = "--targets"
    seeds = getattr(args, "seeds", None)
    if seeds is not None and args.seed is not None:
        raise UserError("give --seed (one suite) or --seeds (one suite per seed), not both")
    if seeds is not None:
        recipe.seeds = parse_seeds(seeds)
        recipe.flags["seeds"] = "--seeds"
    elif args.seed is not None:
        recipe.seeds = None  # one seed on the command line replaces the recipe's list
    for attr in ("data_dir", "intermediate_data_dir", "intermediate_source", "sampling", "temperature", "seed",
                 "precision", "trust_remote_code", "mlm_weight"):
        v = getattr(args, attr)
        if v is not None:
            setattr(recipe, attr, v)
            recipe.flags[attr] = "--" + attr.replace("_", "-")
    if args.task_dir:
        recipe.task_dirs = list(recipe.task_dirs) + list(args.task_dir)
    if args.mlm_data:
        recipe.mlm_data = list(args.mlm_data)
        if not recipe.mlm_weight:
            recipe.mlm_weight = 0.1
    recipe.train_files.update(_pairs(args.train_file, "--train-file"))
    recipe.dev_files.update(_pairs(args.dev_file, "--dev-file"))
    for k in list(recipe.train_files) + list(recipe.dev_files):
        if k not in TARGETS and k != "squad":
            raise UserError(f"--train-file/--dev-file: unknown target '{k}' (expected: {', '.join(TARGETS)}, squad)")
    validate_recipe(recipe)
    return recipe


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the checkout the package runs from, read from .git without running git."""
    here = Path(start or Path(__file__).resolve().parent)
    for d in [here, *here.parents]:
        git = d / ".git"
        if git.is_file():  # worktree: "gitdir: <path>"
            text = git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                git = (d / text.split(":", 1)[1].strip()).resolve()
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text(encoding="utf-8").strip()
                if not head.startswith("ref:"):
                    return head or None
                ref = head.split(":", 1)[1].strip()
                ref_file = git / ref
                if ref_file.is_file():
                    return ref_file.read_text(encoding="utf-8").strip() or None
                common = git
                if (git / "commondir").is_file():
                    common = (git / (git / "commondir").read_text().strip()).resolve()
                    if (common / ref).is_file():
                        return (common / ref).read_text(encoding="utf-8").strip() or None
                packed = common / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text(encoding="utf-8").splitlines():
                        if line.endswith(" " + ref):
                            return line.split(" ", 1)[0]
            except OSError:
                return None
            return None
    return None
