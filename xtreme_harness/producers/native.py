"""Transformers checkpoints as producers: one checkpoint, a suite, a manifest or a hub id (``xtreme-eval``'s own).

Which checkpoint serves which task is decided in :mod:`.checkpoints`; here the
checkpoints are loaded with the class their task family names (safetensors
only unless ``allow_pickle``; remote code only when asked), checked (every
tensor the model needs is in the file, every token id has an embedding row),
and run: a family with a task head gets a :class:`TransformersHead`, a
retrieval family an encoder (XTREME's hidden-layer protocol, cached). Models
and tokenizers are loaded once and reused across languages; one model is held
in memory at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..families import FAMILIES, Predictions, Settings, family_of
from ..io import progress
from ..io.errors import UserError
from ..io.featcache import FeatureCache
from ..io.reads import file_fingerprint, folder_fingerprint
from ..options import EvalOptions
from ..spec import TaskSpec
from .checkpoints import Checkpoint, _first_line, config_positions, resolve
from .distributed import is_main, local_device
from .embedding import CachedEncoder, HiddenStateEncoder, default_layer
from .transformers_import import transformers_module, transformers_name

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "sentencepiece.bpe.model", "spm.model", "tokenizer.model", "vocab.txt", "vocab.json", "merges.txt")


def tokenizer_digest(path: str) -> str:
    """Which tokenizer a checkpoint folder holds, by the content of its tokenizer files."""
    parts = [(name, file_fingerprint(Path(path) / name)[1]) for name in TOKENIZER_FILES]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class TransformersHead:
    """A transformers model with a task head, as a family runs it (:class:`~xtreme_harness.families.Head`).

    With ``load_tokenizer`` the tokenizer is loaded on first use only: features found in the feature cache
    (``feature_cache``, keyed by ``tokenizer_key``, the tokenizer files' digest) need none."""

    def __init__(self, model, tokenizer, engine, labels: dict[int, str] | None, feature_cache=None,
                 tokenizer_key: str | None = None, load_tokenizer=None):
        self.model, self._tokenizer, self.engine, self.labels = model, tokenizer, engine, labels
        self.feature_cache, self.tokenizer_key, self._load_tokenizer = feature_cache, tokenizer_key, load_tokenizer

    @property
    def tokenizer(self):
        if self._tokenizer is None and self._load_tokenizer is not None:
            self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def run(self, features, forward, desc="", token_keys=None, pad_to=None):
        return self.engine.run(self.model, features, lambda m, batch: forward(lambda b: m(**b), batch), desc=desc,
                               token_keys=token_keys, pad_to=pad_to)


class CheckpointProducer:
    """Predictions of transformers checkpoints (see the module docstring)."""

    needs_gold = False

    def __init__(self, options: EvalOptions):
        self.options = options
        self.resolution = None
        self.engine = None
        self._models: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._encoders: OrderedDict[tuple, CachedEncoder] = OrderedDict()
        self._tokenizers: dict[str, Any] = {}  # by the digest of the tokenizer files: suites share one
        self._loading_tokenizer = threading.Lock()
        self.feature_cache = FeatureCache() if getattr(options, "feature_cache", False) else None

    # --- which checkpoint serves which task ------------------------------------------------------
    def prepare(self, specs):
        """Resolve which checkpoint serves each of ``specs`` (added to what earlier calls resolved)."""
        o = self.options
        res = resolve(o.model, list(specs), o.trust_remote_code, o.allow_pickle, o.label_map, o.task_dirs)
        if self.resolution is None:
            self.resolution = res
        else:
            self.resolution.checkpoints.update(res.checkpoints)
            self.resolution.skipped.update(res.skipped)
        return dict(res.skipped)

    def defaults(self):
        return dict(self.resolution.defaults)

    def checkpoint(self, spec: TaskSpec) -> Checkpoint:
        return self.resolution.checkpoints[spec.task]

    def model_info(self) -> dict[str, Any]:
        """What was scored: the checkpoint(s), each task's model id, commit and label map, and its STILTs lineage."""
        res, model = self.resolution, self.options.model
        cks = list(res.checkpoints.values())
        intermediate = None
        base = None
        for ck in cks:
            if "xtreme_intermediate" in ck.config:
                intermediate = list(ck.config.get("xtreme_intermediate") or [])
                base = ck.config.get("xtreme_base_model")
                break
        commits = {ck.commit for ck in cks}
        revision = next(iter(commits)) if len(commits) == 1 else None
        info = {"name": res.name or Path(model.rstrip("/")).name or model, "path": model, "revision": revision,
                "kind": res.kind, "protocol": "fine-tuned transfer", "intermediate": intermediate,
                "base_model": base, "checkpoints": {t: ck.path for t, ck in res.checkpoints.items()},
                "tasks": {t: ck.identity() for t, ck in res.checkpoints.items()}}
        training = training_record(res, model)
        if training is not None:
            info["training"] = training
        return info

    def identity(self, spec: TaskSpec) -> dict[str, Any]:
        ck = self.checkpoint(spec)
        out: dict[str, Any] = {"model": ck.path, "checkpoint": folder_fingerprint(ck.path), "labels": ck.task_labels}
        if family_of(spec).needs_encoder:
            out.update(layer=self.layer(ck), pooling=self.options.pooling)
        return out

    # --- loading ---------------------------------------------------------------------------------
    def _engine(self):
        if self.engine is None:
            from .distributed import ShardedEngine
            from .engine import InferenceEngine

            o = self.options
            self.engine = ShardedEngine(InferenceEngine(device=local_device(o.device), dtype=o.dtype,
                                                        batch_size=o.batch_size, progress=o.progress and is_main()))
        return self.engine

    def tokenizer(self, ck: Checkpoint):
        """The checkpoint's tokenizer, parsed once per run for every checkpoint whose tokenizer files are the
        same bytes (a 17 MB tokenizer.json takes seconds to parse)."""
        key = tokenizer_digest(ck.path)
        with self._loading_tokenizer:  # the run loop's look-ahead thread may ask for it at the same time
            if key not in self._tokenizers:
                self._tokenizers[key] = load_tokenizer(ck, self.options.trust_remote_code)
        return self._tokenizers[key]

    def vocabulary_top(self, ck: Checkpoint) -> int | None:
        """The largest id the checkpoint's tokenizer produces: kept in the feature cache by the tokenizer files'
        digest, so that a run whose features are all cached never loads the tokenizer."""
        key = f"vocabulary-top-{tokenizer_digest(ck.path)}"
        if self.feature_cache is not None:
            hit = self.feature_cache.load(key)
            if hit is not None and "top" in hit[1]:
                return hit[1]["top"]
        top = vocabulary_top(self.tokenizer(ck))
        if self.feature_cache is not None and top is not None:
            self.feature_cache.save(key, {}, {"top": top})
        return top

    def model(self, ck: Checkpoint, family: str):
        key = (ck.path, family)
        if key not in self._models:
            self._models.clear()  # one model in memory at a time
            self._encoders.clear()
            o = self.options
            progress.status(f"loading {ck.model_id or ck.path}", announce=True)
            model = load_model(ck, family, self._engine().device, o.dtype, o.trust_remote_code, o.allow_pickle)
            check_vocabulary_top(ck.path, model, self.vocabulary_top(ck))
            self._models[key] = model
        return self._models[key]

    def layer(self, ck: Checkpoint) -> int:
        n = ck.num_hidden_layers
        chosen = self.options.retrieval_layer
        layer = chosen if chosen is not None else default_layer(n)
        if n is not None and not 0 <= layer <= n:
            raise UserError(f"--retrieval-layer {layer} is outside 0..{n} for {ck.path} ({n} layers; 0 is the "
                            "embedding output)")
        return layer

    def head(self, spec: TaskSpec) -> TransformersHead:
        """The model serving ``spec``'s task head, ready to run."""
        ck = self.checkpoint(spec)
        model = self.model(ck, spec.family)
        return TransformersHead(model, None, self._engine(), ck.task_labels, self.feature_cache,
                                tokenizer_digest(ck.path), lambda: self.tokenizer(ck))

    def encoder(self, spec: TaskSpec) -> CachedEncoder:
        ck = self.checkpoint(spec)
        model = self.model(ck, spec.family)
        key = (ck.path, self.layer(ck), self.options.pooling)
        if key not in self._encoders:
            inner = HiddenStateEncoder(model, None, self._engine(), key[1], key[2], self.feature_cache,
                                       tokenizer_digest(ck.path), lambda: self.tokenizer(ck))
            identity = [getattr(model, "name_or_path", "") or "", model.config.to_json_string(),
                        self.options.dtype, folder_fingerprint(ck.path)]
            self._encoders[key] = CachedEncoder(inner, identity, self.options.embedding_cache)
        return self._encoders[key]

    def fit_lengths(self, spec: TaskSpec, settings):
        """The settings with every sequence length within what the checkpoint's position table reads: a length
        asked for (``--max-length``, a manifest's default) beyond it is refused by name; a task's own default
        beyond it is cut to it, and the cut is recorded in the language's stats."""
        ck = self.checkpoint(spec)
        limit = config_positions(ck.config)
        keys = [k for k in ("max_length", "query_max_length", "candidate_max_length") if k in settings.values]
        over = {k: settings[k] for k in keys if limit is not None and settings[k] > limit}
        if not over:
            return settings, {}
        if self.options.max_length is not None and self.options.max_length > limit:
            raise UserError(f"--max-length {self.options.max_length} is more than the {limit} sub-tokens "
                            f"{ck.model_id or ck.path} can read (max_position_embeddings in its config.json); "
                            f"expected at most {limit}")
        return Settings({**settings.values, **{k: limit for k in over}}), {k: [v, limit] for k, v in over.items()}

    def warm(self, spec: TaskSpec) -> None:
        """Load the model serving ``spec`` now (the run loop calls this while the data is featurised)."""
        self.model(self.checkpoint(spec), spec.family)

    def prefetch(self, spec: TaskSpec, lang: str, examples: Any, settings) -> None:
        """Featurise ``examples`` ahead (the run loop calls this in a thread while the model runs on the
        language before): tokenizer only, never a model, so the model in memory stays the one running."""
        fam = family_of(spec)
        if fam.needs_encoder:
            return
        ck = self.checkpoint(spec)
        head = TransformersHead(None, None, None, ck.task_labels, self.feature_cache, tokenizer_digest(ck.path),
                                lambda: self.tokenizer(ck))
        fam.rows(examples, head, self.fit_lengths(spec, settings)[0], ahead=True)

    def predict(self, spec: TaskSpec, lang: str, examples: Any, settings) -> Predictions:
        fam = family_of(spec)
        settings, capped = self.fit_lengths(spec, settings)
        model = self.encoder(spec) if fam.needs_encoder else self.head(spec)
        if not fam.needs_encoder and hasattr(examples, "__len__"):
            progress.status(f"tokenising {len(examples):,} examples")
        predictions = fam.predict(spec, examples, settings, model, lang)
        if capped:  # [asked, read]: the model's positions cut the task's own length
            predictions.stats["lengths_cut_to_model"] = capped
        return predictions

    def close(self) -> None:
        self._models.clear()
        self._encoders.clear()


# --- what the trainer recorded ----------------------------------------------------------------------

TRAINING_FILE = "xtreme_train.json"  # written by xtreme-train beside every checkpoint it makes
_AGREE = ("seed", "intermediate", "mlm", "base_model", "base_model_revision", "base_model_fingerprint", "parameters")


def _training_block(folder: str) -> dict[str, Any] | None:
    """The ``training`` record of a checkpoint the trainer made (None: none, or not the trainer's)."""
    from ..io.jsonfile import read_json

    path = Path(folder) / TRAINING_FILE
    if not path.is_file():
        return None
    data = read_json(path, "training record")
    t = data.get("training") if isinstance(data, dict) else None
    if not isinstance(t, dict):
        return None
    if not all(key in t for key in _AGREE) or not isinstance(t.get("target"), dict):
        raise UserError(f"the training record lacks {', '.join(k for k in (*_AGREE, 'target') if k not in t)}; "
                        "expected the record xtreme-train writes", path)
    return t


def training_record(res, model: str) -> dict[str, Any] | None:
    """``results.json["model"]["training"]``: what the trainer recorded in the checkpoints that were scored.

    For a suite, every checkpoint the trainer wrote into it (``<task>/`` and ``encoder/``, whichever tasks this
    run evaluates, so that two passes over one suite record the same) must agree on the seed, the intermediate
    tasks, the MLM, the base model and the parameter count; ``target`` gathers each task checkpoint's target
    hyper-parameters. None when a scored checkpoint carries no record (it was not made by the trainer)."""
    scored = sorted({ck.path for ck in res.checkpoints.values()})
    if not scored:
        return None
    folders = list(scored)
    if res.kind == "suite":
        root = Path(model).expanduser()
        folders = sorted({*scored, *(str(d) for d in root.iterdir()
                                     if d.is_dir() and not d.name.startswith(".") and (d / TRAINING_FILE).is_file()
                                     and (d / "config.json").is_file())})
    blocks = {f: _training_block(f) for f in folders}
    if any(blocks[f] is None for f in scored):
        return None
    blocks = {f: b for f, b in blocks.items() if b is not None}
    first_folder, first = next(iter(blocks.items()))
    target: dict[str, Any] = {}
    for folder, b in blocks.items():
        for key in _AGREE:
            if b[key] != first[key]:
                raise UserError(f"the checkpoints of this suite were trained differently: {key} is "
                                f"{json.dumps(first[key])} in {first_folder} but {json.dumps(b[key])} in {folder}; "
                                "expected one run's checkpoints", model)
        target.update(b["target"])
    return {**{key: first[key] for key in _AGREE}, "target": dict(sorted(target.items()))}


@contextlib.contextmanager
def quiet_transformers():
    """No load bars or load reports from transformers: our own bars say what runs, and its load report is ours
    to give, as one line."""
    transformers = transformers_module()
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(verbosity)


def _bad_checkpoint_file(exc: Exception) -> bool:
    """A load failure caused by the checkpoint's files (corrupt weights, bad config values, tensors whose
    shapes contradict the config), not by a bug: anything ``from_pretrained`` raises but a missing library."""
    return not isinstance(exc, (ImportError, MemoryError, NotImplementedError))


def _added_tokens(path: Path, head_bytes: int = 2**20) -> list | None:
    """The ``added_tokens`` array of a ``tokenizer.json``, read from the file's first MiB: the tokenizers
    library writes it before the normalizer and the model, so the (often 17 MB) rest need not be parsed.
    None when it is not there (the caller then loads the usual way)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(head_bytes)
    except (OSError, UnicodeDecodeError):
        return None
    decoder = json.JSONDecoder()
    i = len(text) - len(text.lstrip())
    if not text[i:i + 1] == "{":
        return None
    i += 1
    try:
        while True:
            i += len(text[i:]) - len(text[i:].lstrip())
            key, i = decoder.raw_decode(text, i)
            i += len(text[i:]) - len(text[i:].lstrip())
            if not isinstance(key, str) or text[i:i + 1] != ":":
                return None
            i += 1
            i += len(text[i:]) - len(text[i:].lstrip())
            value, i = decoder.raw_decode(text, i)
            if key == "added_tokens":
                return value if isinstance(value, list) else None
            i += len(text[i:]) - len(text[i:].lstrip())
            if text[i:i + 1] != ",":
                return None
            i += 1
    except (ValueError, IndexError):  # a value past the first MiB, or not JSON
        return None


def _parse_once_kwargs(path: str) -> dict[str, Any]:
    """``from_pretrained`` arguments that spare transformers 5 its own Python parse of ``tokenizer.json``.

    A checkpoint whose ``tokenizer_config.json`` has no ``added_tokens_decoder`` (an older save) makes
    transformers read the whole ``tokenizer.json`` with ``json.load`` just for its ``added_tokens``, and then
    the Rust library parses the file again. Passing ``added_tokens_decoder`` (read off the file's head) and
    the ``special_tokens_map.json`` entries that the same legacy step would have merged (as it would have)
    leaves only the Rust parse. Anything unusual (transformers 4, an ``added_tokens.json``, extra special
    tokens, a config that has the decoder already) gets no arguments: the usual load."""
    transformers = transformers_module()
    folder = Path(path)
    if not transformers.__version__.split(".")[0].isdigit() or int(transformers.__version__.split(".")[0]) < 5:
        return {}
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        special = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8")) \
            if (folder / "special_tokens_map.json").is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict) or "added_tokens_decoder" in config or (folder / "added_tokens.json").exists() \
            or not (folder / "tokenizer.json").is_file() or not isinstance(special, dict) \
            or {"extra_special_tokens", "additional_special_tokens"} & set(special):
        return {}
    added = _added_tokens(folder / "tokenizer.json")
    if added is None or not all(isinstance(t, dict) and isinstance(t.get("id"), int) for t in added):
        return {}
    AddedToken = transformers_name("AddedToken")
    kwargs: dict[str, Any] = {"added_tokens_decoder": {t["id"]: {k: v for k, v in t.items() if k != "id"}
                                                       for t in added}}
    for key, value in special.items():
        if isinstance(value, dict):
            value = AddedToken(**{k: v for k, v in value.items() if k != "special"}, special=True)
        kwargs[key] = value
    return kwargs


def load_tokenizer(ck: Checkpoint, trust_remote_code: bool = False):
    try:
        tok = transformers_name("AutoTokenizer").from_pretrained(
            ck.path, use_fast=True, trust_remote_code=trust_remote_code, **_parse_once_kwargs(ck.path))
    except BaseException as exc:  # the Rust tokenizer panics (PanicException is a BaseException) on bad files
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not _bad_checkpoint_file(exc):
            raise
        raise UserError(f"cannot load the tokenizer of {ck.path}: {_first_line(exc)}") from None
    if not getattr(tok, "is_fast", False):
        raise UserError(f"the tokenizer of {ck.path} has no fast (Rust) version; character offsets need one")
    return tok


def load_model(ck: Checkpoint, family: str, device, dtype, trust_remote_code: bool = False,
               allow_pickle: bool = False):
    """Load the model a family needs (its head class; the bare encoder for retrieval), ready for inference."""
    from .engine import load_kwargs, prepare_model

    cls = transformers_name(FAMILIES[family].auto_class)
    kwargs = dict(load_kwargs(device, dtype))
    kwargs["trust_remote_code"] = trust_remote_code
    kwargs["use_safetensors"] = None if allow_pickle else True
    try:
        with quiet_transformers():
            model, info = cls.from_pretrained(ck.path, output_loading_info=True, **kwargs)
    except Exception as exc:
        if not _bad_checkpoint_file(exc):
            raise
        raise UserError(f"cannot load {ck.path} as a {family} model: {_first_line(exc)}") from None
    check_loaded_weights(ck.path, model, info, bare=FAMILIES[family].needs_encoder)
    return prepare_model(model, device, dtype)


# A bare encoder's pooler is never used (embeddings pool hidden states), and task checkpoints often lack it.
UNUSED_WHEN_BARE = ("pooler.",)


def check_loaded_weights(path: str, model, info: dict, bare: bool) -> None:
    """Refuse weights that the checkpoint lacks (transformers would fill them with random numbers) or holds
    beyond the model its config describes (a config with fewer layers than the weights).

    Loading a task checkpoint as a bare encoder leaves its head unused: those
    tensors are expected, the encoder's own are not.
    """
    missing = [k for k in info.get("missing_keys", ()) if not (bare and k.startswith(UNUSED_WHEN_BARE))]
    own = {name for name, _ in model.named_children()}
    unexpected = [k for k in info.get("unexpected_keys", ()) if not bare or k.split(".", 1)[0] in own]
    mismatched = [k for k, *_ in info.get("mismatched_keys", ())]
    for what, keys, hint in (("lacks", missing, "they would be filled with random numbers"),
                             ("holds tensors its config.json does not describe", unexpected,
                              "is the config from another model?"),
                             ("has tensors of the wrong shape", mismatched, "is the config from another model?")):
        if keys:
            shown = ", ".join(sorted(keys)[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
            lead = f"the checkpoint {what}" + (" the tensors" if what == "lacks" else "")
            raise UserError(f"{lead} {shown}; {hint}", path)


def vocabulary_top(tokenizer) -> int:
    """The largest token id a tokenizer can produce."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the model's ids are 0..n-1; added tokens may sit anywhere
        return max([backend.get_vocab_size(with_added_tokens=False) - 1, *backend.get_added_tokens_decoder()])
    return max(tokenizer.get_vocab().values(), default=-1)


def check_vocabulary(path: str, model, tokenizer) -> None:
    """Every id the tokenizer can produce must have a row in the embedding matrix (else an index error, or
    on a GPU a device assert, in the middle of a run)."""
    check_vocabulary_top(path, model, vocabulary_top(tokenizer))


def check_vocabulary_top(path: str, model, top: int | None) -> None:
    """:func:`check_vocabulary` given the tokenizer's largest id."""
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    rows = getattr(emb, "num_embeddings", None)
    if rows is None or top is None:
        return
    if top >= rows:
        raise UserError(f"the tokenizer produces ids up to {top} but the model's embedding matrix has {rows} rows; "
                        "expected the tokenizer the model was trained with", path)
