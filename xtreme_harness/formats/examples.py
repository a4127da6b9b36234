"""Typed examples: what every reader returns and every family consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PairExample:
    """A sentence pair for classification (XNLI, PAWS-X); ``label`` is None when gold is unknown."""

    id: str
    text_a: str
    text_b: str
    label: str | None = None


@dataclass
class TaggingExample:
    """One sentence of words with one tag per word (UD-POS, PAN-X)."""

    id: str
    tokens: list[str]
    tags: list[str] | None = None


@dataclass
class Answer:
    text: str
    start: int  # character offset into the context; checked by the reader


@dataclass
class QAExample:
    """One question over one context (SQuAD v1.1 shape)."""

    id: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)
    title: str = ""


@dataclass
class ChoiceExample:
    """One multiple-choice item: a context and/or question with N candidate answers (``label``: their index)."""

    id: str
    context: str
    question: str
    choices: list[str]
    label: int | None = None


@dataclass
class RetrievalSet:
    """A bitext retrieval problem between a non-English side and an English side.

    Tatoeba: ``source`` is the non-English file, ``target`` the (sorted) English
    file; the queries are the first ``queries`` English lines (all of them
    unless ``--limit``), and ``gold[j]`` is the 0-based source line that
    translates English line j (or None), XTREME's orientation.
    BUCC: sentences carry corpus ids and ``gold_pairs`` lists (xx-id, en-id);
    every source sentence is a query.
    """

    lang: str
    source: list[str]
    target: list[str]
    source_ids: list[str] | None = None
    target_ids: list[str] | None = None
    gold: list[int] | None = None
    gold_pairs: list[tuple[str, str]] | None = None
    queries: int | None = None
    split: str | None = None  # the split read (BUCC names where its threshold came from)
    threshold_set: "RetrievalSet | None" = None  # BUCC: the split its mining threshold is tuned on

    @property
    def id(self) -> str:
        return self.lang

    @property
    def n(self) -> int:
        """How many queries are scored: one prediction line each."""
        return self.queries if self.queries is not None else len(self.source)


@dataclass
class RankingSet:
    """Ranked retrieval (LAReQA, Mewsli-X): queries of one language against a shared candidate pool.

    ``relevant[i]`` lists the ids of the candidates that answer query i (empty
    when gold is unknown); ``candidate_ids`` are the ids a submission names.
    """

    lang: str
    query_ids: list[str]
    queries: list[str]
    candidate_ids: list[str]
    candidates: list[str]
    relevant: list[list[str]] | None = None

    @property
    def id(self) -> str:
        return self.lang

    @property
    def n(self) -> int:
        return len(self.queries)
