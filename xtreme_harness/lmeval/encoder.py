"""``xtreme-encoder``: fine-tuned encoders answering the xtreme_* lm-eval tasks through their heads.

``pretrained=`` takes what ``xtreme-eval --model`` takes: one checkpoint, a
suite folder, a manifest or a hub id. Each request is answered with the
checkpoint that serves its task, by the same family code, settings and engine
as native ``xtreme-eval``, one (task, language) at a time in document order,
so lm-eval's figures are the native ones, prediction for prediction:

* multiple choice (XNLI, PAWS-X): a choice's log-likelihood is the head's
  log-probability of the task label it names (the best of the checkpoint
  classes a label map sends to it, so the chosen answer is the native one);
* generation, tagging (UD-POS, PAN-X): the predicted tags, one per word,
  which the task's filter reads back unchanged;
* generation, QA (XQuAD, MLQA, TyDiQA): the native span decoder's answer
  (a line break inside a span becomes a space, which no EM/F1 sees).

Only the xtreme_* tasks are answered (lm-eval's own ``xnli_*`` turn each
choice into a rewritten sentence, which no classification head can score);
anything else, and rolling log-likelihood, is refused with a message.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lm_eval.api.model import LM

from ..errors import UserError
from . import flag
from .forms import form_of

MODEL_NAME = "xtreme-encoder"


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


def _device(device: Any) -> str:
    """lm-eval's command line asks for cuda:0 whatever the machine; as its hf model does, a CUDA device that is
    not there means the best one that is."""
    name = str(device or "auto").strip()
    if name.startswith("cuda"):
        import torch

        index = name.partition(":")[2]
        if index and not (index.isascii() and index.isdigit()):
            return name
        if int(index or 0) >= torch.cuda.device_count():
            return "auto"
    return name


def _log_softmax(logits):
    import numpy as np

    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class XtremeEncoderLM(LM):
    """Checkpoints with task heads as one lm-eval model (see the module docstring)."""

    def __init__(self, pretrained: str | None = None, batch_size: Any = "auto", device: str | None = "auto",
                 dtype: str = "auto", max_length: int | None = None, trust_remote_code: Any = False,
                 allow_pickle: Any = False, max_batch_size: Any = None, qa_nbest: str | None = None,
                 tagging_windows: str | None = None, qa_answer_text: str | None = None, **_ignored: Any) -> None:
        super().__init__()
        if not pretrained:
            raise UserError(f"{MODEL_NAME} needs pretrained=CHECKPOINT, SUITE or MANIFEST in its model arguments")
        from ..engine import InferenceEngine
        from ..evaluation import EvalConfig, _Loaded, choice, protocol_settings

        self.pretrained = str(pretrained)
        self.trust_remote_code, self.allow_pickle = flag(trust_remote_code), flag(allow_pickle)
        self.max_length = int(max_length) if max_length else None
        # xtreme-eval's protocol options, validated as its flags are
        given = {"qa_nbest": qa_nbest, "tagging_windows": tagging_windows, "qa_answer_text": qa_answer_text}
        cfg = EvalConfig(model=self.pretrained, device=_device(device), dtype=dtype,
                         trust_remote_code=self.trust_remote_code, allow_pickle=self.allow_pickle,
                         **{k: choice(k, v, f"{MODEL_NAME}: {k}") for k, v in given.items() if v is not None})
        self.options = protocol_settings(cfg)
        self.loaded = _Loaded(cfg)
        self.engine = InferenceEngine(device=cfg.device, dtype=dtype, batch_size=_batch_size(batch_size), progress=False)
        self._resolved: dict[str, Any] = {}
        self._name: str | None = None
        self.kind = _kind(self.pretrained)

    # --- which checkpoint serves a task ------------------------------------------------------
    def resolve(self, specs):
        from ..models import resolve

        return resolve(self.pretrained, list(specs), self.trust_remote_code, self.allow_pickle)

    def checkpoint(self, spec):
        """The checkpoint that serves ``spec``, with the run settings (a manifest's defaults apply)."""
        if spec.task not in self._resolved:
            res = self.resolve([spec])
            self._name = res.name
            if spec.task not in res.checkpoints:
                raise UserError(f"{MODEL_NAME}: {self.pretrained} cannot answer {spec.task}: {res.skipped[spec.task]}")
            max_length = self.max_length if self.max_length is not None else res.defaults.get("max_length")
            from ..families import family_of

            self._resolved[spec.task] = (res.checkpoints[spec.task],
                                         family_of(spec).settings(spec, {"max_length": max_length, **self.options}))
        return self._resolved[spec.task]

    def get_model_info(self) -> dict[str, Any]:
        return {"model_path": self.pretrained, "model_kind": self.kind, "model_name": self._name,
                "model_tasks": {t: ck.identity() for t, (ck, _) in self._resolved.items()}}

    # --- answers -----------------------------------------------------------------------------
    def _predict(self, source, docs):
        """The family's native predictions for one (task, language), docs in document order."""
        from ..families import family_of

        spec = source.spec
        ck, settings = self.checkpoint(spec)
        model, tok = self.loaded.get(ck, spec.family)
        examples = form_of(spec).examples(spec, docs)
        fam = family_of(spec)
        if spec.family == "classification":
            logits, _ = fam.logits(examples, model, tok, self.engine, settings, desc=f"{spec.task}/{source.lang}")
            return ck, logits
        return ck, fam.predict(spec, examples, model, tok, self.engine, settings, labels=ck.task_labels,
                               lang=source.lang)

    @staticmethod
    def _by_task(requests):
        from .task import LOADED

        groups: dict[str, list] = defaultdict(list)
        for i, req in enumerate(requests):
            groups[req.task_name].append(i)
        return [(LOADED.get(name), name, idxs) for name, idxs in groups.items()]

    @staticmethod
    def _docs(requests, idxs):
        docs = {}
        for i in idxs:
            docs.setdefault(requests[i].doc_id, requests[i].doc)
        order = sorted(docs)
        return order, [docs[d] for d in order]

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        import numpy as np

        from ..families.classification import decode

        out: list[tuple[float, bool] | None] = [None] * len(requests)
        for source, name, idxs in self._by_task(requests):
            if source is None or source.spec.family != "classification":
                raise UserError(f"{MODEL_NAME} answers log-likelihood requests of the xtreme_* sentence-pair "
                                f"classification tasks only, not of {name}")
            order, docs = self._docs(requests, idxs)
            ck, logits = self._predict(source, docs)
            logprobs = _log_softmax(logits)
            chosen = decode(logits, ck.task_labels)
            row = {doc_id: k for k, doc_id in enumerate(order)}
            for i in idxs:
                req = requests[i]
                k = row[req.doc_id]
                label = req.doc["labels"][req.idx]
                ids = [j for j, t in ck.task_labels.items() if t == label]
                out[i] = (float(np.max(logprobs[k, ids])), chosen[k] == label)
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out: list[str | None] = [None] * len(requests)
        for source, name, idxs in self._by_task(requests):
            form = form_of(source.spec) if source is not None else None
            if form is None or not form.generative:
                raise UserError(f"{MODEL_NAME} generates only for the xtreme_* tagging and QA tasks, not for {name}")
            order, docs = self._docs(requests, idxs)
            _, predictions = self._predict(source, docs)
            answers = dict(zip(order, form.respond(source.spec, predictions)))
            for i in idxs:
                out[i] = answers[requests[i].doc_id]
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise UserError(f"{MODEL_NAME} has no rolling log-likelihood: it answers the xtreme_* tasks through "
                        "task heads")


def _kind(pretrained: str) -> str:
    """suite, manifest or checkpoint (a folder or hub id), as ``xtreme-eval --model`` reads it."""
    from pathlib import Path

    from ..manifest import is_manifest
    from ..models import is_suite
    from ..spec import registry

    if is_manifest(pretrained):
        return "manifest"
    return "suite" if is_suite(Path(pretrained).expanduser(), list(registry())) else "checkpoint"


def register() -> None:
    """Put the class in lm-eval's registry, unless the plugin's lazy entry (which names it) is there already."""
    import lm_eval.models  # noqa: F401  (lm-eval's own models first: it only fills an empty registry itself)
    from lm_eval.api.registry import model_registry, register_model

    if MODEL_NAME not in model_registry:
        register_model(MODEL_NAME)(XtremeEncoderLM)


register()
