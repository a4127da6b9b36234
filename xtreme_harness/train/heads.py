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
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..families.tagging import IGNORE_INDEX


@dataclass
class HeadOutput:
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None


def _hidden_dropout(config) -> float:
    p = getattr(config, "classifier_dropout", None)
    if p is None:
        p = getattr(config, "hidden_dropout_prob", None)
    if p is None:
        p = getattr(config, "dropout", 0.1)
    return float(p)


def make_head(kind: str, hidden: int, num_labels: int, dropout: float) -> nn.Module:
    if kind == "classification":  # RoBERTa's classification head on the first token
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.Tanh(), nn.Dropout(dropout),
                             nn.Linear(hidden, num_labels))
    if kind == "tagging":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_labels))
    if kind == "qa":
        return nn.Linear(hidden, 2)
    if kind == "multiple_choice":  # one score per (context, choice) sequence, as *ForMultipleChoice
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1))
    raise ValueError(kind)


def _qa_loss(start_logits, end_logits, start_positions, end_positions):
    n = start_logits.size(1)
    s = start_positions.clamp(0, n)
    e = end_positions.clamp(0, n)
    return (F.cross_entropy(start_logits, s, ignore_index=n) + F.cross_entropy(end_logits, e, ignore_index=n)) / 2


class MultiTaskModel(nn.Module):
    """One encoder, one head per task; MLM batches go through the encoder's own LM head."""

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
            head = make_head(kind, config.hidden_size, n, _hidden_dropout(config))
            for m in head.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=std)
                    nn.init.zeros_(m.bias)
            self.heads[name] = head

    def head_state(self) -> dict[str, torch.Tensor]:
        return {f"{k}": v for k, v in self.heads.state_dict().items()}

    def forward(self, task: str, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                start_positions=None, end_positions=None) -> HeadOutput:
        kind = self.kinds[task]
        if kind == "mlm":
            out = self.mlm_model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            return HeadOutput(loss=out.loss, logits=out.logits)
        shape = input_ids.shape
        if kind == "multiple_choice" and input_ids.dim() == 3:
            input_ids = input_ids.reshape(-1, shape[-1])
            attention_mask = attention_mask.reshape(-1, shape[-1]) if attention_mask is not None else None
            token_type_ids = token_type_ids.reshape(-1, shape[-1]) if token_type_ids is not None else None
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        head = self.heads[task]
        if kind == "classification":
            logits = head(hidden[:, 0])
            loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
            return HeadOutput(loss=loss, logits=logits)
        if kind == "tagging":
            logits = head(hidden)
            loss = None
            if labels is not None:
                loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                                       ignore_index=IGNORE_INDEX)
            return HeadOutput(loss=loss, logits=logits)
        if kind == "qa":
            logits = head(hidden).float()
            start, end = logits[..., 0], logits[..., 1]
            loss = None
            if start_positions is not None and end_positions is not None:
                loss = _qa_loss(start, end, start_positions, end_positions)
            return HeadOutput(loss=loss, start_logits=start, end_logits=end)
        # multiple choice
        scores = head(hidden[:, 0]).squeeze(-1)
        if len(shape) == 3:
            scores = scores.view(shape[0], shape[1])
            loss = F.cross_entropy(scores.float(), labels) if labels is not None else None
            return HeadOutput(loss=loss, logits=scores)
        return HeadOutput(logits=scores)


class HFTaskModel(nn.Module):
    """A Hugging Face ``AutoModelFor*`` model behind the ``model(task=..., **batch)`` call."""

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, task: str, **batch):
        out = self.model(**batch)
        return HeadOutput(loss=getattr(out, "loss", None), logits=getattr(out, "logits", None),
                          start_logits=getattr(out, "start_logits", None), end_logits=getattr(out, "end_logits", None))


@contextlib.contextmanager
def quiet():
    """No load reports or per-shard bars from transformers: a fresh head is the point here, and the
    trainer has its own progress bar."""
    from transformers.utils import logging as hf_logging

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
    import transformers

    from ..families import FAMILIES

    cls = getattr(transformers, FAMILIES[kind].auto_class)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if labels:
        kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={label: i for i, label in enumerate(labels)})
    return load_quietly(cls.from_pretrained, init, **kwargs)


def encoder_model(init: str, with_mlm: bool = False, trust_remote_code: bool = False):
    """(encoder, mlm_model or None). With MLM the encoder is the MLM model's own base model."""
    import transformers

    if with_mlm:
        mlm, info = load_quietly(transformers.AutoModelForMaskedLM.from_pretrained, init,
                                 trust_remote_code=trust_remote_code, output_loading_info=True)
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith(mlm.base_model_prefix + ".")]
        if missing:
            print(f"xtreme-train: warning: {init} has no trained MLM head ({len(missing)} weights, e.g. "
                  f"{sorted(missing)[0]}); MLM batches start from a random head", file=sys.stderr)
        return mlm.base_model, mlm
    return load_quietly(transformers.AutoModel.from_pretrained, init, trust_remote_code=trust_remote_code), None
