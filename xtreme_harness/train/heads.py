"""Models for training: a shared encoder with one head per task, and a thin wrapper
around Hugging Face head models so the loop calls every model the same way.

Intermediate training can mix several tasks (and MLM) over one encoder, which no
single ``AutoModelFor*`` class can; target fine-tuning, on the other hand, must
write a standard ``AutoModelFor*`` checkpoint that ``xtreme-eval`` loads as is,
so it trains that very class. Both answer ``model(task=name, **batch)``.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import torch
from torch import nn

from ..families import FAMILIES
from ..producers.transformers_import import transformers_module, transformers_name


class HeadOutput(dict):
    """A head's outputs by name (``loss``, ``logits``, ``start_logits``, ...), as a mapping and as attributes:
    the families read them by name, the loop reads ``.loss``."""

    def __getattr__(self, name: str):
        return self.get(name)


def _hidden_dropout(config) -> float:
    p = getattr(config, "classifier_dropout", None)
    if p is None:
        p = getattr(config, "hidden_dropout_prob", None)
    if p is None:
        p = getattr(config, "dropout", 0.1)
    return float(p)


class MultiTaskModel(nn.Module):
    """One encoder, one head per task (each family's own head and loss); MLM batches go through the encoder's own
    LM head."""

    def __init__(self, encoder: nn.Module, tasks: dict[str, tuple[str, int]], mlm_model: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.mlm_model = mlm_model
        config = encoder.config
        self.kinds = {name: kind for name, (kind, _) in tasks.items()}
        self.num_labels = {name: n for name, (_, n) in tasks.items()}
        self.heads = nn.ModuleDict()
        std = getattr(config, "initializer_range", 0.02)
        for name, (kind, n) in tasks.items():
            if kind == "mlm":
                continue
            head = FAMILIES[kind].training_head(config.hidden_size, n, _hidden_dropout(config))
            for m in head.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=std)
                    nn.init.zeros_(m.bias)
            self.heads[name] = head

    def head_state(self) -> dict[str, torch.Tensor]:
        return {f"{k}": v for k, v in self.heads.state_dict().items()}

    def forward(self, task: str, input_ids, attention_mask=None, token_type_ids=None, **targets) -> HeadOutput:
        kind = self.kinds[task]
        if kind == "mlm":
            out = self.mlm_model(input_ids=input_ids, attention_mask=attention_mask, labels=targets.get("labels"))
            return HeadOutput(loss=out.loss, logits=out.logits)
        fam = FAMILIES[kind]
        inputs, shape = fam.encoder_inputs({"input_ids": input_ids, "attention_mask": attention_mask,
                                           "token_type_ids": token_type_ids})
        kwargs: dict[str, Any] = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        if inputs.get("token_type_ids") is not None:
            kwargs["token_type_ids"] = inputs["token_type_ids"]
        hidden = self.encoder(**kwargs).last_hidden_state
        return HeadOutput(fam.head_outputs(self.heads[task], hidden, shape, targets))


class HFTaskModel(nn.Module):
    """A Hugging Face ``AutoModelFor*`` model behind the ``model(task=..., **batch)`` call."""

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, task: str, **batch):
        out = self.model(**batch)
        return HeadOutput({k: v for k, v in out.items() if v is not None})


@contextlib.contextmanager
def quiet():
    """No load reports or per-shard bars from transformers: a fresh head is the point here, and the
    trainer has its own progress bar."""
    hf_logging = transformers_module().utils.logging
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_quietly(fn, *args, **kwargs):
    with quiet():
        return fn(*args, **kwargs)


def hf_head_model(init: str, kind: str, labels: list[str] | None, trust_remote_code: bool = False):
    """A pretrained (or intermediate) encoder with a fresh task head named by the task's labels."""
    cls = transformers_name(FAMILIES[kind].auto_class)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if labels:
        kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={label: i for i, label in enumerate(labels)})
    return load_quietly(cls.from_pretrained, init, **kwargs)


def encoder_model(init: str, with_mlm: bool = False, trust_remote_code: bool = False):
    """(encoder, mlm_model or None). With MLM the encoder is the MLM model's own base model."""
    if with_mlm:
        mlm, info = load_quietly(transformers_name("AutoModelForMaskedLM").from_pretrained, init,
                                 trust_remote_code=trust_remote_code, output_loading_info=True)
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith(mlm.base_model_prefix + ".")]
        if missing:
            print(f"xtreme-train: warning: {init} has no trained MLM head ({len(missing)} weights, e.g. "
                  f"{sorted(missing)[0]}); MLM batches start from a random head", file=sys.stderr)
        return mlm.base_model, mlm
    return load_quietly(transformers_name("AutoModel").from_pretrained, init, trust_remote_code=trust_remote_code), None
