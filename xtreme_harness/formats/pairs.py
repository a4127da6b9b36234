"""Sentence-pair TSV (XNLI, PAWS-X): ``text_a<TAB>text_b[<TAB>label]``, with gold from a labels file where the data lacks it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..io.errors import UserError, clip
from ..io.files import present, read_text
from ..io.messages import listing, show
from .examples import PairExample
from .lines import read_label_lines

_MANY_TABS = re.compile(r"^[^\n]*?(?:\t[^\n\t]*){3}\t", re.MULTILINE)


def read_pairs_tsv(path: Path, labels: tuple[str, ...] | None, gold: Path | None, limit: int | None = None,
                   lang: str = "") -> list[PairExample]:
    """``text_a<TAB>text_b[<TAB>label]`` rows as Python's csv module writes them (XTREME's files are)."""
    text = read_text(path, "data file")
    if '"' not in text:  # no quoting: a row is a line, so a line of a million tabs is refused before csv splits it
        many = _MANY_TABS.search(text)
        if many:
            end = text.find("\n", many.start())
            n = text.count("\t", many.start(), end if end >= 0 else len(text)) + 1
            raise UserError(f"expected 2 or 3 tab-separated columns (text_a, text_b[, label]), found {n}", path,
                            text.count("\n", 0, many.start()) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    rows, lines = [], []
    try:
        for row in reader:
            if len(row) not in (2, 3):
                raise UserError(f"expected 2 or 3 tab-separated columns (text_a, text_b[, label]), found {len(row)}",
                                path, reader.line_num)
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(f"malformed TSV: {clip(str(exc), 200)}", path, reader.line_num) from None
    if not rows:  # an empty file would otherwise score as an empty, silently partial language
        raise UserError("no examples; expected rows 'text_a<TAB>text_b[<TAB>label]'", path)
    examples = []
    allowed = set(labels or ())
    for k, (row, line) in enumerate(zip(rows, lines)):
        label = row[2].strip() if len(row) == 3 else None
        if label is not None and allowed and label not in allowed:
            raise UserError(f"label {show(label)} is not in the label set ({listing(labels)})", path, line)
        examples.append(PairExample(id=f"{lang}-{k}", text_a=row[0], text_b=row[1], label=label))
    if examples and all(ex.label is None for ex in examples) and present(gold):
        gold_labels = read_label_lines(str(gold), labels, "labels file")
        if len(gold_labels) != len(examples):
            raise UserError(f"{len(gold_labels)} labels for {len(examples)} examples in {path}", gold,
                            min(len(gold_labels), len(examples)) + 1)
        for ex, lab in zip(examples, gold_labels):
            ex.label = lab
    elif any(ex.label is None for ex in examples) and any(ex.label is not None for ex in examples):
        first = next(i for i, ex in enumerate(examples) if ex.label is None)
        raise UserError("some rows have a label and some don't; expected all or none", path, lines[first])
    return examples[:limit] if limit is not None else examples
