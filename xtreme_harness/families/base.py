"""What every task family shares: the Family interface, predictions, settings, features, and what a model gives.

A family owns a task type's whole flow (the MTEB idea of one class per task
type): the files a split reads and how, the examples' gold labels,
featurisation (shared by evaluation and training), one ``predict`` that runs
featurize -> model -> decode, the units a metric scores, the submission format,
the training head and loss. What it needs of a model is one of two small
protocols, so any producer can supply it: a :class:`Head` (a model with a task
head, run over features) or an :class:`Encoder` (texts in, embeddings out, as
MTEB's ``EncoderProtocol``).
"""

from __future__ import annotations

import threading

from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Iterable,
    Mapping,
    Protocol,
    Sequence,
)

if TYPE_CHECKING:
    import numpy as np

    from ..spec import TaskSpec

# The keys of a feature that a model's forward takes; every other key is bookkeeping for decoding.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class FeatureList(list):
    """A plain list of feature dicts that also carries featurisation counts.

    Being a list keeps batching code simple; ``stats`` lets the runner report
    truncation, windowing and odd tokens instead of hiding them.
    """

    def __init__(self, features=(), stats: dict[str, int] | None = None):
        super().__init__(features)
        self.stats: dict[str, int] = dict(stats or {})


def require_fast(tokenizer: Any) -> None:
    """Offsets and word ids only exist on fast (Rust-backed) tokenizers."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"a fast tokenizer is needed (got {type(tokenizer).__name__}); "
                        "load it with use_fast=True or from a tokenizer.json")


#: Bumped whenever a featuriser's output changes, so that no feature cache entry of an older one is used.
FEATURES_VERSION = 1

_LIBRARIES: list = []


def tokenizer_libraries() -> tuple:
    """The installed ``tokenizers`` and ``transformers`` versions: part of every feature cache key, since an
    upgrade of either may tokenise differently."""
    if not _LIBRARIES:
        from importlib.metadata import PackageNotFoundError, version

        for name in ("tokenizers", "transformers"):
            try:
                _LIBRARIES.append(version(name))
            except PackageNotFoundError:
                _LIBRARIES.append(None)
    return tuple(_LIBRARIES)


_AHEAD: dict[str, Any] = {}  # features made ahead (:func:`cached_rows` with ``ahead``), by key, taken once
_AHEAD_LOCK = threading.Lock()


def cached_rows(model: Any, what: str, params: Mapping[str, Any], build: Callable[[], Any],
                ahead: bool = False) -> Any:
    """Features (:class:`~.tokens.Rows`) made ahead for this call, else from the model's feature cache, else
    ``build()`` (and stored).

    Keyed (and so cached or handed over) only when the model says which tokenizer it holds by content
    (``tokenizer_key``) and the run loop says which data is being predicted
    (:func:`xtreme_harness.io.featcache.inputs`); ``what`` and ``params`` name the featuriser and its
    settings. ``ahead``: the run loop is preparing the next (task, language) while the model runs; the
    features are kept in memory for the call that predicts it."""
    from ..io import featcache

    cache = getattr(model, "feature_cache", None)
    tokenizer_key = getattr(model, "tokenizer_key", None)
    inputs = featcache.current_inputs()
    if tokenizer_key is None or inputs is None:
        return None if ahead else build()
    from .tokens import Rows

    key = featcache.digest(FEATURES_VERSION, tokenizer_libraries(), what, dict(params), tokenizer_key, inputs)
    with _AHEAD_LOCK:
        rows = _AHEAD.pop(key, None)
    if rows is None:
        hit = cache.load(key) if cache is not None else None
        if hit is not None:
            arrays, meta = hit
            rows = Rows.from_arrays(arrays, meta.get("stats"))
        else:
            rows = build()
            if cache is not None:
                cache.save(key, rows.arrays(), {"stats": {k: int(v) for k, v in rows.stats.items()}})
    if ahead:
        with _AHEAD_LOCK:
            _AHEAD[key] = rows
            while len(_AHEAD) > 2:  # the language running and the next one; an untaken older entry goes
                _AHEAD.pop(next(iter(_AHEAD)))
    return rows


def drop_ahead() -> None:
    """Forget features made ahead that no call took (the run ended or stopped first)."""
    with _AHEAD_LOCK:
        _AHEAD.clear()


def pad_rows(rows: Sequence[Sequence[int]], fill: int, width: int | None = None):
    """A [len(rows), width] int64 tensor, each row padded with ``fill`` (width: the longest row)."""
    import numpy as np
    import torch

    width = width or max(len(r) for r in rows)
    arr = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    return torch.from_numpy(arr)


@dataclass
class Predictions:
    """What one producer predicted for one (task, language), in the family's terms.

    ``output`` is what the submission file holds; ``figures`` are secondary
    figures only the predictor could compute (Tatoeba's other direction);
    ``extra`` adds producer-specific fields to each record (lm-eval's
    log-likelihoods), aligned with the examples.
    """

    task: str
    lang: str
    examples: Any
    output: Any
    stats: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    extra: list[dict] | None = None


@dataclass
class Settings:
    """How to featurise and run a task: the spec's ``features`` with run options laid over them."""

    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


# --- what a model gives a family ----------------------------------------------------------

Call = Callable[[Mapping[str, Any]], Mapping[str, Any]]  # a padded batch -> the model's named outputs
Forward = Callable[[Call, Mapping[str, Any]], Mapping[str, Any]]  # (call, batch) -> the outputs to keep


class Head(Protocol):
    """A model with a task head, as a family runs it.

    ``run`` batches the features (padded, on the model's device), calls
    ``forward(call, batch)``, where ``call(batch)`` returns the model's outputs
    by name (``logits``, ``start_logits``, ...), and returns per feature the
    outputs ``forward`` kept, as numpy arrays, in input order. ``labels`` maps
    the model's label ids to the task's labels (classification and tagging).
    """

    tokenizer: Any
    labels: Mapping[int, str] | None

    def run(self, features: Sequence[Mapping[str, Any]], forward: Forward, desc: str = "",
            token_keys: Iterable[str] | None = None, pad_to: int | None = None) -> list[dict[str, Any]]: ...


class Encoder(Protocol):
    """Texts in, one float32 embedding per text out (MTEB's ``EncoderProtocol``), for the retrieval families."""

    def encode(self, texts: Sequence[str], max_length: int, desc: str = "") -> "np.ndarray": ...

    def describe(self) -> dict[str, Any]:
        """How it embeds (layer and pooling, or the model's own modules), recorded beside the figures."""
        ...


def keep_logits(call: Call, batch: Mapping[str, Any]) -> dict[str, Any]:
    """The usual ``forward``: the head's logits."""
    return {"logits": call(batch)["logits"]}


# --- the family ------------------------------------------------------------------------------

class Family:
    """One task type. Subclasses set the class attributes and implement the methods they need."""

    name: ClassVar[str]
    head: ClassVar[str | None] = None  # architecture suffix of the checkpoints it scores (None: a bare encoder)
    auto_class: ClassVar[str] = "AutoModel"  # the transformers class that loads such checkpoints
    formats: ClassVar[tuple[str, ...]] = ()  # data formats (``format:`` in a spec) its readers know
    submissions: ClassVar[tuple[str, ...]] = ()  # submission formats (``submission.format``)
    needs_labels: ClassVar[bool] = False  # specs must give a label set
    defaults: ClassVar[dict[str, Any]] = {}  # feature settings when the spec gives none
    # Settings a run's options may set beside the defaults (protocol choices whose absence means XTREME's own,
    # declared with their values in xtreme_harness.options).
    run_options: ClassVar[tuple[str, ...]] = ()

    @property
    def needs_encoder(self) -> bool:
        """Predicted from embeddings (an :class:`Encoder`), not by a task head."""
        return self.head is None

    # --- data ---------------------------------------------------------------------------
    def files(self, spec: TaskSpec, root, lang: str, split: str) -> dict[str, Any]:
        """The files one language of a split reads: 'data', and 'gold' where the spec names a labels file."""
        s = spec.splits[split]
        out = {"data": root / s.path.format(lang=lang)}
        if s.gold:
            out["gold"] = root / s.gold.format(lang=lang)
        return out

    def read(self, spec: TaskSpec, paths: Mapping[str, Any], lang: str, limit: int | None) -> Any:
        """Examples of one language from local files (``paths``: 'data', 'gold' and extras)."""
        raise NotImplementedError

    def read_hf(self, spec: TaskSpec, ds, lang: str, limit: int | None, where: str) -> Any:
        from ..io.errors import UserError

        raise UserError(f"task {spec.task} ({self.name}) cannot be read from the hub")

    def companion(self, spec: TaskSpec, split: str) -> str | None:
        """Another split whose examples a prediction of ``split`` also needs (BUCC: the split its threshold is
        tuned on); the task layer reads it, when present, and hands it to :meth:`complete`."""
        return None

    def complete(self, spec: TaskSpec, examples: Any, split: str, companion: Any | None) -> None:
        """Finish the examples of ``split`` once read: the companion split's examples (None when it has none)."""

    def count(self, examples: Any) -> int:
        """How many scored units the examples hold (one submission line or entry each)."""
        return len(examples)

    def gold(self, spec: TaskSpec, examples: Any) -> Any | None:
        """Gold labels in the scorer's form, or None when the examples carry none."""
        raise NotImplementedError

    # --- model side -------------------------------------------------------------------------
    def settings(self, spec: TaskSpec, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Defaults, then the spec's ``features``, then run options; an option the family has no setting for
        (``nbest_over`` for classification) is left out, and None keeps what is there."""
        values = {**self.defaults, **spec.features}
        for key, value in (overrides or {}).items():
            if value is not None and (key in values or key in self.run_options):
                values[key] = value
        return Settings(values)

    def rows(self, examples: Any, head: Head, settings: Settings, ahead: bool = False) -> Any:
        """The features ``predict`` runs the head on (through :func:`cached_rows`); None for the families
        that embed through an :class:`Encoder`. With ``ahead`` (the run loop preparing the next language
        while the model runs) only the tokenizer side of ``head`` is used."""
        return None

    def predict(self, spec: TaskSpec, examples: Any, settings: Settings, model: Head | Encoder,
                lang: str = "") -> Predictions:
        """featurize -> model -> decode for one language (``model``: a :class:`Head`, or an :class:`Encoder`
        for the families that have no head)."""
        raise NotImplementedError

    # --- intermediate-task sources (read by xtreme_harness.tasks.sources) ----------------------
    source_roles: ClassVar[tuple[frozenset, frozenset] | None] = None  # (required, optional); None: no sources
    source_json: ClassVar[str] = "json"  # the local format a .json source file is read as
    source_text: ClassVar[str] = "tsv"  # ... a .tsv/.txt/.conll one
    tsv_pair_columns: ClassVar[dict[str, str]] = {}  # column roles of a headerless two-text TSV
    labels_from_data: ClassVar[bool] = False  # an intermediate task may take its label set from its data
    intermediate_features: ClassVar[tuple[str, ...]] = ()  # features an intermediate spec must set
    # The spec's 'retrieval' block: (schema {key: (type, required)}, allowed values {key: (...)}); None: no block.
    protocol_schema: ClassVar[tuple[dict, dict] | None] = None

    def default_metric(self, features: Mapping[str, Any]) -> str:
        """The metric a task is scored and selected on when its spec names none."""
        return "accuracy"

    def check_source_columns(self, spec: TaskSpec, source, columns: Mapping[str, Any]) -> None:
        from ..io.errors import UserError

        missing = sorted(self.source_roles[0] - set(columns))
        if missing:
            raise UserError(f"source {source.name} of {spec.task} does not name column(s) {', '.join(missing)}",
                            spec.source_file)

    def from_record(self, spec: TaskSpec, record, ex_id: str) -> Any | None:
        """One example from a source record (:class:`xtreme_harness.tasks.sources.Record`); None skips it."""
        raise NotImplementedError

    # --- training -----------------------------------------------------------------------
    def train_features(self, spec: TaskSpec, examples: Any, tokenizer, settings: Settings,
                       labels: Sequence[str] | None = None) -> FeatureList:
        """Features with training targets (named as Hugging Face heads expect them)."""
        raise NotImplementedError

    def collate(self, features: Sequence[dict], pad_id: int) -> dict:
        """A training batch padded to its longest feature: inputs plus the family's targets."""
        batch = {"input_ids": pad_rows([f["input_ids"] for f in features], pad_id),
                 "attention_mask": pad_rows([[1] * len(f["input_ids"]) for f in features], 0)}
        if "token_type_ids" in features[0]:
            batch["token_type_ids"] = pad_rows([f["token_type_ids"] for f in features], 0)
        return batch

    def training_head(self, hidden: int, num_labels: int, dropout: float):
        """The head a multi-task model puts on the shared encoder for a task of this family."""
        raise NotImplementedError

    def head_outputs(self, head, hidden, input_shape, targets: Mapping[str, Any]) -> dict[str, Any]:
        """The head's outputs over the encoder's ``hidden`` states (``loss`` when ``targets`` hold the gold)."""
        raise NotImplementedError

    def encoder_inputs(self, inputs: Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple]:
        """A training batch's encoder inputs, and the batch's shape before any reshaping."""
        return inputs, tuple(inputs["input_ids"].shape)

    # --- scoring ------------------------------------------------------------------------
    def scored(self, spec: TaskSpec, predictions: Predictions) -> Any:
        """The predictions in the scorer's form, aligned with :meth:`gold`."""
        return predictions.output

    def units(self, spec: TaskSpec, predictions: Predictions, gold: Any | None) -> list[tuple] | None:
        """(id, prediction, gold or None) of every unit a per-example record describes; None for a corpus-level
        metric (BUCC's F1 over a set of pairs), which has no records."""
        preds = self.scored(spec, predictions)
        golds = gold if gold is not None else [None] * len(preds)
        return [(ex.id, p, g) for ex, p, g in zip(predictions.examples, preds, golds)]

    # --- files --------------------------------------------------------------------------
    def write_output(self, spec: TaskSpec, path, output: Any) -> None:
        from ..formats import lines

        lines.write_submission(path, spec.submission_format, output)

    def write_gold(self, spec: TaskSpec, path, gold: Any, examples: Any) -> None:
        """The labels file ``xtreme-score`` reads back for this language."""
        self.write_output(spec, path, gold)

    def read_pair(self, spec: TaskSpec, pred_path: str, label_path: str) -> tuple[Any, Any]:
        """A prediction file and its labels file, read strictly and checked to line up: (gold, predictions)."""
        raise NotImplementedError

    def read_output(self, spec: TaskSpec, path: str) -> int | None:
        """Read a submission file strictly; the number of scored units it holds (None: not countable)."""
        raise NotImplementedError
