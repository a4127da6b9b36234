"""Readers on the real XTREME files and through the hf source (offline, local files)."""

from __future__ import annotations

import json

import pytest

from xtreme_harness.tasks.data import read_split
from xtreme_harness.io.errors import UserError
from xtreme_harness.tasks.registry import registry

SPECS = registry()


@pytest.mark.parametrize("task, lang, split, n", [
    ("xnli", "de", "test", 5010), ("xnli", "en", "dev", 2490), ("pawsx", "de", "test", 2000),
    ("udpos", "zh", "test", 500), ("panx", "de", "dev", 10000), ("xquad", "zh", "test", 1190),
    ("mlqa", "de", "dev", 512), ("tydiqa", "ko", "test", 276), ("udpos", "en", "train", 12543),
])
def test_real_files(shared_data, task, lang, split, n):
    examples = read_split(SPECS[task], shared_data, lang, split)
    assert len(examples) == n
    if SPECS[task].family == "qa":
        ex = examples[0]
        assert all(ex.context[a.start:a.start + len(a.text)] == a.text for a in ex.answers)
    elif SPECS[task].family == "classification":
        # test labels come from labels/test-<lang>.tsv since XTREME strips them from the file
        assert all(ex.label in SPECS[task].labels for ex in examples)
    else:
        assert all(len(ex.tags) == len(ex.tokens) for ex in examples)


def test_panx_test_has_no_gold(shared_data):
    ex = read_split(SPECS["panx"], shared_data, "de", "test", limit=5)
    assert len(ex) == 5 and all(e.tags is None for e in ex)


def test_tatoeba_sorted_english_side(shared_data):
    rs = read_split(SPECS["tatoeba"], shared_data, "de", "test")
    assert rs.target == sorted(rs.target)  # XTREME's preprocessing sorts the English side
    assert len(rs.gold) == len(rs.target) == len(rs.source) == rs.n == 1000
    assert sorted(rs.gold) == list(range(1000))
    # XTREME's orientation: gold[j] is the line of the original (aligned) files that sorted English line j came from.
    orig_en = (shared_data / "tatoeba/original/tatoeba.deu-eng.eng").read_text(encoding="utf-8").splitlines()
    orig_de = (shared_data / "tatoeba/original/tatoeba.deu-eng.deu").read_text(encoding="utf-8").splitlines()
    assert [orig_en[g].strip() for g in rs.gold] == rs.target
    assert [orig_de[g] for g in rs.gold[:50]] == [rs.source[g] for g in rs.gold[:50]]
    limited = read_split(SPECS["tatoeba"], shared_data, "de", "test", limit=7)
    assert limited.n == 7 and limited.gold == rs.gold[:7] and len(limited.source) == len(limited.target) == 1000


def test_bucc_ids_and_gold(shared_data):
    rs = read_split(SPECS["bucc2018"], shared_data, "zh", "dev")
    assert len(rs.source_ids) == 8624 and len(rs.target_ids) == 13589
    assert len(rs.gold_pairs) == 257 and rs.gold_pairs[0][0].startswith("zh-")


# --- bad input -------------------------------------------------------------------------

def _layout(tmp_path, rel, text):
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


def test_bad_label_names_file_and_line(tmp_path):
    p = _layout(tmp_path, "xnli/dev-en.tsv", "a\tb\tentailment\na\tb\tmaybe\n")
    with pytest.raises(UserError) as e:
        read_split(SPECS["xnli"], tmp_path, "en", "dev")
    assert str(e.value).startswith(f"{p}:2: label 'maybe' is not in the label set")


def test_wrong_columns(tmp_path):
    p = _layout(tmp_path, "pawsx/dev-en.tsv", "a\tb\t1\nonly one column\n")
    with pytest.raises(UserError, match=r"dev-en.tsv:2: expected 2 or 3 tab-separated columns"):
        read_split(SPECS["pawsx"], tmp_path, "en", "dev")


def test_crlf_and_bom_are_fine(tmp_path):
    _layout(tmp_path, "pawsx/dev-en.tsv", b"\xef\xbb\xbfa\tb\t1\r\nc\td\t0\r\n")
    ex = read_split(SPECS["pawsx"], tmp_path, "en", "dev")
    assert [(e.text_a, e.label) for e in ex] == [("a", "1"), ("c", "0")]


def test_invalid_utf8_names_line(tmp_path):
    p = _layout(tmp_path, "udpos/dev-en.tsv", b"ok\tNOUN\n\nbad\xff\tNOUN\n")
    with pytest.raises(UserError) as e:
        read_split(SPECS["udpos"], tmp_path, "en", "dev")
    assert str(e.value).startswith(f"{p}:3: invalid UTF-8")


def test_unknown_tag(tmp_path):
    _layout(tmp_path, "panx/dev-en.tsv", "Paris\tB-LOC\nis\tO\nnice\tB-MISC\n")
    with pytest.raises(UserError, match=r"dev-en.tsv:3: tag 'B-MISC' is not in the tag set"):
        read_split(SPECS["panx"], tmp_path, "en", "dev")


def test_qa_offset_mismatch_and_missing_keys(tmp_path):
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}]}]}]}]}
    p = _layout(tmp_path, "xquad/xquad.en.json", json.dumps(doc, indent=1))
    with pytest.raises(UserError, match="answer_start 3 of question 'q1' does not point at its answer"):
        read_split(SPECS["xquad"], tmp_path, "en", "test")
    del doc["data"][0]["paragraphs"][0]["context"]
    p.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="lacks 'context' or 'qas'"):
        read_split(SPECS["xquad"], tmp_path, "en", "test")
    p.write_text('{"data": [')
    with pytest.raises(UserError, match=r"xquad.en.json:1: malformed JSON"):
        read_split(SPECS["xquad"], tmp_path, "en", "test")


