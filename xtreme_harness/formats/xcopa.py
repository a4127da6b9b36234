"""XCOPA / COPA JSON lines, and the ``{"label": 0|1}`` prediction and labels files evaluate.py reads."""

from __future__ import annotations

from ..io.errors import UserError
from ..io.jsonfile import json_lines
from ..io.messages import show
from .examples import ChoiceExample

ITEM_EXPECTED = "one XCOPA item per line (premise, choice1, choice2, question, label)"


LABEL_EXPECTED = 'one JSON object {"label": 0|1} per line'


def _label(value, path, line: int) -> int:
    """An XCOPA label: the JSON integer 0 or 1 (``evaluate.py`` compares with ==, so \"1\" never equals 1)."""
    if type(value) is not int:
        raise UserError(f"label {show(value)} is not an integer (evaluate.py compares with ==, so "
                        "\"1\" never equals 1); expected the integer 0 or 1", path, line)
    if value not in (0, 1):
        raise UserError(f"label {value} must be the integer 0 or 1 (the index of the right choice)", path, line)
    return value


def read_xcopa(path, limit: int | None = None, lang: str = "") -> list[ChoiceExample]:
    """XCOPA / COPA JSON lines (premise, choice1, choice2, question, label[, idx]) as two-choice items.

    XTREME-R's ``utils_preprocess.py`` (``xcopa_preprocess``) sets every test
    label to 0 to hide the gold; a file of ten or more items whose labels are
    all 0 is therefore read as unlabelled rather than scored against zeros.
    """
    examples = []
    seen: dict[int, int] = {}
    for i, rec in json_lines(path, "data file", ITEM_EXPECTED):
        missing = [k for k in ("premise", "choice1", "choice2", "question") if not isinstance(rec.get(k), str)]
        if missing:
            raise UserError(f"item lacks {', '.join(missing)} (or they are not strings); expected premise, choice1, "
                            "choice2, question (cause or effect) and label", path, i)
        if rec["question"] not in ("cause", "effect"):
            raise UserError(f"question {show(rec['question'])} must be 'cause' or 'effect'", path, i)
        label = rec.get("label")
        if label is not None:
            label = _label(label, path, i)
        idx = rec.get("idx", len(examples))
        if type(idx) is not int:
            raise UserError(f"idx {show(idx)} is not an integer; expected the item's integer index",
                            path, i)
        if idx in seen:
            raise UserError(f"idx {idx} appears twice (also on line {seen[idx]}); expected each item once", path, i)
        seen[idx] = i
        examples.append(ChoiceExample(id=f"{lang}-{idx}" if lang else str(idx),
                                      context=f"{rec['premise']} What was the {rec['question']}?", question="",
                                      choices=[rec["choice1"], rec["choice2"]], label=label))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise UserError("no items; expected XCOPA JSON lines", path)
    if blanked([ex.label for ex in examples]):
        for ex in examples:
            ex.label = None
    return examples


BLANKED_AT = 10  # XTREME-R zeroes every test label; ten or more zeros in a row are that, not gold


def blanked(labels: list) -> bool:
    """Labels that XTREME-R's preprocessing blanked (all 0): in a data file they mean no gold, and a labels file
    of them is refused, by ``xtreme-eval`` and ``xtreme-score`` alike (all-0 predictions would score 100)."""
    return len(labels) >= BLANKED_AT and all(label == 0 for label in labels)


def read_label_jsonl(path: str, what: str) -> list[int]:
    """``{"label": 0|1}`` per line, the only thing ``read_xcopa`` reads; JSON integers only."""
    out = []
    for i, rec in json_lines(path, what, LABEL_EXPECTED, blank="error"):
        if "label" not in rec:
            raise UserError(f"expected a JSON object with a 'label' field; expected {LABEL_EXPECTED}", path, i)
        out.append(_label(rec["label"], path, i))
    if what == "labels file" and blanked(out):
        raise UserError(f"labels file holds {len(out)} labels, every one 0: XTREME-R's blanked test labels, not gold; "
                        "expected the real labels (xtreme-score would score all-0 predictions 100)", path)
    return out
