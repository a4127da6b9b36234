"""Per-format training features, batch collation and English-dev scoring.

The families (``xtreme_harness.families``) already turn examples into model
features for evaluation; training reuses them so that train and test inputs
are built the same way (same templates, truncation and windows). What this
module adds is what only training needs: labels on features, unanswerable
SQuAD 2.0 questions pointing at CLS, multiple-choice and MLM batches, and a
dev score to select checkpoints with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import UserError
from ..families import FeatureList, classification, qa, tagging
from ..families.tagging import IGNORE_INDEX

KINDS = ("classification", "tagging", "qa", "multiple_choice", "mlm")
FORMAT_KIND = {"pair_classification": "classification", "tagging": "tagging", "span_qa": "qa",
               "multiple_choice": "multiple_choice"}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class TaskData:
    """One task of a training phase: its head, its featurized training set and its dev set."""

    name: str
    kind: str
    labels: list[str] | None
    features: list[dict]
    dev_examples: list | None = None
    metric: str = "accuracy"  # accuracy | token_accuracy | seqeval_f1 | pos_chunk_f1 | squad_f1
    max_length: int = 256
    doc_stride: int = 128
    max_query_length: int = 64
    unanswerable: bool = False
    provenance: list[dict] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return len(self.labels or ())

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels or ())}


# --- training features ----------------------------------------------------------------

def train_features(kind: str, examples: Sequence, tokenizer: Any, max_length: int, labels: Sequence[str] | None,
                   doc_stride: int = 128, max_query_length: int = 64, unanswerable: bool = False) -> FeatureList:
    try:
        return _train_features(kind, examples, tokenizer, max_length, labels, doc_stride, max_query_length,
                               unanswerable)
    except ValueError as exc:  # e.g. a max_length too short for the question and special tokens
        raise UserError(f"cannot build {kind} training features: {exc}") from None


def _train_features(kind, examples, tokenizer, max_length, labels, doc_stride, max_query_length, unanswerable):
    label2id = {label: i for i, label in enumerate(labels or ())}
    if kind == "classification":
        return classification.featurize(examples, tokenizer, max_length=max_length, label2id=label2id)
    if kind == "tagging":
        return tagging.featurize(examples, tokenizer, max_length=max_length, label2id=label2id)
    if kind == "qa":
        return qa_train_features(examples, tokenizer, max_length, doc_stride, max_query_length, unanswerable)
    if kind == "multiple_choice":
        return choice_features(examples, tokenizer, max_length)
    raise ValueError(kind)


def qa_train_features(examples, tokenizer, max_length, doc_stride, max_query_length, unanswerable) -> FeatureList:
    """``qa.train_features`` for answerable questions; with ``unanswerable``, questions without an
    answer are kept and every window of theirs points at CLS (position 0), as BERT/XLM-R on SQuAD 2.0."""
    answerable = [ex for ex in examples if ex.answers]
    feats = qa.train_features(answerable, tokenizer, max_length, doc_stride, max_query_length)
    stats = dict(feats.stats)
    if unanswerable:
        empty = [ex for ex in examples if not ex.answers]
        extra = qa.featurize(empty, tokenizer, max_length, doc_stride, max_query_length)
        for f in extra:
            f["start_positions"] = f["end_positions"] = 0
            f["example_index"] += len(answerable)
        feats = FeatureList(list(feats) + list(extra), stats)
        feats.stats["unanswerable"] = len(empty)
    else:
        feats.stats["skipped"] = stats.get("skipped", 0) + (len(examples) - len(answerable))
    return feats


def choice_features(examples: Sequence, tokenizer: Any, max_length: int) -> FeatureList:
    """One feature per item holding one encoded sequence per choice.

    First segment: the context, or the question when there is no context;
    second: question + choice (or the choice alone). Only the first segment
    is cut when too long, so the candidate answer is always seen whole.
    """
    firsts, seconds = [], []
    for ex in examples:
        first = ex.context or ex.question
        lead = ex.question if ex.context and ex.question else ""
        for choice in ex.choices:
            firsts.append(first)
            seconds.append(f"{lead} {choice}".strip() if lead else choice)
    enc = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length) if firsts else {}
    keys = [k for k in INPUTS if k in enc]
    feats = FeatureList(stats={"examples": len(examples)})
    k = 0
    for i, ex in enumerate(examples):
        choices = []
        for _ in ex.choices:
            choices.append({key: list(enc[key][k]) for key in keys})
            k += 1
        feats.append({"choices": choices, "labels": ex.label if ex.label is not None else -100,
                      "example_index": i})
    feats.stats["features"] = len(feats)
    return feats


def mlm_features(lines: Sequence[str], tokenizer: Any, max_length: int) -> list[dict]:
    enc = tokenizer(list(lines), truncation=True, max_length=max_length)
    return [{"input_ids": list(ids)} for ids in enc["input_ids"] if len(ids) > 2]


# --- collation -------------------------------------------------------------------------

def _pad(rows: Sequence[Sequence[int]], fill: int, width: int | None = None) -> torch.Tensor:
    width = width or max(len(r) for r in rows)
    arr = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    return torch.from_numpy(arr)


def collate(kind: str, feats: Sequence[dict], pad_id: int, mlm: dict | None = None,
            rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """Pad a list of training features to the longest in the batch (dynamic padding)."""
    if kind == "multiple_choice":
        flat = [c for f in feats for c in f["choices"]]
        width = max(len(c["input_ids"]) for c in flat)
        n, c = len(feats), len(feats[0]["choices"])
        batch = {"input_ids": _pad([x["input_ids"] for x in flat], pad_id, width).view(n, c, width),
                 "attention_mask": _pad([[1] * len(x["input_ids"]) for x in flat], 0, width).view(n, c, width)}
        if "token_type_ids" in flat[0]:
            batch["token_type_ids"] = _pad([x["token_type_ids"] for x in flat], 0, width).view(n, c, width)
        batch["labels"] = torch.tensor([f["labels"] for f in feats], dtype=torch.long)
        return batch
    batch = {"input_ids": _pad([f["input_ids"] for f in feats], pad_id),
             "attention_mask": _pad([[1] * len(f["input_ids"]) for f in feats], 0)}
    if "token_type_ids" in feats[0]:
        batch["token_type_ids"] = _pad([f["token_type_ids"] for f in feats], 0)
    if kind == "classification":
        batch["labels"] = torch.tensor([f["labels"] for f in feats], dtype=torch.long)
    elif kind == "tagging":
        batch["labels"] = _pad([f["labels"] for f in feats], IGNORE_INDEX)
    elif kind == "qa":
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in feats], dtype=torch.long)
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in feats], dtype=torch.long)
    elif kind == "mlm":
        batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], batch["attention_mask"], mlm, rng)
    return batch


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, mlm: dict, rng: np.random.Generator):
    """BERT masking (15 %: 80 % mask token, 10 % random, 10 % kept) from a generator seeded per batch,
    so that a resumed run masks exactly as the uninterrupted one."""
    arr = ids.numpy().copy()
    special = np.isin(arr, np.asarray(mlm["special_ids"])) | (attention.numpy() == 0)
    pick = (rng.random(arr.shape) < mlm.get("probability", 0.15)) & ~special
    if not pick.any():  # at least one target per batch keeps the loss defined
        cand = np.argwhere(~special)
        if len(cand):
            r, c = cand[rng.integers(len(cand))]
            pick[r, c] = True
    labels = np.where(pick, arr, IGNORE_INDEX)
    roll = rng.random(arr.shape)
    arr[pick & (roll < 0.8)] = mlm["mask_id"]
    rand = pick & (roll >= 0.8) & (roll < 0.9)
    arr[rand] = rng.integers(0, mlm["vocab_size"], size=int(rand.sum()))
    return torch.from_numpy(arr), torch.from_numpy(labels)


# --- English-dev scoring ---------------------------------------------------------------

def _forward(task: str, key: str = "logits") -> Callable:
    def forward(model, batch):
        out = model(task=task, **batch)
        if key == "qa":
            return {"start_logits": out.start_logits, "end_logits": out.end_logits}
        return {"logits": out.logits}

    return forward


def score_dev(td: TaskData, model, tokenizer, engine, pad_id: int) -> dict[str, float]:
    """Predict the dev set with ``model(task=..., ...)`` and score it; 'score' is the selection figure."""
    from ..metrics import METRICS

    exs = td.dev_examples or []
    if not exs:
        return {}
    id2label = dict(enumerate(td.labels or ()))
    if td.kind == "classification":
        feats = classification.featurize(exs, tokenizer, max_length=td.max_length)
        outs = engine.run(model, feats, _forward(td.name), pad_token_id=pad_id, desc=f"dev {td.name}")
        preds = classification.decode(np.stack([o["logits"] for o in outs]), id2label)
        res = METRICS["accuracy"].fn([ex.label for ex in exs], preds)
        return {**res, "score": res["accuracy"]}
    if td.kind == "tagging":
        feats = tagging.featurize(exs, tokenizer, max_length=td.max_length)
        outs = engine.run(model, feats, _forward(td.name), pad_token_id=pad_id, token_keys=["logits"],
                          desc=f"dev {td.name}")
        preds = tagging.decode(feats, [o["logits"] for o in outs], exs, id2label)
        gold = [ex.tags for ex in exs]
        name = {"seqeval_f1": "seqeval", "pos_chunk_f1": "pos_chunk_f1"}.get(td.metric, "token_accuracy")
        res = METRICS[name].fn(gold, preds)
        return {**res, "score": res["f1"] if "f1" in res else res["token_accuracy"]}
    if td.kind == "qa":
        feats = qa.featurize(exs, tokenizer, td.max_length, td.doc_stride, td.max_query_length)
        outs = engine.run(model, feats, _forward(td.name, "qa"), pad_token_id=pad_id,
                          token_keys=["start_logits", "end_logits"], desc=f"dev {td.name}")
        starts = [o["start_logits"] for o in outs]
        ends = [o["end_logits"] for o in outs]
        answers, nbest = qa.decode(exs, feats, starts, ends)
        if td.unanswerable:
            answers = _null_answers(exs, feats, starts, ends, answers, nbest)
        return qa_scores(exs, answers)
    if td.kind == "multiple_choice":
        flat, owner = [], []
        for i, f in enumerate(choice_features(exs, tokenizer, td.max_length)):
            for c in f["choices"]:
                flat.append(c)
                owner.append(i)
        outs = engine.run(model, flat, _forward(td.name), pad_token_id=pad_id, token_keys=[],
                          desc=f"dev {td.name}")
        scores: dict[int, list[float]] = {}
        for i, o in zip(owner, outs):
            scores.setdefault(i, []).append(float(np.asarray(o["logits"]).reshape(-1)[0]))
        preds = [int(np.argmax(scores[i])) for i in range(len(exs))]
        acc = 100.0 * float(np.mean([p == ex.label for p, ex in zip(preds, exs)]))
        return {"accuracy": acc, "score": acc}
    raise ValueError(td.kind)


def _null_answers(exs, feats, starts, ends, answers, nbest) -> dict[str, str]:
    """SQuAD 2.0: answer "" when the CLS score beats the best span (threshold 0, as the reference code)."""
    null: dict[int, float] = {}
    for f, s, e in zip(feats, starts, ends):
        score = float(s[0] + e[0])
        i = f["example_index"]
        null[i] = min(null.get(i, score), score)
    out = {}
    for i, ex in enumerate(exs):
        best = nbest.get(ex.id) or []
        span = best[0]["score"] if best else -np.inf
        out[ex.id] = "" if null.get(i, -np.inf) > span else answers.get(ex.id, "")
    return out


def qa_scores(exs, answers: dict[str, str]) -> dict[str, float]:
    """SQuAD EM/F1; a question without gold answers counts as right only for an empty prediction (2.0 rule)."""
    from ..metrics.qa import squad_example

    em = f1 = 0.0
    for ex in exs:
        pred = answers.get(ex.id, "")
        golds = [a.text for a in ex.answers]
        if not golds:
            e = f = float(pred == "")
        else:
            e, f = squad_example(pred, golds)
        em += e
        f1 += f
    n = max(1, len(exs))
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n, "score": 100.0 * f1 / n}
