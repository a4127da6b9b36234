"""Recipes: one YAML file that captures a whole STILTs run, validated line by line.

A recipe names the pretrained encoder, the English intermediate task(s) (none
for the baseline), the XTREME targets and every hyper-parameter; the effective
recipe (file + command-line overrides) is saved next to the checkpoints with
the package version, the data files' sizes and sha256 and the git commit, so a
result can always be traced back to exactly what produced it.

Example::

    base_model: xlm-roberta-large
    output: runs/anli-plus        # default for --out
    seed: 42
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
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .loop import Hyper
from .sampling import SAMPLING
from ..yamlfile import Locator, check_mapping, load_yaml, read_yaml_file, str_list

# The trainable tasks; 'all' means XTREME's seven (XCOPA, of XTREME-R, is asked for by name).
TARGETS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "xcopa")
XTREME_TARGETS = TARGETS[:7]
# XQuAD and MLQA have no training data of their own: one SQuAD v1.1 model serves both.
UNIT_OF = {"xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "squad",
           "mlqa": "squad", "tydiqa": "tydiqa", "xcopa": "xcopa"}

# Paper defaults (Phang et al., 2020): lr 1e-5; batch 32 (16 for QA); max length 256
# (384 for QA); 2 epochs for XNLI and QA, 5 for PAWS-X, 10 for POS and NER.
_TARGET_DEFAULTS = {
    "xnli": {"epochs": 2, "batch_size": 32, "max_length": 256},
    "pawsx": {"epochs": 5, "batch_size": 32, "max_length": 256},
    "udpos": {"epochs": 10, "batch_size": 32, "max_length": 256},
    "panx": {"epochs": 10, "batch_size": 32, "max_length": 256},
    "squad": {"epochs": 2, "batch_size": 16, "max_length": 384},
    "tydiqa": {"epochs": 2, "batch_size": 16, "max_length": 384},
    # XTREME-R's scripts/train_xcopa.sh: lr 2e-5, batch 8 x 4 accumulation, 5 epochs, max length 128.
    "xcopa": {"lr": 2e-5, "epochs": 5, "batch_size": 32, "max_length": 128},
}
INTERMEDIATE_DEFAULTS = {"lr": 1e-5, "epochs": 2, "batch_size": 32}

def _hyper_schema() -> dict:
    out = {}
    for f in dataclasses.fields(Hyper):
        t = str(f.type)
        typ = float if "float" in t else bool if "bool" in t else int
        out[f.name] = (typ, False)
    return out


HYPER_SCHEMA = _hyper_schema()


def target_defaults(unit: str) -> dict[str, Any]:
    return {"lr": 1e-5, **_TARGET_DEFAULTS[unit]}


def make_hyper(*layers: dict | None) -> Hyper:
    """Later layers override earlier ones; None values do not override."""
    values: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            if v is not None:
                values[k] = v
    unknown = sorted(set(values) - set(HYPER_SCHEMA))
    if unknown:
        raise UserError(f"unknown hyper-parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(HYPER_SCHEMA))})")
    for k, (typ, _) in HYPER_SCHEMA.items():
        if k in values and typ is float:
            values[k] = float(values[k])
    h = Hyper(**values)
    check_hyper(h)
    return h


def check_hyper(h: Hyper) -> None:
    """Every value finite and in the range its field declares; epochs may be 0 only with max_steps."""
    for f in dataclasses.fields(Hyper):
        v = getattr(h, f.name)
        if v is None or isinstance(v, bool):
            continue
        low, above, below = f.metadata["low"], f.metadata["above"], f.metadata["below"]
        if isinstance(v, float) and not math.isfinite(v):
            raise UserError(f"{f.name} must be a finite number, got {v}")
        if low is not None and (v < low or (above and v == low)):
            if f.name == "epochs":
                continue  # checked below, with max_steps
            raise UserError(f"{f.name} must be {'greater than' if above else 'at least'} {low}, got {v}")
        if below is not None and v >= below:
            raise UserError(f"{f.name} must be below {below}, got {v}")
    if h.epochs <= 0 and not h.max_steps:
        raise UserError(f"epochs must be positive, got {h.epochs}")


@dataclass
class Recipe:
    base_model: str
    seed: int = 42
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
        d.update({"base_model": self.base_model, "seed": self.seed, "precision": self.precision,
                  "data_dir": self.data_dir, "intermediate": inter, "targets": list(self.targets)})
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


_TOP = {"base_model": (str, True), "seed": (int, False), "precision": (str, False), "data_dir": (str, False),
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
    r = Recipe(base_model=data["base_model"], source_file=path)
    for key in ("seed", "precision", "data_dir", "trust_remote_code", "output", "description"):
        if data.get(key) is not None:
            setattr(r, key, data[key])
    if r.precision not in ("auto", "bf16", "fp16", "no"):
        raise UserError(f"precision '{r.precision}': expected auto, bf16, fp16 or no", path, loc.line(("precision",)))
    inter = data.get("intermediate")
    if isinstance(inter, (list, str)):
        inter = {"tasks": inter}
    if inter:
        check_mapping(inter, _INTER, ("intermediate",), path, loc)
        r.intermediate = str_list(inter.get("tasks") or [], ("intermediate", "tasks"), path, loc)
        r.intermediate_data_dir = inter.get("data_dir")
        r.intermediate_source = inter.get("source") or "auto"
        if r.intermediate_source not in ("auto", "local", "hf"):
            raise UserError(f"intermediate.source '{r.intermediate_source}': expected auto, local or hf", path,
                            loc.line(("intermediate", "source")))
        r.task_dirs = str_list(inter.get("task_dirs") or [], ("intermediate", "task_dirs"), path, loc)
        r.sampling = inter.get("sampling") or "proportional"
        if r.sampling not in SAMPLING:
            raise UserError(f"intermediate.sampling '{r.sampling}': expected one of {', '.join(SAMPLING)}", path,
                            loc.line(("intermediate", "sampling")))
        if inter.get("temperature") is not None:
            r.temperature = float(inter["temperature"])
            if r.temperature <= 0:
                raise UserError("intermediate.temperature must be positive", path,
                                loc.line(("intermediate", "temperature")))
        if inter.get("mlm"):
            mlm = check_mapping(inter["mlm"], _MLM, ("intermediate", "mlm"), path, loc)
            r.mlm_data = str_list(mlm["files"], ("intermediate", "mlm", "files"), path, loc)
            r.mlm_weight = float(mlm.get("weight", 0.1) if mlm.get("weight") is not None else 0.1)
            if not 0 < r.mlm_weight <= 1:
                raise UserError("intermediate.mlm.weight must be in (0, 1]", path,
                                loc.line(("intermediate", "mlm", "weight")))
            if r.mlm_weight == 1 and r.intermediate:
                raise UserError("intermediate.mlm.weight 1 leaves no batches for the intermediate tasks", path,
                                loc.line(("intermediate", "mlm", "weight")))
            r.mlm_max_length = int(mlm.get("max_length") or 128)
        if inter.get("hyperparameters"):
            r.intermediate_hyperparameters = _hyper_block(inter["hyperparameters"],
                                                          ("intermediate", "hyperparameters"), path, loc)
        from ..spec import get_intermediate

        for i, name in enumerate(r.intermediate):
            try:
                get_intermediate(name, r.task_dirs)
            except UserError as exc:
                raise UserError(exc.message, path, loc.line(("intermediate", "tasks"))) from None
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
            if not isinstance(value, str):
                raise UserError(f"{key}.{name} must be a file path", path, loc.line((key, name)))
            getattr(r, key)[name] = value
    if r.mlm_data and not r.intermediate and r.mlm_weight < 1:
        pass  # MLM alone is allowed: an MLM-only intermediate phase
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
    try:
        make_hyper(block)
    except UserError as exc:
        raise UserError(exc.message, path, loc.line(where)) from None
    return dict(block)


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
        if "=" not in v:
            raise UserError(f"{flag} expects TASK=PATH, got '{v}'")
        k, path = v.split("=", 1)
        out[k.strip()] = path.strip()
    return out


def recipe_from_options(args) -> Recipe:
    """A recipe file (``args.recipe``) or a bare one (``args.base``), with the command line's settings laid over it.

    ``args`` has the ``xtreme-train run`` options as attributes (None: not given).
    """
    if args.recipe:
        recipe = load_recipe(args.recipe)
    elif args.base:
        recipe = Recipe(base_model=args.base)
    else:
        raise UserError("give --recipe FILE or --base MODEL")
    if args.base:
        recipe.base_model = args.base
    if args.intermediate is not None:
        names = [] if args.intermediate.strip() in ("", "none", "baseline") else \
            [n.strip() for n in args.intermediate.split(",") if n.strip()]
        recipe.intermediate = names
    if args.targets is not None:
        recipe.targets = parse_targets(args.targets)
    for attr, key in (("data_dir", "data_dir"), ("intermediate_data_dir", "intermediate_data_dir"),
                      ("intermediate_source", "intermediate_source"), ("sampling", "sampling"),
                      ("temperature", "temperature"), ("seed", "seed"), ("precision", "precision"),
                      ("trust_remote_code", "trust_remote_code")):
        v = getattr(args, attr)
        if v is not None:
            setattr(recipe, key, v)
    if args.task_dir:
        recipe.task_dirs = list(recipe.task_dirs) + list(args.task_dir)
    if args.mlm_data:
        recipe.mlm_data = list(args.mlm_data)
        if not recipe.mlm_weight:
            recipe.mlm_weight = 0.1
    if args.mlm_weight is not None:
        if not 0 < args.mlm_weight <= 1:
            raise UserError("--mlm-weight must be in (0, 1]")
        recipe.mlm_weight = args.mlm_weight
    if recipe.mlm_data and recipe.intermediate and recipe.mlm_weight >= 1:
        raise UserError("--mlm-weight 1 leaves no batches for the intermediate tasks")
    recipe.train_files.update(_pairs(args.train_file, "--train-file"))
    recipe.dev_files.update(_pairs(args.dev_file, "--dev-file"))
    for k in list(recipe.train_files) + list(recipe.dev_files):
        if k not in TARGETS and k != "squad":
            raise UserError(f"--train-file/--dev-file: unknown target '{k}' (expected: {', '.join(TARGETS)}, squad)")
    from ..spec import get_intermediate

    for name in recipe.intermediate:
        get_intermediate(name, recipe.task_dirs)
    if not recipe.targets and not recipe.intermediate and not recipe.mlm_data:
        raise UserError("nothing to train: no intermediate task and --targets none")
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
