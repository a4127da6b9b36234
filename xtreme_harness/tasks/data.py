"""Reading one (task, language, split): from a folder in XTREME's layout, or from the Hugging Face hub.

``--data-dir`` names a :class:`DataSource`: ``hf`` reads the hub dataset the
spec's ``hf`` block names, ``hf:PATH`` a local copy of that repository (the
same ``load_dataset`` call, which is how it is tested offline), and anything
else is a folder, whatever its name. The task's family names the files of a
split and reads them; a split whose predictions need another split (BUCC's
threshold, tuned on dev) gets it attached here, so every input a prediction
depends on is read, and recorded (:mod:`xtreme_harness.io.reads`), before
anything is predicted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..families import family_of
from ..formats import hub
from ..io.errors import UserError
from ..io.files import present
from ..spec import TaskSpec

HUB = "hf"


@dataclass(frozen=True)
class DataSource:
    """Where task data comes from: a folder, the hub (``local`` None) or a local copy of a hub repository."""

    folder: Path | None = None
    hub: bool = False
    local: str | None = None

    def __str__(self) -> str:
        if not self.hub:
            return str(self.folder)
        return HUB + (f":{self.local}" if self.local else "")


def data_source(value: str | os.PathLike | DataSource) -> DataSource:
    """``hf``, ``hf:PATH`` or a folder (``hfdata`` or ``./hf`` are folders)."""
    if isinstance(value, DataSource):
        return value
    text = os.fspath(value)
    if text == HUB:
        return DataSource(hub=True)
    if text.startswith(HUB + ":"):
        local = text[len(HUB) + 1:]
        if not local.strip():
            raise UserError(f"--data-dir {text}: expected hf:PATH, the folder of a local copy of the hub dataset")
        return DataSource(hub=True, local=local)
    return DataSource(folder=Path(text))


def split_files(spec: TaskSpec, source, lang: str, split: str) -> dict[str, Path]:
    """Every file one (task, language, split) reads, by role ('data' first; 'gold' and 'pool:*' may be absent)."""
    src = data_source(source)
    if split not in spec.splits:
        raise UserError(f"task {spec.task} has no '{split}' split (it has: {', '.join(spec.splits)})")
    if src.hub:
        raise UserError(f"task {spec.task} is read from the hub here ({src}), not from files")
    return family_of(spec).files(spec, src.folder, lang, split)


def required_files(spec: TaskSpec, source, lang: str, split: str) -> list[Path]:
    """The files that must exist; used to tell 'missing' from 'present'."""
    return [p for role, p in split_files(spec, source, lang, split).items()
            if role != "gold" and not role.startswith("pool:")]


def available(spec: TaskSpec, source, lang: str, split: str) -> bool:
    src = data_source(source)
    if src.hub:
        return spec.hf is not None and split in spec.hf.splits
    return split in spec.splits and all(present(p) for p in required_files(spec, src, lang, split))


def missing_reason(spec: TaskSpec, source, lang: str, split: str) -> str | None:
    """Why one (task, language, split) has no data here (None: it has)."""
    src = data_source(source)
    if split not in spec.splits:
        return f"{spec.task} has no {split} split"
    langs = spec.splits[split].languages
    if langs and lang not in langs:
        return f"{spec.task} has no {split} split for {lang}"
    if src.hub:
        return None if available(spec, src, lang, split) else f"{spec.task} has no {split} split on the hub"
    absent = [p for p in required_files(spec, src, lang, split) if not p.is_file()]
    return f"{absent[0]} not found" if absent else None


def read_split(spec: TaskSpec, source, lang: str, split: str, limit: int | None = None) -> Any:
    """Examples of one task, language and split, with gold labels where any are known, and the examples of
    any split their prediction also needs (the family's :meth:`~xtreme_harness.families.Family.companion`)."""
    src = data_source(source)
    fam = family_of(spec)
    if split in spec.splits and spec.splits[split].languages and lang not in spec.splits[split].languages:
        raise UserError(f"task {spec.task} has a '{split}' split only for {', '.join(spec.splits[split].languages)}")
    if src.hub:
        examples = _read_hub(spec, src.local, lang, split, limit)
    else:
        examples = fam.read(spec, split_files(spec, src, lang, split), lang, limit)
    other = fam.companion(spec, split)
    companion = read_split(spec, src, lang, other) if other and available(spec, src, lang, other) else None
    fam.complete(spec, examples, split, companion)
    return examples


def _read_hub(spec: TaskSpec, local: str | None, lang: str, split: str, limit: int | None):
    hf = spec.hf
    if hf is None:
        raise UserError(f"task {spec.task} has no 'hf' block in its spec, so it cannot be read with --data-dir hf")
    if split not in hf.splits:
        raise UserError(f"task {spec.task} has no '{split}' split on the hub (it has: {', '.join(hf.splits)})")
    lang_name = hf.lang_names.get(lang, lang)
    config = hf.config.format(lang=lang, lang_name=lang_name)
    path = local or hf.path
    ds = hub.load(path, config, hf.splits[split])
    if hf.filter:
        col = hf.filter["column"]
        if "equals" in hf.filter:
            want = hf.filter["equals"].format(lang=lang, lang_name=lang_name)
            ds = ds.filter(lambda v: v == want, input_columns=[col])
        elif "prefix" in hf.filter:
            want = hf.filter["prefix"].format(lang=lang, lang_name=lang_name)
            ds = ds.filter(lambda v: str(v).startswith(want), input_columns=[col])
    if len(ds) == 0:  # e.g. a language the filter column never names: an error, not an empty language
        raise UserError(f"{path} config '{config}' split '{hf.splits[split]}' has no examples for '{lang}'")
    missing = [c for c in hf.columns.values() if c not in ds.column_names]
    if missing:
        raise UserError(f"{path} config '{config}' lacks column(s) {', '.join(missing)} "
                        f"(it has: {', '.join(ds.column_names)})")
    return family_of(spec).read_hf(spec, ds, lang, limit, f"{path}[{config}/{split}]")


def plan_languages(spec: TaskSpec, languages: str, split: str, source, version: str,
                   skipped: dict[str, dict[str, str]], missing: dict[str, list[str]]) -> list[str]:
    """The languages of ``spec`` to run; the others are reported in ``skipped`` or ``missing``.

    A language outside the task is skipped; a language of the task whose files
    are missing is an error when asked for by name, and reported as missing
    data under ``all``.
    """
    src = data_source(source)
    task_langs = list(spec.languages(version) or spec.all_languages())
    split_langs = spec.splits.get(split).languages if split in spec.splits else None
    if languages.strip() == "all":
        wanted, explicit = task_langs, False
    else:
        wanted, explicit = [x.strip() for x in languages.split(",") if x.strip()], True
    out = []
    for lang in wanted:
        if lang not in spec.all_languages() and lang not in task_langs:
            skipped.setdefault(spec.task, {})[lang] = f"not a {spec.task} language"
            continue
        if split_langs and lang not in split_langs:
            skipped.setdefault(spec.task, {})[lang] = f"{spec.task} has no {split} split for {lang}"
            continue
        if not available(spec, src, lang, split):
            if explicit and src.hub:
                raise UserError(f"{spec.task} cannot be read from the hub: " + (
                    "its spec has no 'hf' block" if spec.hf is None else f"the hub copy has no {split} split"))
            files = [] if src.hub else [str(p) for p in required_files(spec, src, lang, split) if not p.is_file()]
            if explicit:
                raise UserError(f"{spec.task} data for '{lang}' not found", files[0] if files else str(src))
            missing.setdefault(spec.task, []).append(lang)
            continue
        out.append(lang)
    return out
