"""``XtremeTask``: the lm-eval task class every generated ``xtreme_*`` YAML names.

An ordinary ``ConfigurableTask`` (prompt, filters and metrics come from the
YAML) whose docs come from our readers, so an lm-eval run sees exactly the
examples, gold labels and limits that ``xtreme-eval`` sees. It also fixes what
lm-eval cannot know about those docs:

* lm-eval's request cache (``--cache_requests``) keys requests by task name,
  shot count and tokenizer only; the docs' fingerprint joins the key, so
  another split or data folder never reuses cached prompts;
* the split, data folder, fingerprint and harness version go into the task's
  metadata, which lm-eval writes to its results under ``configs``;
* ``--num_fewshot N`` shows examples from the task's English dev (or train)
  split, read only when asked for;
* a language whose files are missing is left out with one warning (a group
  average then reports the language as missing) instead of failing the run;
* lm-eval records ``git describe`` of the working folder and lets git's
  "fatal: not a git repository" through; loading these tasks quiets it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from lm_eval.api.instance import Instance
from lm_eval.api.samplers import ContextSampler
from lm_eval.api.task import ConfigurableTask

from ..families import family_of
from ..io.errors import UserError
from ..io.version import __version__
from ..spec import TaskSpec
from ..tasks.data import data_source, missing_reason, read_split
from ..tasks.registry import get_task
from . import PREFIX
from .forms import form_of
from .utils import data_location

# Under lm-eval's logger, so that its --verbosity and format apply.
log = logging.getLogger("lm_eval.xtreme_harness")


@dataclass(frozen=True)
class Source:
    """What one lm-eval task was loaded from."""

    spec: TaskSpec
    lang: str
    split: str
    data_dir: str
    limit: int | None
    fingerprint: str
    missing: str | None = None  # why there are no docs


# lm-eval task name -> its source, for the tasks loaded in this process (xtreme-encoder looks its requests up here).
LOADED: dict[str, Source] = {}
# task -> {language: why it has no docs}, reported once per task when requests are built.
_MISSING: dict[str, dict[str, str]] = {}


def report_missing() -> None:
    """One warning per task for its languages without data, then forgotten (a later run reports its own)."""
    for task, langs in sorted(_MISSING.items()):
        patterns = {re.sub(rf"(?<![A-Za-z]){re.escape(lang)}(?![A-Za-z])", "{lang}", why) for lang, why in langs.items()}
        why = next(iter(patterns)) if len(patterns) == 1 else "; ".join(f"{k}: {v}" for k, v in langs.items())
        log.warning("%s%s: %d language(s) left out, so its group average misses them: %s (%s)", PREFIX, task,
                    len(langs), ", ".join(langs), why)
    _MISSING.clear()


def fewshot_split(spec: TaskSpec) -> str | None:
    """The English split few-shot examples come from: dev unless it is the test file (TyDiQA), else train."""
    test = spec.splits.get("test")
    for name in ("dev", "train"):
        s = spec.splits.get(name)
        if s and (not s.languages or "en" in s.languages) and (test is None or s.path != test.path):
            return name
    return None


def _fingerprint(split: str, rows: list[dict]) -> str:
    text = json.dumps({"split": split, "rows": rows}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _git_describe() -> str | None:
    """lm-eval's ``get_git_commit_hash`` with git's complaint about a folder outside git kept off the terminal."""
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def quiet_git_probe() -> None:
    import lm_eval.evaluator as evaluator

    if getattr(evaluator, "get_git_commit_hash", None) is not None:
        evaluator.get_git_commit_hash = _git_describe


quiet_git_probe()


class _Shots(ContextSampler):
    """Few-shot docs from the English file; the doc being asked is never shown as its own example."""

    def __init__(self, docs, rnd=None, task: "XtremeTask | None" = None):
        super().__init__(docs, rnd=rnd)
        self.task = task

    def sample(self, n, eval_doc=None, **kwargs):
        current = self.task.current_doc if self.task is not None else None
        return super().sample(n, eval_doc=eval_doc or current, **kwargs)


class XtremeTask(ConfigurableTask):
    """See the module docstring; everything else is lm-eval's own ConfigurableTask."""

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        self.source: Source | None = None
        self.current_doc = None
        self._fewshot_seed = None
        super().__init__(config={k: v for k, v in dict(config or {}).items() if k != "class"}, **kwargs)
        if self.source.missing:  # the blank doc served lm-eval's load-time checks; there are no docs to ask
            self.dataset = datasets.DatasetDict({"test": self.dataset["test"].select([])})

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kw = dict(self.config.dataset_kwargs or {})
        meta = dict(self.config.metadata or {})
        task_dir = kw.get("xtreme_task_dir")
        spec = get_task(kw["xtreme_task"], [task_dir] if isinstance(task_dir, str) else task_dir)
        lang = kw["xtreme_lang"]
        data_dir, split = data_location(meta.get("xtreme_data_dir"), meta.get("xtreme_split"))
        source = data_source(data_dir)
        if not source.hub and not source.folder.is_dir():
            raise UserError("data folder of the xtreme_* lm-eval tasks not found (expected XTREME's download "
                            "layout)", data_dir)
        limit = meta.get("xtreme_limit")
        limit = int(limit) if limit not in (None, "") else None
        form = form_of(spec)
        missing = missing_reason(spec, data_dir, lang, split)
        examples = None
        if not missing:
            examples = read_split(spec, data_dir, lang, split, limit)
            if not examples:
                raise UserError(f"{spec.task}/{lang}: the {split} split has no examples", data_dir)
            if family_of(spec).gold(spec, examples) is None:
                missing = f"the {split} data has no gold labels, and lm-eval scores labelled data only"
        if missing:
            _MISSING.setdefault(spec.task, {})[lang] = missing
        rows = form.rows(spec, examples if not missing else [form.blank(spec)], lang)
        where = str(source) if source.hub else str(Path(data_dir).resolve())
        self.source = Source(spec, lang, split, where, limit, _fingerprint(split, rows), missing)
        LOADED[self.config.task] = self.source
        self.dataset = datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
        self._config.metadata = {**meta, "xtreme_task": spec.task, "xtreme_lang": lang, "xtreme_split": split,
                                 "xtreme_data_dir": where, "xtreme_limit": limit,
                                 "xtreme_data_fingerprint": self.source.fingerprint,
                                 "xtreme_harness_version": __version__,
                                 "xtreme_fewshot_from": f"en/{shots}" if (shots := fewshot_split(spec)) else None,
                                 **({"xtreme_missing": missing} if missing else {})}

    def build_all_requests(self, *, tokenizer_name: str = "", **kwargs: Any) -> None:
        report_missing()
        if self.source.missing:
            # lm-eval cannot evaluate a task without instances: one that is never sent (repeats 0) and has no doc.
            request = "loglikelihood" if self.OUTPUT_TYPE == "multiple_choice" else self.OUTPUT_TYPE
            self._instances = [Instance(request, {}, ("", ""), 0, (self.config.task, 0, 0))]
            return
        # lm-eval's cache key ends with this name; the fingerprint makes it differ per split and data.
        identity = f"{tokenizer_name}-xtreme-{self.source.split}-{self.source.fingerprint}"
        super().build_all_requests(tokenizer_name=identity, **kwargs)

    def apply_filters(self):
        if not self.source.missing:
            return super().apply_filters()
        for f in getattr(self, "_filters", []):
            self._instances[0].filtered_resps[f.name] = None
        return None

    # --- few-shot -------------------------------------------------------------------------
    def set_fewshot_seed(self, seed: int | None = None) -> None:
        self._fewshot_seed = seed
        super().set_fewshot_seed(seed)

    def fewshot_docs(self):
        return None  # not the eval docs (lm-eval's fallback): English ones, read when asked for

    def fewshot_context(self, doc, num_fewshot, *args: Any, **kwargs: Any):
        if num_fewshot and not hasattr(self, "sampler"):
            self.sampler = self._english_shots()
        self.current_doc = doc
        try:
            return super().fewshot_context(doc, num_fewshot, *args, **kwargs)
        finally:
            self.current_doc = None

    def _english_shots(self) -> ContextSampler:
        spec, src = self.source.spec, self.source
        split = fewshot_split(spec)
        if split is None:
            raise UserError(f"{self.config.task}: --num_fewshot shows English examples from {spec.task}'s dev or "
                            f"train split, and {spec.task} has neither (only {', '.join(spec.splits)}); run it "
                            "zero-shot (--num_fewshot 0)")
        reason = missing_reason(spec, src.data_dir, "en", split)
        if reason:
            raise UserError(f"{self.config.task}: --num_fewshot needs the English {split} split of {spec.task}: "
                            f"{reason}")
        rows = form_of(spec).rows(spec, read_split(spec, src.data_dir, "en", split), "en")
        same_file = src.lang == "en" and split == src.split
        return _Shots(rows, rnd=self._fewshot_seed, task=self if same_file else None)
