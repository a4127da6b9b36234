"""The answer text of a predicted span, as XTREME's ``run_squad.py`` writes it.

XTREME predicts with transformers' ``compute_predictions_logits`` (the
commit ``install_tools.sh`` checks out). It does not slice the context: it
joins the span's sub-tokens back into a string (``convert_tokens_to_string``),
takes the whitespace words of the context the span touches (the SQuAD
example's ``doc_tokens``, split on space, tab, CR, LF and U+202F only), and
projects the first onto the second with ``get_final_text``: BERT's basic
tokenizer is run over the words, and the prediction is looked up in the
result character by character, spaces aside. When the lookup fails the
whole words are the answer. The lookup fails, for one, whenever the basic
tokenizer puts spaces between CJK characters that the joined sub-tokens do
not have, which a sentencepiece model's (XLM-R's) Chinese spans never have:
XTREME then answers with the whole run of text between spaces. Reproduced
here because the official figures depend on it.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from functools import lru_cache
from typing import Any, Sequence

_SQUAD_WHITESPACE = frozenset(" \t\r\n\u202f")  # processors/squad.py's _is_whitespace
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


_WORD = re.compile(r"[^ \t\r\n\u202f]+")


class DocWords:
    """A context cut into SQuAD's whitespace words, with the word of every character."""

    def __init__(self, context: str):
        found = [(m.start(), m.group()) for m in _WORD.finditer(context)]
        self.starts: list[int] = [s for s, _ in found]
        self.words: list[str] = [w for _, w in found]

    def word_at(self, char: int) -> int:
        """The word holding character ``char`` (a space belongs to the word before it, as char_to_word_offset)."""
        return max(bisect.bisect_right(self.starts, char) - 1, 0)

    def text(self, first: int, last: int) -> str:
        return " ".join(self.words[first:last + 1])


def tokens_to_string(tokenizer: Any, tokens: Sequence[str]) -> str:
    """``convert_tokens_to_string`` of the slow tokenizers XTREME used: WordPiece joins with spaces and glues
    ``##`` pieces; sentencepiece concatenates and turns ``▁`` into spaces. Whitespace is then collapsed."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if type(model).__name__ == "WordPiece":
        prefix = getattr(model, "continuing_subword_prefix", "##") or "##"
        text = " ".join(tokens).replace(" " + prefix, "").replace(prefix, "")
    elif any(t.startswith("\u2581") or "\u2581" in t for t in tokens) or type(model).__name__ == "Unigram":
        text = "".join(tokens).replace("\u2581", " ")
    else:
        text = tokenizer.convert_tokens_to_string(list(tokens))
    return " ".join(text.split())


def _is_control(c: str) -> bool:
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_whitespace(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


_DROP, _SPACE, _HAN, _KEEP = 0, 1, 2, 3


@lru_cache(maxsize=65536)
def _kind(c: str) -> int:
    """What the basic tokenizer does with one character (cached: a text repeats its characters)."""
    cp = ord(c)
    if cp == 0 or cp == 0xFFFD or _is_control(c):
        return _DROP
    if _is_whitespace(c):
        return _SPACE
    if any(lo <= cp <= hi for lo, hi in _CJK):
        return _HAN
    return _KEEP


def basic_tokens(text: str, lower: bool = False) -> list[str]:
    """BERT's BasicTokenizer: drop control characters, space out CJK characters, split on whitespace and
    punctuation (lower-casing and stripping accents first with ``lower``)."""
    chars = []
    for c in text:
        kind = _kind(c)
        if kind == _KEEP:
            chars.append(c)
        elif kind == _SPACE:
            chars.append(" ")
        elif kind == _HAN:
            chars.extend((" ", c, " "))
    out: list[str] = []
    for token in "".join(chars).split():
        if lower:
            token = "".join(c for c in unicodedata.normalize("NFD", token.lower()) if unicodedata.category(c) != "Mn")
        piece = ""
        for c in token:
            if _is_punctuation(c):
                if piece:
                    out.append(piece)
                out.append(c)
                piece = ""
            else:
                piece += c
        if piece:
            out.append(piece)
    return out


def _without_spaces(text: str) -> tuple[str, dict[int, int]]:
    """``text`` without its spaces, and each remaining character's index in ``text``."""
    kept, where = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        where[len(kept)] = i
        kept.append(c)
    return "".join(kept), where


def project(pred_text: str, orig_text: str, lower: bool = False) -> str:
    """``get_final_text``: ``pred_text`` located in ``orig_text`` through the basic tokenizer's view of it,
    else ``orig_text`` whole."""
    tok_text = " ".join(basic_tokens(orig_text, lower))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_map = _without_spaces(orig_text)
    tok_ns, tok_map = _without_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_to_ns = {i: ns for ns, i in tok_map.items()}
    if start not in tok_to_ns or end not in tok_to_ns:
        return orig_text
    a, b = orig_map.get(tok_to_ns[start]), orig_map.get(tok_to_ns[end])
    if a is None or b is None:
        return orig_text
    return orig_text[a:b + 1]


def xtreme_answer(tokenizer: Any, words: DocWords, input_ids: Sequence[int], offsets: Sequence, start: int,
                  end: int, lower: bool = False) -> str:
    """The text XTREME writes for the span of feature positions ``start..end``."""
    pieces = tokenizer.convert_ids_to_tokens(list(input_ids[start:end + 1]))
    first, last = words.word_at(offsets[start][0]), words.word_at(offsets[end][0])
    return project(tokens_to_string(tokenizer, pieces), words.text(first, last), lower)
