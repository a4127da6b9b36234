"""XTREME through lm-evaluation-harness: prompted LLMs (and fine-tuned encoders) on our data and metrics.

``tasks/`` holds generated lm-eval task YAMLs (``xtreme_<task>_<lang>``, groups
``xtreme_<task>`` and the umbrella group ``xtreme``) whose docs come from our
readers (``task.XtremeTask``, the task class they name) and whose figures come
from our official metric functions (``utils``); ``forms`` says how each family
is asked; ``encoder`` is the ``xtreme-encoder`` lm-eval model (the top-level
``_xtreme_harness_lm_eval`` registers it with lm-eval at start-up); ``runner``
turns an lm-eval run into our ``results.json``. lm-eval is imported lazily:
importing this package is cheap.
"""

from __future__ import annotations

from pathlib import Path

# The tasks the lm-eval backend serves, in the official order.
LMEVAL_TASKS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa")
PREFIX = "xtreme_"
UMBRELLA = "xtreme"  # the group of every task group
# Where the XTREME download folder is when lm-eval itself (not xtreme-eval) runs the tasks.
DATA_ENV = "XTREME_LMEVAL_DATA"
SPLIT_ENV = "XTREME_LMEVAL_SPLIT"


def flag(value) -> bool:
    """An lm-eval model argument read as a yes/no (they arrive as strings)."""
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def task_name(task: str, lang: str) -> str:
    """The lm-eval task of one (task, language): ``xtreme_xnli_de``."""
    return f"{PREFIX}{task}_{lang}"


def group_name(task: str) -> str:
    return f"{PREFIX}{task}"


def tasks_path() -> Path:
    """The folder to hand to ``lm_eval --include_path``."""
    return Path(__file__).resolve().parent / "tasks"


__all__ = ["DATA_ENV", "LMEVAL_TASKS", "PREFIX", "UMBRELLA", "flag", "SPLIT_ENV", "group_name", "task_name", "tasks_path"]
