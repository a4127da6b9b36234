"""Resolving ``--model``: a checkpoint, a hub id, a suite folder or a suite manifest; loading safely.

A suite is a folder with one checkpoint per task (``ckpt/xnli/``,
``ckpt/panx/``, ...) and optionally ``ckpt/encoder/`` for the retrieval tasks,
or a manifest (:mod:`xtreme_harness.producers.manifest`) naming a hub id or folder per
task. A hub id is resolved through the real hub code (``snapshot_download``:
the local hub cache, or a download) to a snapshot folder, whose name is the
commit that was scored. The head a checkpoint carries is read from its config
(``architectures``, ``id2label``), and its label names are matched to the
task's label set by name, never by position, after an optional label map.
Remote code runs only when asked for; pickled ``.bin`` weights load only with
``allow_pickle``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.errors import UserError, clip
from ..io.network import hub_reachable
from ..spec import TaskSpec

WEIGHT_FILES_SAFE = ("model.safetensors", "model.safetensors.index.json")
WEIGHT_FILES_PICKLE = ("pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "spm.model", "vocab.txt", "tokenizer.model")


@dataclass
class Checkpoint:
    """One checkpoint that serves one task: where it is, which commit, and how its labels map to the task's."""

    path: str  # a local folder (a hub id is resolved to its snapshot folder)
    config: dict[str, Any]
    local: bool
    task_labels: dict[int, str] = field(default_factory=dict)  # model label id -> task label
    model_id: str = ""  # what the user named: a hub id or a folder
    revision: str | None = None  # the hub revision asked for
    commit: str | None = None  # the commit scored (hub snapshots)
    label_map: dict[str, str] | None = None  # checkpoint label -> task label, as the user gave it

    def identity(self) -> dict[str, Any]:
        """What results.json records of the checkpoint that served a task."""
        return {"model": self.model_id or self.path, "path": self.path, "revision": self.revision,
                "commit": self.commit,
                "label_map": {self.config_labels()[i]: t for i, t in sorted(self.task_labels.items())}
                if self.task_labels else None}

    def config_labels(self) -> dict[int, str]:
        try:
            return _label_ids(self.config.get("id2label"))
        except (TypeError, ValueError):
            return {}

    @property
    def architectures(self) -> list[str]:
        return list(self.config.get("architectures") or [])

    def head(self) -> str | None:
        """The family whose head this checkpoint carries (None: a bare encoder or an unknown head)."""
        from ..families import head_family

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
    kind: str  # "checkpoint", "hub", "suite" or "manifest"
    name: str | None = None  # a manifest's name
    defaults: dict[str, Any] = field(default_factory=dict)  # a manifest's defaults (pooling, layer, max_length)


def _read_config(path: Path) -> dict[str, Any]:
    from ..io.files import read_bytes, read_text
    from ..io.jsonfile import load_json_text, parse_json

    cfg = path / "config.json"
    if not cfg.is_file():
        raise UserError("not a checkpoint: config.json is missing", path)
    if read_bytes(cfg, "config.json").startswith(b"\xef\xbb\xbf"):  # transformers reads it without BOM handling
        raise UserError("config.json starts with a UTF-8 byte order mark, which transformers cannot read; "
                        "expected plain UTF-8 JSON (save it without the BOM)", cfg, 1)
    text = read_text(cfg, "config.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"config.json is not valid JSON: {exc.msg} (column {exc.colno}); expected a JSON object",
                        cfg, exc.lineno) from None
    except (RecursionError, ValueError):  # nested too deeply, or a number of thousands of digits
        parse_json(text, cfg, "config.json")  # raises the one-line error for this text
        raise
    load_json_text(text, cfg, "config.json")  # a key given twice: refused, naming both lines
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
    """Map the checkpoint's label ids to the task's labels: through ``ckpt.label_map``, else by name (any case).

    Every checkpoint label must land on a task label (a map can send several to
    one, e.g. ``B-MISC=O``), and every task label must be reachable.
    """
    id2label = ckpt.config.get("id2label") or {}
    try:
        model_labels = _label_ids(id2label)
    except (TypeError, ValueError):
        where = _config_line(ckpt.path, "id2label") if ckpt.local else (None, None)
        raise UserError(f"id2label of {ckpt.path} must map integer label ids to label names; "
                        "expected e.g. {\"0\": \"entailment\", \"1\": \"neutral\"}", *where) from None
    _check_label_ids(ckpt, model_labels)
    task_labels = list(spec.labels or ())
    by_lower = {t.lower(): t for t in task_labels}
    user_map = {k.lower(): v for k, v in (ckpt.label_map or {}).items()}
    names_lower = {name.lower() for name in model_labels.values()}
    for key, value in (ckpt.label_map or {}).items():
        if key.lower() not in names_lower:
            raise UserError(f"label map entry {key}={value}: '{key}' is not a label of {ckpt.model_id or ckpt.path} "
                            f"(it has: {', '.join(model_labels[i] for i in sorted(model_labels))})")
        if value.lower() not in by_lower:
            raise UserError(f"label map entry {key}={value}: '{value}' is not a label of task {spec.task} "
                            f"(it has: {', '.join(task_labels)})")
    mapping = {}
    for idx, name in model_labels.items():
        target = user_map.get(name.lower(), name)
        if target.lower() in by_lower:
            mapping[idx] = by_lower[target.lower()]
    unmapped = [model_labels[i] for i in sorted(model_labels) if i not in mapping]
    uncovered = [t for t in task_labels if t not in set(mapping.values())]
    if unmapped or uncovered or not model_labels:
        raise UserError(
            f"the labels of {ckpt.model_id or ckpt.path} do not match task {spec.task}: checkpoint has "
            f"[{', '.join(model_labels[i] for i in sorted(model_labels))}], task expects [{', '.join(task_labels)}]"
            f"{_suggest(unmapped, uncovered, task_labels, len(mapping))}")
    return mapping


