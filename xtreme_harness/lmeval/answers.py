"""Reading a model's answers: the chosen choice, a generation's answer text, a generation's tags.

Shared by the lm-eval task hooks (:mod:`.utils`) and the forms (:mod:`.forms`),
and importing neither: pure functions of the responses.
"""

from __future__ import annotations

from typing import Any, Sequence


def predicted_index(results: Sequence) -> int:
    """The chosen choice: argmax of the log-likelihoods, first on ties (as numpy's argmax and lm-eval's acc)."""
    lls = [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]
    return max(range(len(lls)), key=lambda i: (lls[i], -i))


def answer_text(response: Any) -> str:
    """A generation as the answer it stands for: the first line, stripped."""
    text = response[0] if isinstance(response, (list, tuple)) else response
    text = "" if text is None else str(text)
    return text.strip().split("\n", 1)[0].strip()


_STRIP = "\"'`.,;:()[]{}"


class Tags(list):
    """One tag per word (what is scored and what logged samples show), with how well the answer fitted."""

    def __init__(self, tags, parsed: int, invalid: int):
        super().__init__(tags)
        self.parsed = parsed  # tags the answer gave
        self.invalid = invalid  # of which not in the tag set


def parse_tags(text: str, n_words: int, labels: Sequence[str]) -> Tags:
    """One tag per word from a generation: ``word/TAG`` pairs, or bare tags.

    With pairs the tag is what follows a token's last ``/`` (tokens without
    one continue a word that holds spaces); otherwise every token is a tag.
    Tags are matched to the tag set in any case; an unknown one, and any word
    left without a tag, gets the fallback tag (O, or X for POS); extra tags
    are dropped.
    """
    tokens = str(text or "").split()
    if any("/" in t for t in tokens):
        raw = [t.rsplit("/", 1)[1] for t in tokens if "/" in t]
    else:
        raw = tokens
    by_upper = {label.upper(): label for label in labels}
    fallback = fallback_tag(labels)
    tags, invalid = [], 0
    for tag in raw:
        label = by_upper.get(tag.strip(_STRIP).upper())
        if label is None:
            invalid += 1
        tags.append(label or fallback)
    return Tags((tags + [fallback] * n_words)[:n_words], parsed=len(tags), invalid=invalid)


def fallback_tag(labels: Sequence[str]) -> str:
    """The tag a word gets when an answer has none for it: O (no entity), else X (UD's 'other')."""
    for tag in ("O", "X"):
        if tag in labels:
            return tag
    return labels[-1]
