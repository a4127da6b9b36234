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

from .errors import UserError
from .yamlfile import check_mapping, read_yaml_file

ENCODER = "encoder"
_ENTRY = {"model": (str, True), "revision": (str, False), "label_map": (dict, False)}
_DEFAULTS = {"pooling": (str, False), "layer": (int, False), "max_length": (int, False)}


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


def load_manifest(path: str | os.PathLike) -> Manifest:
    from .spec import registry

    path = os.fspath(path)
    if not Path(path).is_file():
        raise UserError("suite manifest not found", path)
    data, loc, _ = read_yaml_file(path, "suite manifest")
    if not isinstance(data, dict) or not data:
        raise UserError("a suite manifest must be a mapping of task ids to {model: ...}", path, 1)
    tasks = registry()
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
        if looks_local(model) and not Path(model).expanduser().is_absolute():
            model = str(base / model)
        entries[key] = Entry(model, value.get("revision"), label_map, loc.line((key,)))
    if not entries:
        raise UserError("the manifest names no checkpoint (expected task ids mapping to {model: ...})", path, 1)
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise UserError("'name' must be a string", path, loc.line(("name",)))
    defaults = data.get("defaults") or {}
    check_mapping(defaults, _DEFAULTS, ("defaults",), path, loc)
    if defaults.get("pooling") not in (None, "mean", "cls"):
        raise UserError(f"'defaults.pooling' must be mean or cls, not '{defaults['pooling']}'", path,
                        loc.line(("defaults", "pooling")))
    for key, low in (("layer", 0), ("max_length", 8)):
        if key in defaults and defaults[key] < low:
            raise UserError(f"'defaults.{key}' must be at least {low}", path, loc.line(("defaults", key)))
    return Manifest(path=path, name=name, entries=entries, defaults=dict(defaults))


def looks_local(model: str) -> bool:
    """A path rather than a hub id (``org/name`` or ``name``): it starts like a path, has more parts, ends like
    a file, or its first part is a local folder (``runs/xnli`` with ``runs/`` here is a mistyped path)."""
    first = model.split("/", 1)[0]
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or os.sep + os.sep in model or \
        model.endswith(("/", ".json", ".yaml", ".yml", ".safetensors", ".bin")) or \
        Path(model).expanduser().exists() or ("/" in model and Path(first).expanduser().is_dir())


def parse_label_map(text: str | None) -> dict[str, str] | None:
    """``--label-map KEY=VALUE,...``: checkpoint label name -> task label."""
    if not text:
        return None
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise UserError(f"--label-map: expected CHECKPOINT_LABEL=TASK_LABEL pairs separated by commas, got "
                            f"'{part.strip()}'")
        key, value = (x.strip() for x in part.split("=", 1))
        if not key or not value:
            raise UserError(f"--label-map: '{part.strip()}' needs a label on both sides of '='")
        out[key] = value
    return out