def _label_ids(id2label: Any) -> dict[int, str]:
    """``id2label`` with integer ids; only ASCII digits make an id (``int()`` would take '０' or '²')."""
    from ..io.jsonfile import is_index

    out = {}
    for k, v in dict(id2label or {}).items():
        if isinstance(k, bool) or not (isinstance(k, int) or is_index(str(k))):
            raise ValueError(k)
        out[int(k)] = str(v)
    return out


def _check_label_ids(ckpt: Checkpoint, model_labels: dict[int, str]) -> None:
    """Ids 0..n-1 with no gap (logit i is label i) and no name twice (which logit would it be?)."""
    where = _config_line(ckpt.path, "id2label") if ckpt.local else (None, None)
    n = ckpt.config.get("num_labels") or len(model_labels)
    if sorted(model_labels) != list(range(len(model_labels))):
        gaps = sorted(set(range(max(model_labels, default=-1) + 1)) - set(model_labels))[:5]
        raise UserError(f"id2label of {ckpt.path} must number its labels 0..{len(model_labels) - 1} without gaps "
                        f"(ids {sorted(model_labels)[:8]}{'...' if len(model_labels) > 8 else ''}; missing "
                        f"{gaps or 'none'}, or negative ids)", *where)
    if isinstance(n, int) and n != len(model_labels) and "num_labels" in ckpt.config:
        raise UserError(f"config.json of {ckpt.path} says num_labels {n} but id2label names {len(model_labels)} "
                        "labels", *where)
    seen: dict[str, int] = {}
    for idx in sorted(model_labels):
        name = model_labels[idx].lower()
        if name in seen:
            raise UserError(f"id2label of {ckpt.path} names '{clip(model_labels[idx])}' twice (ids {seen[name]} and "
                            f"{idx}); expected one id per label", *where)
        seen[name] = idx


def _suggest(unmapped: list[str], uncovered: list[str], task_labels: list[str], matched: int) -> str:
    """A label map that would fit, where one can be guessed: generic names (LABEL_0...) or a few renamed labels
    paired in order with the task's unmatched ones, or extra labels (B-MISC) sent to 'O'."""
    generic = all(re.fullmatch(r"(LABEL_)?\d+", name, re.IGNORECASE) for name in unmapped)
    pairs = None
    if unmapped and len(unmapped) == len(uncovered) and (generic or matched):
        pairs = list(zip(unmapped, uncovered))
    elif unmapped and not uncovered and "O" in task_labels:
        pairs = [(name, "O") for name in unmapped]
    if not pairs:
        return "; set id2label in its config.json to the task's label names, or give a label map"
    hint = ",".join(f"{a}={b}" for a, b in pairs)
    return f"; a label map such as --label-map {hint} (label_map in a manifest) would fit, if the model card agrees"


def _config_line(ck_path: str, key: str) -> tuple[str | None, int | None]:
    """(config.json, line of ``key``) of a local checkpoint, for messages; (None, None) for hub ids."""
    from ..io.jsonfile import json_line

    cfg = Path(ck_path) / "config.json"
    try:
        return str(cfg), json_line(cfg.read_text(encoding="utf-8"), f'"{key}"')
    except (OSError, UnicodeDecodeError):
        return None, None