def test_duplicate_question_ids(tmp_path):
    qa = {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]}
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [qa, qa]}]}]}
    _layout(tmp_path, "xquad/xquad.en.json", json.dumps(doc))
    with pytest.raises(UserError, match="duplicate question id 'q1'"):
        read_split(SPECS["xquad"], tmp_path, "en", "test")


def test_gold_labels_file_shorter_than_data(tmp_path):
    _layout(tmp_path, "xnli/test-de.tsv", "a\tb\nc\td\ne\tf\n")
    g = _layout(tmp_path, "xnli/labels/test-de.tsv", "neutral\nentailment\n")
    with pytest.raises(UserError) as e:
        read_split(SPECS["xnli"], tmp_path, "de", "test")
    assert str(e.value).startswith(f"{g}:3: 2 labels for 3 examples")


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"xnli/dev-en.tsv: data file not found"):
        read_split(SPECS["xnli"], tmp_path, "en", "dev")


# --- the hf source, offline: the same load_dataset call on a local dataset repository ------

def _hf_repo(tmp_path):
    import datasets

    repo = tmp_path / "xtreme-local"
    ner = datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])
    ds = datasets.Dataset.from_dict(
        {"tokens": [["Ada", "lebt", "in", "Paris"], ["Hallo"]], "ner_tags": [[1, 0, 0, 5], [0]],
         "langs": [["de"] * 4, ["de"]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "ner_tags": datasets.Sequence(ner),
                                    "langs": datasets.Sequence(datasets.Value("string"))}))
    (repo / "PAN-X.de").mkdir(parents=True)
    ds.to_parquet(str(repo / "PAN-X.de" / "validation-00000.parquet"))
    xnli = datasets.Dataset.from_dict({"language": ["de", "en", "de"], "sentence1": ["a", "b", "c"],
                                       "sentence2": ["x", "y", "z"],
                                       "gold_label": ["neutral", "entailment", "contradiction"]})
    (repo / "XNLI").mkdir()
    xnli.to_parquet(str(repo / "XNLI" / "test-00000.parquet"))
    tat = datasets.Dataset.from_dict({"source_sentence": ["Hund", "Katze", "Baum", "Vogel"],
                                      "target_sentence": ["dog", "cat", "a tree", "bird "],
                                      "source_lang": ["deu"] * 4, "target_lang": ["eng"] * 4})
    (repo / "tatoeba.deu").mkdir()
    tat.to_parquet(str(repo / "tatoeba.deu" / "validation-00000.parquet"))
    (repo / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: PAN-X.de\n  data_files:\n  - split: validation\n    path: PAN-X.de/validation-*.parquet\n"
        "- config_name: XNLI\n  data_files:\n  - split: test\n    path: XNLI/test-*.parquet\n"
        "- config_name: tatoeba.deu\n  data_files:\n  - split: validation\n    path: tatoeba.deu/validation-*.parquet\n"
        "---\n")
    return repo


def test_hf_source_offline(tmp_path, hf_cache):
    repo = _hf_repo(tmp_path)
    src = f"hf:{repo}"
    panx = read_split(SPECS["panx"], src, "de", "dev")
    assert panx[0].tokens == ["Ada", "lebt", "in", "Paris"] and panx[0].tags == ["B-PER", "O", "O", "B-LOC"]
    xnli = read_split(SPECS["xnli"], src, "de", "test")  # one config for all languages, filtered
    assert [(e.text_a, e.label) for e in xnli] == [("a", "neutral"), ("c", "contradiction")]
    tat = read_split(SPECS["tatoeba"], src, "de", "test")
    # the hub holds aligned pairs: the English side is sorted and gold[j] is the German line of English line j
    # (stripped, then sorted, as XTREME's tatoeba_preprocess writes <xx>-en.en)
    assert tat.target == ["a tree", "bird", "cat", "dog"] and tat.source == ["Hund", "Katze", "Baum", "Vogel"]
    assert tat.gold == [2, 3, 1, 0] and tat.n == 4


def test_hf_source_missing_config(tmp_path, hf_cache):
    repo = _hf_repo(tmp_path)
    with pytest.raises(UserError, match="cannot load .* config 'PAN-X.fr'"):
        read_split(SPECS["panx"], f"hf:{repo}", "fr", "dev")


def test_hf_local_copy_is_reread_after_an_edit(tmp_path, hf_cache):
    """datasets caches a local copy by its path; an edited copy must not be served from that cache."""
    import datasets

    repo = _hf_repo(tmp_path)
    src = f"hf:{repo}"
    assert len(read_split(SPECS["tatoeba"], src, "de", "test").source) == 4
    tat = datasets.Dataset.from_dict({"source_sentence": ["Hund", "Katze"], "target_sentence": ["dog", "cat"],
                                      "source_lang": ["deu"] * 2, "target_lang": ["eng"] * 2})
    tat.to_parquet(str(repo / "tatoeba.deu" / "validation-00000.parquet"))
    again = read_split(SPECS["tatoeba"], src, "de", "test")
    assert again.source == ["Hund", "Katze"] and again.target == ["cat", "dog"] and again.gold == [1, 0]
