"""Suite manifests: one YAML file naming the checkpoint (a hub id or a folder) that serves each task.

    name: public checkpoints, March 2026          # shown on the leaderboard
    defaults: {pooling: mean, layer: 14, max_length: 256}
    xnli: {model: org/xlmr-xnli, revision: 3f2a..., label_map: {LABEL_0: entailment, LABEL_1: neutral,
                                                                 LABEL_2: contradiction}}
    panx: {model: org/xlmr-conll-ner, label_map: {B-MISC: O, I-MISC: O}}
    xquad: {model: org/xlmr-squad}
    encoder: {model: FacebookAI/xlm-roberta-large}   # the retrieval tasks, unless they name their own

Read with ``yaml.safe_load`` and validated like a task spec: unknown keys, unknown
tasks and wrong types stop with ``file:line``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.errors import UserError
from ..io.options import MANIFEST, from_mapping
from ..io.yamlfile import check_mapping, read_yaml_file

ENCODER = "encoder"
_ENTRY = {"model": (str, True), "revision": (str, False), "label_map": (dict, False)}


@dataclass(frozen=True)
class Entry:
    model: str  # hub id or checkpoint folder (relative to the manifest's folder)
    revision: str | None = None
    label_map: dict[str, str] | None = None
    line: int | None = None


@dataclass
class Manifest:
    path: str
    name: str
    entries: dict[str, Entry]
    defaults: dict[str, Any] = field(default_factory=dict)

    def entry_for(self, task: str, headless: bool) -> tuple[str, Entry] | None:
        """(key, entry) serving ``task``: its own entry, else (for headless retrieval tasks) the encoder."""
        if task in self.entries:
            return task, self.entries[task]
        if headless and ENCODER in self.entries:
            return ENCODER, self.entries[ENCODER]
        return None


def is_manifest(model: str) -> bool:
    return model.lower().endswith((".yaml", ".yml"))


def load_manifest(path: str | os.PathLike, task_dirs=None) -> Manifest:
    """The manifest at ``path``; its task ids may be the built-in ones or those of ``task_dirs``."""
    from ..options import EvalOptions
    from ..tasks.registry import registry

    path = os.fspath(path)
    if not Path(path).is_file():
        raise UserError("suite manifest not found", path)
    data, loc, _ = read_yaml_file(path, "suite manifest")
    if not isinstance(data, dict) or not data:
        raise UserError("a suite manifest must be a mapping of task ids to {model: ...}", path, 1)
    tasks = registry(tuple(task_dirs or ()))
    entries: dict[str, Entry] = {}
    base = Path(path).resolve().parent
    for key, value in data.items():
        if key in ("name", "defaults"):
            continue
        if key not in tasks and key != ENCODER:
            raise UserError(f"unknown key '{key}' (expected name, defaults, encoder or a task id: "
                            f"{', '.join(sorted(tasks))})", path, loc.line((key,)))
        if isinstance(value, str):
            value = {"model": value}
        check_mapping(value, _ENTRY, (key,), path, loc)
        label_map = value.get("label_map")
        if label_map is not None:
            bad = next((k for k, v in label_map.items() if not isinstance(v, (str, int)) or isinstance(v, bool)),
                       None)
            if bad is not None:
                raise UserError(f"'{key}.label_map.{bad}' must name a task label", path,
                                loc.line((key, "label_map", bad)))
            label_map = {str(k): str(v) for k, v in label_map.items()}
        model = value["model"]
        if not Path(model).expanduser().is_absolute() and (looks_local(model, base) or (base / model).exists()):
            model = str(base / model)  # a folder beside the manifest, whatever the working folder
        entries[key] = Entry(model, value.get("revision"), label_map, loc.line((key,)))
    if not entries:
        raise UserError("the manifest names no checkpoint (expected task ids mapping to {model: ...})", path, 1)
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise UserError("'name' must be a string", path, loc.line(("name",)))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UserError("'defaults' must be a mapping of option names to values", path, loc.line(("defaults",)))
    # validated by the very declarations the flags come from: the same names, types and ranges
    defaults = from_mapping(EvalOptions, defaults, MANIFEST, "'defaults'", lambda k: (path, loc.line(("defaults", k))),
                            name_of=lambda k: f"'defaults.{k}'")
    return Manifest(path=path, name=name, entries=entries, defaults=dict(defaults))


def looks_local(model: str, base: str | os.PathLike = ".") -> bool:
    """A path rather than a hub id (``org/name`` or ``name``): it starts like a path, has more parts, ends like
    a file, or it (or its first part) is a folder under ``base`` (``runs/xnli`` with ``runs/`` there is a
    mistyped path, not a hub id)."""
    first = model.split("/", 1)[0]
    root = Path(base)
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or os.sep + os.sep in model or \
        model.endswith(("/", ".json", ".yaml", ".yml", ".safetensors", ".bin")) or \
        (root / Path(model).expanduser()).exists() or ("/" in model and (root / Path(first).expanduser()).is_dir())