def _checkpoint(path: str, trust_remote_code: bool, allow_pickle: bool, need_tokenizer: bool = True,
                revision: str | None = None, label_map: dict[str, str] | None = None) -> Checkpoint:
    from .manifest import looks_local

    p = Path(path).expanduser()
    model_id, commit = path, None
    if not looks_local(path):
        p = Path(hub_snapshot(path, revision, allow_pickle))
        commit = p.name
    elif revision is not None:
        raise UserError(f"a revision ({revision}) applies to hub ids, not to the local folder", path)
    if not p.exists():
        raise UserError("checkpoint folder not found", path)
    if not p.is_dir():
        raise UserError("expected a checkpoint folder, found a file", p)
    if commit is None and p.resolve().parent.name == "snapshots" and p.resolve().parent.parent.name.startswith(
            "models--"):  # a folder inside a hub cache: its name is the commit
        commit = p.resolve().name
    config = _read_config(p)
    check_local_checkpoint(p, allow_pickle, need_tokenizer)
    if needs_remote_code(config) and not trust_remote_code:
        raise UserError(f"checkpoint {path} needs custom code from its repository (auto_map in config.json); "
                        "pass --trust-remote-code only if you trust it", *_config_line(str(p), "auto_map"))
    return Checkpoint(path=str(p), config=config, local=True, model_id=model_id, revision=revision, commit=commit,
                      label_map=label_map)


# The files a checkpoint needs: its config, safetensors weights and tokenizer (never ONNX, TF or Flax copies).
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]


