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

from ..io.errors import UserError
from .forms import form_of

MODEL_NAME = "xtreme-encoder"


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

    def __init__(self, pretrained: str | None = None, **model_args: Any) -> None:
        super().__init__()
        if not pretrained:
            raise UserError(f"{MODEL_NAME} needs pretrained=CHECKPOINT, SUITE or MANIFEST in its model arguments")
        from ..io.options import MODEL_ARGS, from_mapping
        from ..options import EvalOptions
        from ..producers.native import CheckpointProducer

        model_args.pop("max_batch_size", None)  # lm-eval's command line always passes it; batches are ours
        if model_args.get("batch_size") is not None:  # lm-eval's 'auto:N' asks for auto
            size = str(model_args["batch_size"]).strip().lower()
            model_args["batch_size"] = "auto" if size.startswith("auto") else size
        if model_args.get("device") is not None:
            model_args["device"] = _device(model_args["device"])
        # xtreme-eval's options, by the very declarations its flags come from: unknown keys and bad values refused
        given = from_mapping(EvalOptions, {k: v for k, v in model_args.items() if v is not None}, MODEL_ARGS,
                             f"{MODEL_NAME} model_args", text=True)
        self.pretrained = str(pretrained)
        self.options = EvalOptions(model=self.pretrained, progress=False, **given)
        self.producer = CheckpointProducer(self.options)
        self._resolved: dict[str, Any] = {}
        self._name: str | None = None
        self.kind = _kind(self.pretrained)

    # --- which checkpoint serves a task ------------------------------------------------------
    def checkpoint(self, spec):
        """The checkpoint that serves ``spec``, with the run settings (a manifest's defaults apply)."""
        if spec.task not in self._resolved:
            from ..families import family_of

            skipped = self.producer.prepare([spec])
            self._name = self.producer.resolution.name
            if spec.task in skipped:
                raise UserError(f"{MODEL_NAME}: {self.pretrained} cannot answer {spec.task}: {skipped[spec.task]}")
            options = self.producer.options
            defaults = self.producer.defaults()
            max_length = options.max_length if options.max_length is not None else defaults.get("max_length")
            settings = family_of(spec).settings(spec, {**options.family_settings(), "max_length": max_length})
            self._resolved[spec.task] = (self.producer.checkpoint(spec), settings)
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
        head = self.producer.head(spec)
        examples = form_of(spec).examples(spec, docs)
        fam = family_of(spec)
        if spec.family == "classification":
            logits, _ = fam.logits(examples, head, settings, desc=f"{spec.task}/{source.lang}")
            return ck, logits
        return ck, fam.predict(spec, examples, settings, head, lang=source.lang)

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

    from ..producers.checkpoints import is_suite
    from ..producers.manifest import is_manifest
    from ..tasks.registry import registry

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
