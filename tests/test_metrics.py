"""Metric edge cases worked out by hand, and properties that must hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtreme_harness.metrics import (accuracy, bucc_f1, macro_f1, mlqa_em_f1, pos_chunk_f1, seqeval_f1,
                                    squad_em_f1, token_accuracy)
from xtreme_harness.metrics.qa import mlqa_normalize, squad_normalize
from xtreme_harness.metrics.tagging import legacy_entities


# --- classification -----------------------------------------------------------------

def test_accuracy_by_hand():
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "c"]) == {"accuracy": 50.0}
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"])["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2 * 100)
    with pytest.raises(ValueError):
        accuracy(["a"], ["a", "b"])


# --- QA -----------------------------------------------------------------------------

def test_squad_empty_and_unanswered():
    golds = [["Paris"], ["the Eiffel Tower"], ["42"]]
    r = squad_em_f1(golds, ["", "Eiffel Tower", None])  # empty answer, article dropped, unanswered
    assert r["exact_match"] == pytest.approx(100 / 3)
    assert r["f1"] == pytest.approx(100 / 3)


def test_squad_normaliser_is_english_only_even_for_arabic_and_cjk():
    # ASCII punctuation and English articles only: Arabic "ال" and CJK full-width punctuation stay.
    assert squad_normalize("القاهرة") == "القاهرة"
    assert squad_normalize("北京。") == "北京。"
    assert squad_normalize("The  Cat, a dog!") == "cat dog"
    # A CJK answer is one whitespace token: a partial match scores 0 F1 under SQuAD rules.
    assert squad_em_f1([["北京大学"]], ["北京"])["f1"] == 0.0


def test_mlqa_unicode_punctuation_articles_and_cjk_split():
    assert mlqa_normalize("«Hola», el perro.", "es") == "hola perro"
    assert mlqa_normalize("Die Katze", "de") == "katze"
    # Arabic: the official regex removes every "ال", wherever it is.
    assert mlqa_normalize("القاهرة", "ar") == "قاهرة"
    assert mlqa_normalize("北京大学。", "zh") == "北 京 大 学"
    r = mlqa_em_f1([["北京大学"]], ["北京"], "zh")  # character-level overlap for zh
    assert r["exact_match"] == 0.0
    assert r["f1"] == pytest.approx(100 * 2 * (1.0 * 0.5) / 1.5)
    with pytest.raises(ValueError):
        mlqa_normalize("x", "xx")


def test_qa_max_over_gold_answers():
    r = squad_em_f1([["cat", "the black cat"]], ["black cat"])
    assert r["exact_match"] == 100.0 and r["f1"] == 100.0


# --- tagging ------------------------------------------------------------------------

def test_seqeval_irregular_bio():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC"]]  # I- without B- still opens a chunk
    assert seqeval_f1(gold, pred)["f1"] == 100.0
    pred2 = [["B-PER", "I-ORG", "O", "B-LOC"]]  # type change splits the chunk
    r = seqeval_f1(gold, pred2)
    assert r["precision"] == pytest.approx(100 / 3) and r["recall"] == 50.0


def test_pos_legacy_chunks_by_hand():
    # First letter is read as the prefix: SCONJ/SYM are S(ingle) chunks, INTJ is an I-, runs merge.
    assert legacy_entities([["NOUN", "NOUN", "VERB"]]) == [("NOUN", 0, 1), ("VERB", 2, 2)]
    assert legacy_entities([["SCONJ", "SCONJ"]]) == [("SCONJ", 0, 0), ("SCONJ", 1, 1)]
    assert legacy_entities([["DET"], ["DET"]]) == [("DET", 0, 0), ("DET", 2, 2)]
    gold = [["NOUN", "NOUN", "VERB"]]
    pred = [["NOUN", "VERB", "VERB"]]
    r = pos_chunk_f1(gold, pred)
    assert r["f1"] == 0.0  # no chunk boundaries agree, though 2 of 3 tokens are right
    assert token_accuracy(gold, pred)["token_accuracy"] == pytest.approx(200 / 3)


# --- BUCC ---------------------------------------------------------------------------

def test_bucc_duplicates_count_once():
    gold = ["de-1\ten-1", "de-2\ten-2"]
    pred = ["de-1\ten-1", "de-1\ten-1", "de-3\ten-3"]
    r = bucc_f1(gold, pred)
    assert r["precision"] == 50.0 and r["recall"] == 50.0 and r["f1"] == 50.0
    assert bucc_f1(gold, [])["f1"] == 0


# --- properties ---------------------------------------------------------------------

labels = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30)
tags = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "NOUN", "VERB", "SCONJ", "INTJ"])
sentences = st.lists(st.lists(tags, min_size=1, max_size=8), min_size=1, max_size=6)
texts = st.text(alphabet=st.sampled_from(list("ab cd,.the北京ال")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(labels, st.randoms())
def test_accuracy_bounds_and_order_invariance(gold, rnd):
    pred = [rnd.choice("abc") for _ in gold]
    a = accuracy(gold, pred)["accuracy"]
    assert 0 <= a <= 100
    idx = list(range(len(gold)))
    rnd.shuffle(idx)
    assert accuracy([gold[i] for i in idx], [pred[i] for i in idx])["accuracy"] == pytest.approx(a)
    assert accuracy(gold, gold)["accuracy"] == 100.0


@settings(max_examples=60, deadline=None)
@given(sentences, st.randoms())
def test_chunk_f1_symmetry_and_bounds(gold, rnd):
    pred = [[rnd.choice(["O", "B-PER", "I-PER", "NOUN", "VERB"]) for _ in s] for s in gold]
    for fn in (seqeval_f1, pos_chunk_f1):
        r = fn(gold, pred)
        assert all(0 <= v <= 100 for v in r.values())
        swapped = fn(pred, gold)  # F1 is symmetric; precision and recall trade places
        assert swapped["f1"] == pytest.approx(r["f1"])
        assert swapped["precision"] == pytest.approx(r["recall"])
    assert pos_chunk_f1(gold, gold)["f1"] in (0, 100.0)
    # Sentence order does not matter.
    order = list(range(len(gold)))
    rnd.shuffle(order)
    assert pos_chunk_f1([gold[i] for i in order], [pred[i] for i in order])["f1"] == pytest.approx(
        pos_chunk_f1(gold, pred)["f1"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=10))
def test_qa_symmetric_f1_and_bounds(pairs):
    for p, g in pairs:
        if not squad_normalize(p).split() or not squad_normalize(g).split():
            continue
        assert squad_em_f1([[g]], [p])["f1"] == pytest.approx(squad_em_f1([[p]], [g])["f1"])
    golds = [[g] for _, g in pairs]
    preds = [p for p, _ in pairs]
    for r in (squad_em_f1(golds, preds), mlqa_em_f1(golds, preds, "zh")):
        assert 0 <= r["exact_match"] <= 100
        assert 0 <= r["f1"] <= 100
    assert squad_em_f1(golds, [g[0] for g in golds])["exact_match"] == 100.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=30),
       st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=30))
def test_bucc_order_invariant_and_symmetric(gold, pred):
    g = [f"x{a}\te{b}" for a, b in gold]
    p = [f"x{a}\te{b}" for a, b in pred]
    r = bucc_f1(g, p)
    assert r == bucc_f1(list(reversed(g)), list(reversed(p)))
    assert r["f1"] == pytest.approx(bucc_f1(p, g)["f1"])
    assert 0 <= r["f1"] <= 100


# --- the array chunkers equal the loops they replace ------------------------------------

_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "NOUN", "SCONJ", "ADJ", "I-X-Y", ".", "B", "I"]
tag_sentences = st.lists(st.lists(st.sampled_from(_TAGS), min_size=0, max_size=8), min_size=1, max_size=8)


@pytest.mark.filterwarnings("ignore:.*seems not to be NE tag")
@settings(max_examples=150, deadline=None)
@given(tag_sentences, st.randoms())
def test_array_chunk_metrics_equal_the_references(gold, rnd):
    from xtreme_harness.metrics.tagging import (chunk_counts, chunk_records, correct_token_records,
                                                pos_chunk_f1_reference, seqeval_f1_reference)

    pred = [[rnd.choice(_TAGS) for _ in s] for s in gold]
    assert seqeval_f1(gold, pred) == seqeval_f1_reference(gold, pred)
    assert pos_chunk_f1(gold, pred) == pos_chunk_f1_reference(gold, pred)
    for official in ("seqeval", "pos_chunk_f1"):
        assert chunk_records(official, gold, pred) == [
            dict(zip(("tp", "n_pred", "n_gold"), chunk_counts(official, g, p))) for g, p in zip(gold, pred)]
    assert correct_token_records(gold, pred) == [{"correct_tokens": sum(a == b for a, b in zip(g, p))}
                                                 for g, p in zip(gold, pred)]
    total = sum(map(len, gold))
    right = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    assert token_accuracy(gold, pred)["token_accuracy"] == pytest.approx(right / total * 100 if total else 0.0)


def test_chunk_metrics_see_sentences_changed_in_place():
    """The encoding the metrics of one language share is reused only for the same content, not the same lists."""
    gold = [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]
    assert seqeval_f1(gold, pred)["f1"] == 100.0
    pred[1][1] = "O"
    assert seqeval_f1(gold, pred)["recall"] == 50.0
    assert token_accuracy(gold, pred)["token_accuracy"] == pytest.approx(400 / 5)
