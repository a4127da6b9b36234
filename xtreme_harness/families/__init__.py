"""Task families: one object per task type, and the only place where task types differ in code.

A family owns a task type's whole flow (the MTEB idea of one class per task
type): the head a checkpoint must carry, the data formats its readers know,
``featurize`` (shared by evaluation and training), one ``predict`` that runs
featurize -> engine -> decode and returns :class:`Predictions`, the shape of
gold labels and per-example records, the submission format, and how a
prediction file and its labels are read back for scoring. ``xtreme-eval``, the
lm-eval backend and the trainer's dev scoring all go through these objects.

A task is a spec (``tasks/*.yaml``) naming its family; task quirks are
declared in the spec and read by the family (Tatoeba's query side, BUCC's
threshold split, LAReQA's pooled candidates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

if TYPE_CHECKING:
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


def pad_rows(rows: Sequence[Sequence[int]], fill: int, width: int | None = None):
    """A [len(rows), width] int64 tensor, each row padded with ``fill`` (width: the longest row)."""
    import numpy as np
    import torch

    width = width or max(len(r) for r in rows)
    arr = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    return torch.from_numpy(arr)


def correctness_records(examples, predictions, gold) -> list[dict]:
    """Records of tasks scored by accuracy: prediction, gold and whether they agree."""
    if gold is None:
        return [{"id": ex.id, "pred": p} for ex, p in zip(examples, predictions)]
    return [{"id": ex.id, "pred": p, "gold": g, "correct": int(p == g)} for ex, p, g in zip(examples, predictions, gold)]


def call_model(model, batch):
    """How a Hugging Face head model is called; the trainer passes its own (``model(task=..., **batch)``)."""
    return model(**batch)


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


class Family:
    """One task type. Subclasses set the class attributes and implement the methods they need."""

    name: ClassVar[str]
    head: ClassVar[str | None] = None  # architecture suffix of the checkpoints it scores (None: a bare encoder)
    auto_class: ClassVar[str] = "AutoModel"  # the transformers class it loads them with
    formats: ClassVar[tuple[str, ...]] = ()  # data formats (``format:`` in a spec) its readers know
    submissions: ClassVar[tuple[str, ...]] = ()  # submission formats (``submission.format``)
    needs_labels: ClassVar[bool] = False  # specs must give a label set
    defaults: ClassVar[dict[str, Any]] = {}  # feature settings when the spec gives none

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
        from ..errors import UserError

        raise UserError(f"task {spec.task} ({self.name}) cannot be read from the hub")

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
            if value is not None and key in values:
                values[key] = value
        return Settings(values)

    def predict(self, spec: TaskSpec, examples: Any, model, tokenizer, engine, settings: Settings,
                labels: Mapping[int, str] | None = None, call: Callable = call_model, lang: str = "",
                **context: Any) -> Predictions:
        """featurize -> engine -> decode for one language."""
        raise NotImplementedError

    # --- intermediate-task sources (read by xtreme_harness.data.sources) ----------------------
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
        from ..errors import UserError

        missing = sorted(self.source_roles[0] - set(columns))
        if missing:
            raise UserError(f"source {source.name} of {spec.task} does not name column(s) {', '.join(missing)}",
                            spec.source_file)

    def from_record(self, spec: TaskSpec, record, ex_id: str) -> Any | None:
        """One example from a source record (:class:`xtreme_harness.data.sources.Record`); None skips it."""
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

    # --- scoring ------------------------------------------------------------------------
    def scored(self, spec: TaskSpec, predictions: Predictions) -> Any:
        """The predictions in the scorer's form, aligned with :meth:`gold`."""
        return predictions.output

    def records(self, spec: TaskSpec, predictions: Predictions, gold: Any | None) -> list[dict]:
        """One record per example: prediction, gold and what paired statistics resample."""
        return []

    def record_kind(self, spec: TaskSpec) -> str | None:
        """How the leaderboard turns records back into the primary figure (None: no records)."""
        return None

    # --- files --------------------------------------------------------------------------
    def write_output(self, spec: TaskSpec, path, output: Any) -> None:
        from ..data import submission

        submission.write(path, spec.submission_format, output)

    def write_gold(self, spec: TaskSpec, path, gold: Any, examples: Any) -> None:
        """The labels file ``xtreme-score`` reads back for this language."""
        from ..data import submission

        submission.write(path, spec.submission_format, gold)

    def read_pair(self, spec: TaskSpec, pred_path: str, label_path: str) -> tuple[Any, Any]:
        """A prediction file and its labels file, read strictly and checked to line up: (gold, predictions)."""
        raise NotImplementedError

    def read_output(self, spec: TaskSpec, path: str) -> int | None:
        """Read a submission file strictly; the number of scored units it holds (None: not countable)."""
        raise NotImplementedError


class AccuracyScored(Family):
    """A family scored per example by accuracy: its records say whether each prediction is right."""

    def records(self, spec: TaskSpec, predictions: Predictions, gold: Any | None) -> list[dict]:
        return correctness_records(predictions.examples, predictions.output, gold)

    def record_kind(self, spec: TaskSpec) -> str | None:
        return "accuracy"


FAMILIES: dict[str, Family] = {}


def register(family_cls):
    FAMILIES[family_cls.name] = family_cls()
    return family_cls


def family_of(spec: TaskSpec) -> Family:
    return FAMILIES[spec.family]


def head_family(architectures: Sequence[str]) -> str | None:
    """The family whose head the architectures name (``XLMRobertaForTokenClassification`` -> tagging)."""
    for arch in architectures:
        for fam in FAMILIES.values():
            if fam.head and arch.endswith(fam.head):
                return fam.name
    return None


from . import classification, multiple_choice, qa, retrieval, tagging  # noqa: E402,F401  (register the families)

__all__ = ["AccuracyScored", "FAMILIES", "MODEL_INPUTS", "Family", "FeatureList", "Predictions", "Settings", "call_model",
           "correctness_records", "family_of", "head_family", "pad_rows", "register", "require_fast"]
