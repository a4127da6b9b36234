"""CoNLL-style word/tag files (UD-POS, PAN-X): ``word<TAB>tag`` (or ``word`` alone) per line, a blank line between sentences."""

from __future__ import annotations

from pathlib import Path

from ..io.errors import UserError
from ..io.files import present, read_lines, read_text
from ..io.messages import listing, show
from .examples import TaggingExample
from .lines import non_empty, read_tag_gold


def read_conll(path: Path, labels: tuple[str, ...] | None, gold: Path | None, limit: int | None = None,
               lang: str = "") -> list[TaggingExample]:
    """``word<TAB>tag`` (or ``word`` alone in test files) per line, a blank line between sentences."""
    allowed = set(labels or ())
    text = read_text(path, "data file")
    sentences = _plain_sentences(text, allowed)
    if sentences is None:
        sentences = _checked_sentences(path, labels, allowed)
    if not sentences:
        raise UserError("no sentences; expected 'word<TAB>tag' lines with a blank line between sentences", path)
    return _examples(path, sentences, labels, gold, limit, lang)


def _plain_sentences(text: str, allowed: set) -> list | None:
    """The sentences of a file in the plain shape, read with whole-text splits: every sentence's lines all
    ``word<TAB>tag`` or all ``word``, tags in ``allowed``, single empty lines between sentences, no CR. None
    for anything else: :func:`_checked_sentences` then reads it line by line and says what is wrong where."""
    if "\r" in text:
        return None
    sentences = []
    for block in text.split("\n\n"):
        rows = [ln.split("\t") for ln in block.split("\n") if ln]
        if not rows:
            continue
        width = len(rows[0])
        if width > 2 or any(len(r) != width for r in rows):
            return None
        words = [r[0] for r in rows]
        if not all(w.strip() for w in words):  # a blank-looking line, or an empty word: the careful reader
            return None
        if width == 2:
            tags = [r[1].strip() for r in rows]
            if allowed and not allowed.issuperset(tags):
                return None
        else:
            tags = [None] * len(words)
        sentences.append((words, tags, None))
    return sentences


def _checked_sentences(path: Path, labels, allowed: set) -> list:
    sentences: list[tuple[list[str], list[str | None], list[int]]] = []
    words: list[str] = []
    tags: list[str | None] = []
    word_lines: list[int] = []
    for i, line in enumerate(read_lines(path, "data file"), 1):
        if not line.strip():
            if words:
                sentences.append((words, tags, word_lines))
            words, tags, word_lines = [], [], []
            continue
        n_tabs = line.count("\t")
        if n_tabs > 1:
            raise UserError(f"expected 'word<TAB>tag' or 'word', found {n_tabs + 1} columns", path, i)
        cols = line.split("\t")
        word = cols[0]
        if not word.strip():
            raise UserError("empty word", path, i)
        tag = cols[1].strip() if len(cols) == 2 else None
        if tag is not None and allowed and tag not in allowed:
            raise UserError(f"tag {show(tag)} is not in the tag set ({listing(labels)})", path, i)
        words.append(word)
        tags.append(tag)
        word_lines.append(i)
    if words:
        sentences.append((words, tags, word_lines))
    return sentences


def _examples(path: Path, sentences: list, labels, gold: Path | None, limit: int | None, lang: str
              ) -> list[TaggingExample]:
    examples = []
    for k, (ws, ts, wl) in enumerate(sentences):
        have = [t is not None for t in ts]
        if any(have) and not all(have):
            odd = next(j for j, h in enumerate(have) if h != have[0])  # the first word unlike the first one
            raise UserError("some words of this sentence have a tag and some don't; expected 'word<TAB>tag' on "
                            "every line, or 'word' alone on every line", path, wl[odd])
        examples.append(TaggingExample(id=f"{lang}-{k}", tokens=ws, tags=list(ts) if all(have) else None))
    if examples and all(ex.tags is None for ex in examples) and present(gold):
        gold_sents, starts = non_empty(*read_tag_gold(str(gold), labels, "labels file"))
        if len(gold_sents) != len(examples):
            line = starts[len(examples)] if len(gold_sents) > len(examples) else None
            raise UserError(f"{len(gold_sents)} gold sentences for {len(examples)} sentences in {path}", gold, line)
        for k, (ex, g) in enumerate(zip(examples, gold_sents)):
            if len(g) != len(ex.tokens):
                raise UserError(f"sentence {k + 1} has {len(g)} gold tags for {len(ex.tokens)} words in {path}", gold,
                                starts[k])
            ex.tags = list(g)
    return examples[:limit] if limit is not None else examples