def hub_snapshot(model_id: str, revision: str | None, allow_pickle: bool = False) -> str:
    """The local snapshot folder of a hub model at ``revision`` (default: main), from the cache or downloaded."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub import errors as hub_errors

    where = f"'{model_id}'" + (f" at revision {revision}" if revision else "")
    patterns = HUB_FILES + (["*.bin"] if allow_pickle else [])
    try:
        # an unreachable hub: the cache only, at once (the download would retry for half a minute)
        cache_only = constants.HF_HUB_OFFLINE or not hub_reachable(constants.ENDPOINT)
        return snapshot_download(model_id, revision=revision, allow_patterns=patterns, local_files_only=cache_only)
    except hub_errors.GatedRepoError:
        raise UserError(f"{where} is gated on the Hugging Face hub: accept its terms on the model page and log in "
                        "(huggingface-cli login, or set HF_TOKEN)") from None
    except hub_errors.RepositoryNotFoundError:
        raise UserError(f"{where} is not a model on the Hugging Face hub (or it is private; log in to reach it), "
                        "and no such local folder exists") from None
    except hub_errors.RevisionNotFoundError:
        raise UserError(f"{where}: the hub has no such revision (expected a branch, tag or commit of "
                        f"{model_id})") from None
    except hub_errors.LocalEntryNotFoundError:
        folder = Path(constants.HF_HUB_CACHE) / ("models--" + model_id.replace("/", "--"))
        cached = sorted(p.name for p in (folder / "snapshots").iterdir()) if (folder / "snapshots").is_dir() else []
        if cached:
            raise UserError(f"{where} is not in the local hub cache and the hub cannot be reached "
                            f"(cached commits: {', '.join(c[:12] for c in cached)})") from None
        raise UserError(f"{where} is not in the local hub cache ({constants.HF_HUB_CACHE}) and the hub cannot be "
                        "reached (offline); download it first, or name a local folder") from None
    except hub_errors.HFValidationError as exc:
        raise UserError(f"'{model_id}' is neither a local folder nor a valid hub id: {str(exc).splitlines()[0]}") \
            from None
    except (OSError, hub_errors.HfHubHTTPError) as exc:
        raise UserError(f"cannot fetch {where} from the Hugging Face hub: {_first_line(exc)}") from None


def resolve(model: str, specs: list[TaskSpec], trust_remote_code: bool = False, allow_pickle: bool = False,
            label_map: dict[str, str] | None = None, task_dirs=None) -> Resolution:
    """Decide which checkpoint serves each task; a task nothing can serve is skipped with a reason.

    ``label_map`` (``--label-map``) applies to a single checkpoint; a manifest gives one per entry.
    """
    from ..families import family_of
    from .manifest import is_manifest, load_manifest

    path = Path(model).expanduser()
    names = [s.task for s in specs]
    checkpoints: dict[str, Checkpoint] = {}
    skipped: dict[str, str] = {}
    if label_map and (is_manifest(model) or is_suite(path, names)):
        raise UserError("--label-map applies to a single checkpoint; give a suite's label maps in a manifest "
                        "(label_map under each task)")
    if is_manifest(model):
        manifest = load_manifest(model, task_dirs)
        loaded: dict[tuple, Checkpoint] = {}
        for spec in specs:
            found = manifest.entry_for(spec.task, family_of(spec).needs_encoder)
            if found is None:
                skipped[spec.task] = f"the manifest {manifest.path} names no checkpoint for {spec.task}"
                continue
            key, entry = found
            try:
                ident = (entry.model, entry.revision, tuple(sorted((entry.label_map or {}).items())))
                if ident not in loaded:
                    loaded[ident] = _checkpoint(entry.model, trust_remote_code, allow_pickle,
                                                revision=entry.revision, label_map=entry.label_map)
                _assign(loaded[ident], spec, checkpoints, skipped)
            except UserError as exc:
                raise UserError(f"{key}: {exc}", manifest.path, entry.line) from None
        return Resolution(checkpoints, skipped, "manifest", manifest.name, manifest.defaults)
    if is_suite(path, names):
        encoder = None
        if (path / "encoder" / "config.json").is_file():
            encoder = _checkpoint(str(path / "encoder"), trust_remote_code, allow_pickle)
        for spec in specs:
            sub = path / spec.task
            if family_of(spec).needs_encoder:  # retrieval: the encoder, no head
                if encoder is not None:
                    checkpoints[spec.task] = encoder
                else:
                    skipped[spec.task] = f"the suite has no {path / 'encoder'} checkpoint for retrieval"
                continue
            if not (sub / "config.json").is_file():
                skipped[spec.task] = f"the suite has no checkpoint {sub}"
                continue
            _assign(_checkpoint(str(sub), trust_remote_code, allow_pickle), spec, checkpoints, skipped)
        return Resolution(checkpoints, skipped, "suite")
    ck = _checkpoint(model, trust_remote_code, allow_pickle, label_map=label_map)
    for spec in specs:
        _assign(ck, spec, checkpoints, skipped)
    return Resolution(checkpoints, skipped, "hub" if ck.commit and not Path(model).exists() else "checkpoint")


def _assign(ck: Checkpoint, spec: TaskSpec, checkpoints: dict, skipped: dict) -> None:
    """``ck`` serves ``spec`` when it carries the family's head (any checkpoint's encoder serves retrieval)."""
    from ..families import family_of

    fam = family_of(spec)
    if fam.needs_encoder:
        checkpoints[spec.task] = ck
        return
    head = ck.head()
    if head != spec.family:
        have = f"a {head} head" if head else "no task head"
        skipped[spec.task] = (f"{ck.model_id or ck.path} has {have} ({', '.join(ck.architectures) or 'no architectures'}); "
                              f"{spec.task} needs a {spec.family} head (*{fam.head})")
        return
    if fam.needs_labels:
        ck = dataclasses.replace(ck, task_labels=match_labels(ck, spec))
    checkpoints[spec.task] = ck


def _first_line(exc: Exception) -> str:
    """The gist of a loader's message on one line (some put what was expected on their second line)."""
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:240]




def config_positions(config: dict[str, Any]) -> int | None:
    """How many sub-tokens a model's absolute position embeddings can read, from its config (None: no known
    limit, e.g. relative positions). RoBERTa-style models start counting after the padding index."""
    n = config.get("max_position_embeddings")
    if not (isinstance(n, int) and not isinstance(n, bool) and n > 0) or \
            config.get("position_embedding_type", "absolute") != "absolute" or \
            not config.get("position_biased_input", True):
        return None
    kind = str(config.get("model_type", ""))
    if "roberta" in kind or kind in ("camembert", "longformer", "data2vec-text", "xmod"):
        pad = config.get("pad_token_id")
        n -= (pad if isinstance(pad, int) and not isinstance(pad, bool) else 1) + 1  # positions after padding
    return n if n > 0 else None


def position_limit(model: str, tokenizer=None) -> int | None:
    """The fewest sub-tokens the model (its config's positions) and its tokenizer (``model_max_length``) read."""
    limits = []
    m = getattr(tokenizer, "model_max_length", None)
    if isinstance(m, int) and 0 < m < 10**7:
        limits.append(m)
    cfg = Path(model) / "config.json"
    if cfg.is_file():
        from ..io.jsonfile import read_json

        try:
            data = read_json(cfg, "model config")
        except UserError:
            data = None
        n = config_positions(data) if isinstance(data, dict) else None
        if n is not None:
            limits.append(n)
    return min(limits) if limits else None
