"""``xtreme-encoder``: a fine-tuned encoder classifier answering lm-eval's multiple-choice tasks through its head.

A sequence-classification checkpoint cannot score text continuations, but on
a sentence-pair task whose choices are the label verbalisations it does not
need to: the log-likelihood of a choice is the head's log-probability of the
label that choice names. So the same XNLI/PAWS-X checkpoint that
``xtreme-eval`` scores natively can be compared with prompted LLMs inside one
lm-eval run, with identical predictions (same featurisation, same engine).

Limits, by design:
  * only ``multiple_choice`` tasks whose docs carry the sentence pair
    (``text_a``/``text_b`` as in the ``xtreme_*`` tasks, or
    ``premise``/``hypothesis``, ``sentence1``/``sentence2``);
  * choices map to the checkpoint's labels by name (``id2label``, any case),
    or through a task's verbaliser (PAWS-X: No → 0, Yes → 1); anything else is
    an error naming the choice and the labels;
  * no generation and no rolling log-likelihood: ``generate_until`` and
    ``loglikelihood_rolling`` raise, so QA tasks need a generative model.

lm-eval 0.4 has no plugin discovery: importing this module registers the
model. ``xtreme-eval --backend lm-eval`` does that before it calls lm-eval, and
``python -m xtreme_harness.lmeval ...`` runs lm-eval's own command line with
it registered.
"""

from __future__ import annotations

from typing import Any

import lm_eval.models  # noqa: F401  (fills the registry with lm-eval's own models first; see below)
from lm_eval.api.model import LM
from lm_eval.api.registry import model_registry, register_model

from ..errors import UserError
from .forms import VERBALIZERS

MODEL_NAME = "xtreme-encoder"
PAIR_FIELDS = (("text_a", "text_b"), ("premise", "hypothesis"), ("sentence1", "sentence2"))
_NO_GENERATION = (f"{MODEL_NAME} has no generation: it answers multiple-choice sentence-pair tasks "
                  "(xtreme_xnli_*, xtreme_pawsx_*) through its classification head; run generative tasks "
                  "(xtreme_xquad_*, xtreme_mlqa_*, xtreme_tydiqa_*) with a causal LM such as --model hf")


def _registered(cls):
    # lm-eval looks its own models up lazily only while the registry is empty, which is why
    # lm_eval.models is imported above; a second import of this module must not register twice.
    if MODEL_NAME not in model_registry:
        register_model(MODEL_NAME)(cls)
    return cls


def _batch_size(value: Any) -> int | str:
    text = str(value if value is not None else "auto").strip().lower()
    if text.startswith("auto"):
        return "auto"
    try:
        size = int(text)
    except ValueError:
        raise UserError(f"{MODEL_NAME}: batch_size must be a positive integer or auto, not {value!r}") from None
    if size < 1:
        raise UserError(f"{MODEL_NAME}: batch_size must be a positive integer or auto, not {value!r}")
    return size


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def pair_of(doc: Any) -> tuple[str, str]:
    """The sentence pair a doc holds, under any of the usual field names."""
    if isinstance(doc, dict):
        for a, b in PAIR_FIELDS:
            if isinstance(doc.get(a), str) and isinstance(doc.get(b), str):
                return doc[a], doc[b]
    keys = ", ".join(sorted(doc)) if isinstance(doc, dict) else type(doc).__name__
    raise UserError(f"{MODEL_NAME} needs a sentence pair in each doc (fields "
                    f"{' / '.join('+'.join(p) for p in PAIR_FIELDS)}); this task's docs have: {keys}")


@_registered
class XtremeEncoderLM(LM):
    """An ``AutoModelForSequenceClassification`` checkpoint as an lm-eval model (see the module docstring)."""

    def __init__(self, pretrained: str | None = None, batch_size: Any = "auto", device: str | None = "auto",
                 dtype: str = "auto", max_length: int | None = None, trust_remote_code: Any = False,
                 allow_pickle: Any = False, max_batch_size: Any = None, **_ignored: Any) -> None:
        super().__init__()
        if not pretrained:
            raise UserError(f"{MODEL_NAME} needs pretrained=CHECKPOINT in its model arguments")
        from ..engine import InferenceEngine
        from ..models import _checkpoint, load_model, load_tokenizer

        ck = _checkpoint(str(pretrained), _flag(trust_remote_code), _flag(allow_pickle))
        if ck.head() != "classification":
            raise UserError(f"{MODEL_NAME} needs a sequence-classification checkpoint "
                            f"(*ForSequenceClassification); {ck.path} has "
                            f"{', '.join(ck.architectures) or 'no architectures'}")
        id2label = ck.config.get("id2label") or {}
        if not id2label:
            raise UserError(f"{ck.path}: config.json has no id2label, so choices cannot be matched to labels")
        self.checkpoint = ck
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        self.max_length = int(max_length) if max_length else 128  # XNLI's and PAWS-X's, as xtreme-eval
        device = device or "auto"
        self.tok = load_tokenizer(ck, _flag(trust_remote_code))
        self.model = load_model(ck, "classification", device, dtype, _flag(trust_remote_code), _flag(allow_pickle))
        self.engine = InferenceEngine(device=device, dtype=dtype, batch_size=_batch_size(batch_size),
                                      progress=False)
        by_name = {name.lower(): idx for idx, name in self.id2label.items()}
        self._choice_ids: dict[str, int] = dict(by_name)
        for table in VERBALIZERS.values():
            for label, word in table.items():
                if label.lower() in by_name:
                    self._choice_ids.setdefault(word.lower(), by_name[label.lower()])

    def get_model_info(self) -> dict[str, Any]:
        return {"model_path": self.checkpoint.path, "id2label": dict(self.id2label)}

    def label_id(self, continuation: str) -> int:
        """The model label a choice names, by name (then through a task verbaliser)."""
        key = continuation.strip().lower()
        if key not in self._choice_ids:
            raise UserError(f"{MODEL_NAME}: choice {continuation.strip()!r} names none of the labels of "
                            f"{self.checkpoint.path} ({', '.join(self.id2label[i] for i in sorted(self.id2label))})")
        return self._choice_ids[key]

    def label_logprobs(self, pairs: list[tuple[str, str]]):
        """Log-softmax of the head's logits, one row per pair, in the engine's exact featurisation."""
        import numpy as np

        from ..data.examples import PairExample
        from ..families import FAMILIES, Settings

        examples = [PairExample(id=str(i), text_a=a, text_b=b) for i, (a, b) in enumerate(pairs)]
        logits, _ = FAMILIES["classification"].logits(examples, self.model, self.tok, self.engine,
                                                      Settings({"max_length": self.max_length}), desc=MODEL_NAME)
        logits = logits.astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), logits

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        if not requests:
            return []
        keys, labels = [], []
        for req in requests:
            keys.append(pair_of(req.doc))
            labels.append(self.label_id(req.args[1]))
        unique = list(dict.fromkeys(keys))
        index = {pair: i for i, pair in enumerate(unique)}
        logprobs, logits = self.label_logprobs(unique)
        best = logits.argmax(axis=1)
        return [(float(logprobs[index[k], lab]), bool(best[index[k]] == lab)) for k, lab in zip(keys, labels)]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise UserError(_NO_GENERATION)

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise UserError(_NO_GENERATION)
