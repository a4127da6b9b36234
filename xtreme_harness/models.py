"""Resolving ``--model``: a checkpoint, a hub id, or a suite of per-task checkpoints; loading safely.

A suite is a folder with one checkpoint per task (``ckpt/xnli/``,
``ckpt/panx/``, ...) and optionally ``ckpt/encoder/`` for the retrieval tasks.
The head a checkpoint carries is read from its config (``architectures``,
``id2label``), and its label names are matched to the task's label set by
name, never by position. Remote code runs only when asked for; pickled
``.bin`` weights load only with ``allow_pickle``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .spec import TaskSpec

WEIGHT_FILES_SAFE = ("model.safetensors", "model.safetensors.index.json")
WEIGHT_FILES_PICKLE = ("pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "spm.model", "vocab.txt", "tokenizer.model")


@dataclass
class Checkpoint:
    """One checkpoint that serves one task: where it is and how its labels map to the task's."""

    path: str  # local folder or hub id
    config: dict[str, Any]
    local: bool
    task_labels: dict[int, str] = field(default_factory=dict)  # model label id -> task label (matched by name)

    @property
    def architectures(self) -> list[str]:
        return list(self.config.get("architectures") or [])

    def head(self) -> str | None:
        """The family whose head this checkpoint carries (None: a bare encoder or an unknown head)."""
        from .families import head_family

        return head_family(self.architectures)

    @property
    def num_hidden_layers(self) -> int | None:
        cfg = self.config
        return cfg.get("num_hidden_layers") or (cfg.get("text_config") or {}).get("num_hidden_layers")


@dataclass
class Resolution:
    """What serves each task, and why a task is skipped."""

    checkpoints: dict[str, Checkpoint]
    skipped: dict[str, str]
    kind: str  # "checkpoint", "suite" or "hub"


def _read_config(path: Path) -> dict[str, Any]:
    from .data.io import read_text

    cfg = path / "config.json"
    if not cfg.is_file():
        raise UserError("not a checkpoint: config.json is missing", path)
    if cfg.read_bytes().startswith(b"\xef\xbb\xbf"):  # transformers reads it without BOM handling
        raise UserError("config.json starts with a UTF-8 byte order mark, which transformers cannot read; "
                        "expected plain UTF-8 JSON (save it without the BOM)", cfg, 1)
    text = read_text(cfg, "config.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"config.json is not valid JSON: {exc.msg} (column {exc.colno}); expected a JSON object",
                        cfg, exc.lineno) from None
    if not isinstance(data, dict):
        raise UserError("config.json must hold a JSON object", cfg, 1)
    return data


def is_suite(path: Path, task_names) -> bool:
    return path.is_dir() and not (path / "config.json").is_file() and any(
        (path / name / "config.json").is_file() for name in list(task_names) + ["encoder"])


def check_local_checkpoint(path: Path, allow_pickle: bool = False, need_tokenizer: bool = True) -> None:
    """Refuse a folder that lacks weights or a tokenizer, or that holds only pickled weights."""
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    has_safe = any(n in names for n in WEIGHT_FILES_SAFE) or any(n.endswith(".safetensors") for n in names)
    has_pickle = any(n in names for n in WEIGHT_FILES_PICKLE)
    if not has_safe and not has_pickle:
        raise UserError("checkpoint has no weights (expected model.safetensors)", path)
    if not has_safe and has_pickle and not allow_pickle:
        raise UserError("checkpoint has only pickled weights (pytorch_model.bin), which can run code when loaded; "
                        "convert it to safetensors or pass --allow-pickle if you trust it", path)
    if need_tokenizer and not any(n in names for n in TOKENIZER_FILES):
        raise UserError("checkpoint has no tokenizer (expected tokenizer.json or a sentencepiece/vocab file)", path)


def needs_remote_code(config: dict[str, Any]) -> bool:
    return bool(config.get("auto_map"))


def match_labels(ckpt: Checkpoint, spec: TaskSpec) -> dict[int, str]:
    """Map the checkpoint's label ids to the task's labels by name (case-insensitive)."""
    id2label = ckpt.config.get("id2label") or {}
    try:
        model_labels = {int(k): str(v) for k, v in dict(id2label).items()}
    except (TypeError, ValueError):
        where = _config_line(ckpt.path, "id2label") if ckpt.local else (None, None)
        raise UserError(f"id2label of {ckpt.path} must map integer label ids to label names; "
                        "expected e.g. {\"0\": \"entailment\", \"1\": \"neutral\"}", *where) from None
    task_labels = list(spec.labels or ())
    by_lower = {t.lower(): t for t in task_labels}
    mapping = {}
    for idx, name in model_labels.items():
        if name.lower() in by_lower:
            mapping[idx] = by_lower[name.lower()]
    if set(mapping.values()) != set(task_labels) or len(mapping) != len(model_labels):
        raise UserError(
            f"the labels of {ckpt.path} do not match task {spec.task}: checkpoint has "
            f"[{', '.join(model_labels[i] for i in sorted(model_labels))}], task expects "
            f"[{', '.join(task_labels)}]; set id2label in its config.json to the task's label names")
    return mapping


def _config_line(ck_path: str, key: str) -> tuple[str | None, int | None]:
    """(config.json, line of ``key``) of a local checkpoint, for messages; (None, None) for hub ids."""
    from .data.io import json_line

    cfg = Path(ck_path) / "config.json"
    try:
        return str(cfg), json_line(cfg.read_text(encoding="utf-8"), f'"{key}"')
    except (OSError, UnicodeDecodeError):
        return None, None


