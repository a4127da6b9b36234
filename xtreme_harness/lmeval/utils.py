"""The hooks the generated lm-eval task YAMLs call through ``!function``.

Data comes from our own readers (so an lm-eval run sees exactly the examples,
gold labels and limits that ``xtreme-eval`` sees), and every figure comes from
our official metric functions, so a prompted model's XQuAD F1 or XNLI
accuracy reported by lm-eval is the figure XTREME's ``evaluate.py`` gives.
YAMLs name these hooks by their full module path; lm-eval imports them as
ordinary modules rather than loading a loose copy of this file.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import UserError
from . import DATA_ENV, SPLIT_ENV

FALLBACK_DATA_ENV = "XTREME_DATA_DIR"


def data_location(xtreme_data_dir: str | None = None, xtreme_split: str | None = None) -> tuple[str, str]:
    """The data folder and split: task metadata first, then the environment."""
    data_dir = xtreme_data_dir or os.environ.get(DATA_ENV) or os.environ.get(FALLBACK_DATA_ENV)
    if not data_dir:
        raise UserError(f"the xtreme_* lm-eval tasks read XTREME's download folder: set {DATA_ENV}=DIR "
                        "(or pass --metadata '{\"xtreme_data_dir\": \"DIR\"}' to lm_eval)")
    split = xtreme_split or os.environ.get(SPLIT_ENV) or "test"
    if split not in ("test", "dev"):
        raise UserError(f"{SPLIT_ENV} / xtreme_split must be test or dev, not '{split}'")
    return str(data_dir), split


def load_xtreme_dataset(xtreme_task: str, xtreme_lang: str, xtreme_data_dir: str | None = None,
                        xtreme_split: str | None = None, xtreme_limit: int | None = None,
                        xtreme_task_dir: str | list[str] | None = None, **_metadata: Any):
    """``custom_dataset`` of every xtreme_* task: one (task, language) read by our reader, as split ``test``.

    lm-eval passes the task's metadata (model arguments among it) with the
    dataset kwargs, hence the catch-all. ``xtreme_split=dev`` reads the dev
    file into the same ``test`` split, so the YAMLs need no change.
    """
    import datasets

    from ..data.readers import read_split
    from ..spec import get_task

    data_dir, split = data_location(xtreme_data_dir, xtreme_split)
    task_dirs = [xtreme_task_dir] if isinstance(xtreme_task_dir, str) else list(xtreme_task_dir or [])
    spec = get_task(xtreme_task, task_dirs or None)
    limit = int(xtreme_limit) if xtreme_limit not in (None, "") else None
    examples = read_split(spec, data_dir, xtreme_lang, split, limit)
    if not examples:
        raise UserError(f"{xtreme_task}/{xtreme_lang}: the {split} split has no examples", data_dir)
    from .forms import form_of

    form = form_of(spec)
    if form is None:
        raise UserError(f"task {spec.task} ({spec.family}) has no lm-eval form")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(form.rows(spec, examples, xtreme_lang))})


# --- classification -----------------------------------------------------------------------

def predicted_index(results: Sequence) -> int:
    """The chosen choice: argmax of the log-likelihoods, first on ties (as numpy's argmax and lm-eval's acc)."""
    lls = [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]
    return max(range(len(lls)), key=lambda i: (lls[i], -i))


def process_classification(doc: dict, results: Sequence) -> dict[str, Any]:
    """Per-example correctness, and the (gold, predicted) label names for macro-F1."""
    labels = doc["labels"]
    pred = labels[predicted_index(results)]
    return {"accuracy": int(pred == doc["label"]), "macro_f1": (doc["label"], pred)}


def accuracy_percent(items: Sequence[int]) -> float:
    """Same arithmetic as ``metrics.accuracy``: count correct, divide, then scale (bit-for-bit equal)."""
    if not items:
        return 0.0
    return float(sum(items)) / len(items) * 100


def macro_f1_percent(items: Sequence[tuple[str, str]]) -> float:
    from ..metrics import macro_f1

    return macro_f1([g for g, _ in items], [p for _, p in items])["macro_f1"]


# --- QA -----------------------------------------------------------------------------------

def answer_text(response: Any) -> str:
    """A generation as the answer it stands for: the first line, stripped.

    The same function turns logged generations into submission files, so the
    figures recomputed from them equal lm-eval's.
    """
    text = response[0] if isinstance(response, (list, tuple)) else response
    text = "" if text is None else str(text)
    return text.strip().split("\n", 1)[0].strip()


def process_squad(doc: dict, results: Sequence) -> dict[str, Any]:
    """SQuAD v1.1 EM/F1 with the English normaliser in every language, as XTREME scores XQuAD and TyDiQA."""
    from ..metrics.qa import squad_example

    em, f1 = squad_example(answer_text(results[0]), doc["answers"])
    return {"exact_match": em, "f1": f1}


def process_mlqa(doc: dict, results: Sequence) -> dict[str, Any]:
    """MLQA EM/F1 with the answer language's normaliser."""
    from ..metrics.qa import mlqa_example

    em, f1 = mlqa_example(answer_text(results[0]), doc["answers"], doc["lang"])
    return {"exact_match": em, "f1": f1}


def qa_percent(items: Sequence[float]) -> float:
    """Same arithmetic as ``metrics.qa``'s corpus figures: a running sum from 0, then ``100.0 * sum / n``."""
    if not items:
        return 0.0
    total = 0
    for value in items:
        total += value
    return 100.0 * total / len(items)


def qa_target(doc: dict) -> str:
    return doc["answers"][0] if doc["answers"] else ""