def _checkpoint(path: str, trust_remote_code: bool, allow_pickle: bool, need_tokenizer: bool = True) -> Checkpoint:
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UserError("expected a checkpoint folder, found a file", p)
        config = _read_config(p)
        check_local_checkpoint(p, allow_pickle, need_tokenizer)
        local = True
    else:
        if path.startswith((".", "/", "~")) or os.sep + os.sep in path or path.count("/") > 1:
            raise UserError("checkpoint folder not found", path)
        config = _hub_config(path)
        local = False
    if needs_remote_code(config) and not trust_remote_code:
        raise UserError(f"checkpoint {path} needs custom code from its repository (auto_map in config.json); "
                        "pass --trust-remote-code only if you trust it",
                        *(_config_line(path, "auto_map") if local else (None, None)))
    return Checkpoint(path=str(p) if local else path, config=config, local=local)


def _hub_config(model_id: str) -> dict[str, Any]:
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model_id).to_dict()
    except OSError as exc:
        raise UserError(f"cannot fetch '{model_id}' from the Hugging Face hub, and no such local folder exists "
                        f"({str(exc).splitlines()[0][:160]})") from None


def resolve(model: str, specs: list[TaskSpec], trust_remote_code: bool = False,
            allow_pickle: bool = False) -> Resolution:
    """Decide which checkpoint serves each task; a task nothing can serve is skipped with a reason."""
    path = Path(model).expanduser()
    from .families import family_of

    names = [s.task for s in specs]
    checkpoints: dict[str, Checkpoint] = {}
    skipped: dict[str, str] = {}
    if is_suite(path, names):
        encoder = None
        if (path / "encoder" / "config.json").is_file():
            encoder = _checkpoint(str(path / "encoder"), trust_remote_code, allow_pickle)
        for spec in specs:
            sub = path / spec.task
            if family_of(spec).head is None:  # retrieval: the encoder, no head
                if encoder is not None:
                    checkpoints[spec.task] = encoder
                else:
                    skipped[spec.task] = f"the suite has no {path / 'encoder'} checkpoint for retrieval"
                continue
            if not (sub / "config.json").is_file():
                skipped[spec.task] = f"the suite has no checkpoint {sub}"
                continue
            ck = _checkpoint(str(sub), trust_remote_code, allow_pickle)
            _assign(ck, spec, checkpoints, skipped)
        return Resolution(checkpoints, skipped, "suite")
    ck = _checkpoint(model, trust_remote_code, allow_pickle)
    for spec in specs:
        if family_of(spec).head is None:
            checkpoints[spec.task] = ck  # the encoder inside any head checkpoint serves retrieval
        else:
            _assign(ck, spec, checkpoints, skipped)
    return Resolution(checkpoints, skipped, "checkpoint" if ck.local else "hub")


def _assign(ck: Checkpoint, spec: TaskSpec, checkpoints: dict, skipped: dict) -> None:
    from .families import family_of

    fam = family_of(spec)
    head = ck.head()
    if head != spec.family:
        have = f"a {head} head" if head else "no task head"
        skipped[spec.task] = (f"{ck.path} has {have} ({', '.join(ck.architectures) or 'no architectures'}); "
                              f"{spec.task} needs a {spec.family} head (*{fam.head})")
        return
    if fam.needs_labels:
        ck = Checkpoint(ck.path, ck.config, ck.local, match_labels(ck, spec))
    checkpoints[spec.task] = ck


def _bad_checkpoint_file(exc: Exception) -> bool:
    """A load failure caused by the checkpoint's files (corrupt weights, bad config values), not by a bug."""
    return isinstance(exc, (OSError, ValueError)) or type(exc).__module__.startswith(
        ("safetensors", "huggingface_hub", "tokenizers"))


def _first_line(exc: Exception) -> str:
    """The gist of a loader's message on one line (some put what was expected on their second line)."""
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:240]


def load_tokenizer(ck: Checkpoint, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(ck.path, use_fast=True, trust_remote_code=trust_remote_code)
    except Exception as exc:
        if not _bad_checkpoint_file(exc):
            raise
        raise UserError(f"cannot load the tokenizer of {ck.path}: {_first_line(exc)}") from None
    if not getattr(tok, "is_fast", False):
        raise UserError(f"the tokenizer of {ck.path} has no fast (Rust) version; character offsets need one")
    return tok


def load_model(ck: Checkpoint, family: str, device, dtype, trust_remote_code: bool = False,
               allow_pickle: bool = False):
    """Load the model a family needs (its head class; the bare encoder for retrieval), ready for inference."""
    import transformers

    from .engine import load_kwargs, prepare_model
    from .families import FAMILIES

    transformers.utils.logging.disable_progress_bar()  # our own bars say what is running
    cls = getattr(transformers, FAMILIES[family].auto_class)
    kwargs = dict(load_kwargs(device, dtype))
    kwargs["trust_remote_code"] = trust_remote_code
    kwargs["use_safetensors"] = None if allow_pickle else True
    try:
        model = cls.from_pretrained(ck.path, **kwargs)
    except Exception as exc:
        if not _bad_checkpoint_file(exc):
            raise
        raise UserError(f"cannot load {ck.path} as a {family} model: {_first_line(exc)}") from None
    return prepare_model(model, device, dtype)
