"""The demo data: XTREME's layout and formats, gold that agrees with the world it renders, determinism."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from xtreme_harness import demo_data as dd
from xtreme_harness.io.errors import UserError
from xtreme_harness.tasks.registry import registry

LANGS = ("en", "de", "es", "zh")
ALL = dd.SUPPORTED_LANGUAGES
TINY = dd.SIZES["tiny"]
TASK_LANGS = {task: set(spec.all_languages()) for task, spec in registry().items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return dd.write_demo_data(tmp_path_factory.mktemp("demo"), LANGS, seed=0, size="tiny")


@pytest.fixture(scope="module")
def small_en(tmp_path_factory) -> Path:
    return dd.write_demo_data(tmp_path_factory.mktemp("small_en"), ["en", "de"], seed=0, size="small")


@pytest.fixture(scope="module")
def demo_all(tmp_path_factory) -> Path:
    return dd.write_demo_data(tmp_path_factory.mktemp("demo_all"), "all", seed=3, size="tiny")


def expected_files(langs) -> set[str]:
    out = {"xnli/train-en.tsv", "pawsx/train-en.tsv", "udpos/train-en.tsv", "panx/train-en.tsv",
           "squad/train-v1.1.json", "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json",
           "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json"}
    for lang in langs:
        for task in ("xnli", "pawsx"):
            if lang in TASK_LANGS[task]:
                out |= {f"{task}/dev-{lang}.tsv", f"{task}/test-{lang}.tsv", f"{task}/labels/test-{lang}.tsv"}
        out |= {f"udpos/dev-{lang}.tsv", f"udpos/test-{lang}.tsv",
                f"panx/dev-{lang}.tsv", f"panx/test-{lang}.tsv", f"panx/labels/test-{lang}.tsv"}
        if lang in TASK_LANGS["xquad"]:
            out.add(f"xquad/xquad.{lang}.json")
        if lang in TASK_LANGS["mlqa"]:
            out |= {f"mlqa/MLQA_V1/{s}/{s}-context-{lang}-question-{lang}.json" for s in ("dev", "test")}
        if lang in TASK_LANGS["tydiqa"]:
            out.add(f"tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json")
        if lang in TASK_LANGS["bucc2018"]:
            out |= {f"bucc2018/{lang}-en.{s}.{x}" for s in ("dev", "test") for x in (lang, "en", "gold")}
        if lang != "en":
            out |= {f"tatoeba/{lang}-en.{lang}", f"tatoeba/{lang}-en.en", f"tatoeba/labels/test-{lang}.tsv"}
        if lang in TASK_LANGS["xcopa"]:
            out |= {f"xcopa/val-{lang}.jsonl", f"xcopa/test-{lang}.jsonl"}
        if lang in TASK_LANGS["lareqa"]:
            out.add(f"lareqa/xquad-r/{lang}.json")
        if lang in TASK_LANGS["mewslix"]:
            out |= {f"mewslix/wikinews_{kind}/{s}-{lang}.{ext}" for s in ("dev", "test")
                    for kind, ext in (("mentions", "jsonl"), ("labels", "json"))}
    out |= {"xcopa/train-en.jsonl", "xcopa/val-en.jsonl", "mewslix/candidate_set_entities.jsonl"}
    return out


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def read_tsv(path: Path) -> list[list[str]]:
    raw = path.read_bytes().decode("utf-8")
    assert raw.endswith("\r\n") and raw.count("\r\n") == raw.count("\n")  # CRLF throughout, as XTREME's
    return list(csv.reader(io.StringIO(raw, newline=""), delimiter="\t"))


def read_sentences(path: Path) -> list[list[list[str]]]:
    """CoNLL-style blocks: a list of sentences, each a list of tab-split lines."""
    text = path.read_text(encoding="utf-8")
    return [[line.split("\t") for line in block.split("\n") if line] for block in text.strip("\n").split("\n\n")]


def test_layout_default_languages(demo):
    got = files(demo)
    assert got == expected_files(LANGS)
    assert {p for p in got if p.startswith("bucc2018/")} == {
        f"bucc2018/{l}-en.{s}.{x}" for l in ("de", "zh") for s in ("dev", "test") for x in (l, "en", "gold")}


def test_layout_all_languages(demo_all):
    got = files(demo_all)
    assert got == expected_files(ALL)
    # languages outside a task's list get no file: PAWS-X has no ru/ar, XQuAD no fr, BUCC no es
    assert "pawsx/dev-ru.tsv" not in got and "xquad/xquad.fr.json" not in got
    assert "bucc2018/fr-en.test.gold" in got and "bucc2018/es-en.dev.gold" not in got
    assert "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.ar.dev.json" in got


def test_tydiqa_english_dev_always_written(tmp_path):
    root = dd.write_demo_data(tmp_path, ["de"], size="tiny")
    assert (root / "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json").exists()
    assert not (root / "xnli/dev-en.tsv").exists() and (root / "xnli/train-en.tsv").exists()


@pytest.mark.parametrize("task, labels", [("xnli", set(dd.NLI_LABELS)), ("pawsx", {"0", "1"})])
def test_pair_tasks(demo, task, labels):
    train = read_tsv(demo / f"{task}/train-en.tsv")
    assert len(train) == TINY["train"] and all(len(r) == 3 and r[2] in labels for r in train)
    dev_labels = None
    for lang in LANGS:
        dev = read_tsv(demo / f"{task}/dev-{lang}.tsv")
        assert len(dev) == TINY["dev"] and all(len(r) == 3 and r[2] in labels for r in dev)
        # dev sets are parallel: the same examples (and labels) in every language
        dev_labels = dev_labels or [r[2] for r in dev]
        assert [r[2] for r in dev] == dev_labels
        test = read_tsv(demo / f"{task}/test-{lang}.tsv")
        gold = (demo / f"{task}/labels/test-{lang}.tsv").read_text(encoding="utf-8").splitlines()
        assert len(test) == len(gold) == TINY["test"]
        assert all(len(r) == 2 and all(r) for r in test) and set(gold) <= labels
    assert {r[2] for r in train} == labels  # every label is represented


def test_tsv_quotes_like_csv(tmp_path):
    assert dd._tsv([['say "hi"', "b", "0"]]) == '"say ""hi"""\tb\t0\r\n'


def test_pawsx_pairs_share_words(demo):
    def words(s):
        return sorted(s.lower().rstrip(".").replace(",", "").split())

    for s1, s2, _ in read_tsv(demo / "pawsx/dev-en.tsv"):
        assert words(s1) == words(s2)


def test_udpos(demo):
    train = read_sentences(demo / "udpos/train-en.tsv")
    assert len(train) == TINY["train"]
    n = None
    for lang in LANGS:
        for split in ("dev", "test"):  # UD test files keep their tags
            sents = read_sentences(demo / f"udpos/{split}-{lang}.tsv")
            assert len(sents) == TINY[split]
            assert all(len(line) == 2 and line[1] in dd.UPOS_TAGS and line[0] for s in sents for line in s)
        n = n or len(sents)
        assert len(sents) == n


def test_udpos_english_train_uses_all_17_tags(small_en):
    tags = {line[1] for s in read_sentences(small_en / "udpos/train-en.tsv") for line in s}
    assert tags == set(dd.UPOS_TAGS) and len(tags) == 17


def _valid_iob2(tags):
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            return False
        prev = t
    return True


def test_panx(demo):
    for lang in LANGS:
        dev = read_sentences(demo / f"panx/dev-{lang}.tsv")
        assert len(dev) == TINY["dev"]
        assert all(len(line) == 2 and line[1] in dd.NER_TAGS for s in dev for line in s)
        assert all(_valid_iob2([line[1] for line in s]) for s in dev)
        test = read_sentences(demo / f"panx/test-{lang}.tsv")
        gold = read_sentences(demo / f"panx/labels/test-{lang}.tsv")
        assert len(test) == len(gold) == TINY["test"]
        assert [len(s) for s in test] == [len(s) for s in gold]
        assert all(len(line) == 1 for s in test for line in s)  # tokens only
        assert {line[0] for s in gold for line in s} <= set(dd.NER_TAGS)
        # labels give a blank line after every sentence
        assert (demo / f"panx/labels/test-{lang}.tsv").read_text(encoding="utf-8").endswith("\n\n")
    # WikiANN's Chinese is split into characters
    zh = read_sentences(demo / "panx/dev-zh.tsv")
    assert all(len(line[0]) == 1 for s in zh for line in s)


def test_entities_align_across_languages():
    rng = dd._rng(0, "test")
    for _ in range(200):
        fact = dd.random_fact(rng)
        counts = set()
        for lang in ALL:
            r = dd.render(lang, fact)
            counts.add(tuple(sorted(t[2:] for t in r.ner_tags() if t.startswith("B-"))))
            assert all(t.text and not any(ch.isspace() for ch in t.text) for t in r.tokens)
        assert len(counts) == 1, fact  # the same entities in every language


def qa_files(root: Path) -> list[Path]:
    """The SQuAD-format files: XQuAD, MLQA, TyDiQA, SQuAD and LAReQA's XQuAD-R (not Mewsli-X's JSON)."""
    return sorted(p for p in root.rglob("*.json") if "mewslix" not in p.parts)


def qa_split(path: Path) -> str:
    name = path.name
    if "train" in name:
        return "train"
    return "dev" if name.startswith("dev-") or name.endswith(".dev.json") else "test"


def test_qa_offsets(demo_all):
    paths = qa_files(demo_all)
    assert len(paths) >= 10
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data["version"], str) and data["data"]
        ids, n = set(), 0
        for article in data["data"]:
            assert isinstance(article["title"], str)
            for para in article["paragraphs"]:
                ctx = para["context"]
                assert 3 <= ctx.count(".") + ctx.count("。") <= 5  # contexts of 3-5 sentences
                for qa in para["qas"]:
                    ids.add(qa["id"])
                    n += 1
                    assert qa["question"].strip()
                    for a in qa["answers"]:
                        assert a["text"] and ctx[a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]
        assert len(ids) == n  # unique ids
        assert n == TINY[qa_split(path)], path


def test_qa_parallel_ids_and_versions(demo):
    def ids(p):
        d = json.loads((demo / p).read_text(encoding="utf-8"))
        return d["version"], [q["id"] for a in d["data"] for p_ in a["paragraphs"] for q in p_["qas"]]
    v_en, en = ids("xquad/xquad.en.json")
    v_zh, zh = ids("xquad/xquad.zh.json")
    assert en == zh and v_en == v_zh == "1.1"  # XQuAD is parallel: same ids in every language
    assert ids("mlqa/MLQA_V1/test/test-context-de-question-de.json")[0] == "1.0"
    assert ids("squad/train-v1.1.json")[0] == "1.1"
    assert ids("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json")[0] == "TyDiQA-GoldP-1.1-for-SQuAD-1.1"


def test_zh_answer_offsets_without_spaces(demo):
    d = json.loads((demo / "xquad/xquad.zh.json").read_text(encoding="utf-8"))
    para = d["data"][0]["paragraphs"][0]
    assert " " not in para["context"]
    for qa in para["qas"]:
        a = qa["answers"][0]
        assert para["context"][a["answer_start"]:].startswith(a["text"])


def test_tatoeba(demo_all):
    for lang in ALL[1:]:
        xx = (demo_all / f"tatoeba/{lang}-en.{lang}").read_text(encoding="utf-8").splitlines()
        en = (demo_all / f"tatoeba/{lang}-en.en").read_text(encoding="utf-8").splitlines()
        gold = [int(x) for x in (demo_all / f"tatoeba/labels/test-{lang}.tsv").read_text().splitlines()]
        assert len(xx) == len(en) == len(gold) == TINY["test"]
        assert en == sorted(en)  # as XTREME's preprocessing writes it
        assert sorted(gold) == list(range(len(en)))
        # the world model: line i renders fact i; gold[j] is the line whose fact sorted English line j renders
        facts = dd.tatoeba_facts(lang, 3, TINY["test"])
        for i, fact in enumerate(facts):
            assert xx[i] == dd.render(lang, fact).text
        for j, i in enumerate(gold):
            assert en[j] == dd.render("en", facts[i]).text


def _id_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        sid, text = line.split("\t")
        assert sid not in out
        out[sid] = text
    return out


def test_bucc(demo_all):
    for lang in ("de", "fr", "ru", "zh"):
        for split in ("dev", "test"):
            base = demo_all / f"bucc2018/{lang}-en.{split}"
            xx = _id_file(Path(f"{base}.{lang}"))
            en = _id_file(Path(f"{base}.en"))
            assert all(k.startswith(f"{lang}-") and len(k) == len(lang) + 10 for k in xx)
            assert list(xx)[0] == f"{lang}-000000001" and list(en)[0] == "en-000000001"
            gold = [line.split("\t") for line in Path(f"{base}.gold").read_text().splitlines()]
            assert len(gold) == TINY[split]
            assert all(a in xx and b in en for a, b in gold)
            # distractors on both sides, and a repeated sentence on each
            assert len(xx) > len(gold) and len(en) > len(gold)
            assert len(set(xx.values())) < len(xx) and len(set(en.values())) < len(en)
            # gold pairs are translations; sentences outside gold have none on the other side
            xs, es, pairs = dd.bucc_corpus(lang, split, 3, TINY[split])
            assert [dd.render(lang, f).text for f in xs] == list(xx.values())
            assert [dd.render("en", f).text for f in es] == list(en.values())
            assert [(f"{lang}-{i + 1:09d}", f"en-{j + 1:09d}") for i, j in pairs] == [tuple(g) for g in gold]
            en_texts = set(en.values())
            paired = {i for i, _ in pairs}
            for i, f in enumerate(xs):
                assert (dd.render("en", f).text in en_texts) == (i in paired)


def test_deterministic(tmp_path):
    a = dd.write_demo_data(tmp_path / "a", LANGS, seed=7, size="tiny")
    b = dd.write_demo_data(tmp_path / "b", LANGS, seed=7, size="tiny")
    c = dd.write_demo_data(tmp_path / "c", LANGS, seed=8, size="tiny")
    assert files(a) == files(b) == files(c)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files(a))
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files(a))


def test_language_choice_does_not_change_shared_content(tmp_path):
    a = dd.write_demo_data(tmp_path / "a", ["en", "de"], size="tiny")
    b = dd.write_demo_data(tmp_path / "b", ALL, size="tiny")
    for f in files(a):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_fast(tmp_path):
    start = time.process_time()
    dd.write_demo_data(tmp_path / "small", LANGS, size="small")
    assert time.process_time() - start < 2.0
    start = time.process_time()
    dd.write_demo_data(tmp_path / "tiny", ALL, size="tiny")
    assert time.process_time() - start < 1.0


def test_small_sizes(small_en):
    assert len(read_tsv(small_en / "xnli/train-en.tsv")) == dd.SIZES["small"]["train"]
    assert 60 <= len(read_tsv(small_en / "xnli/dev-de.tsv")) <= 100
    squad = json.loads((small_en / "squad/train-v1.1.json").read_text(encoding="utf-8"))
    assert sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"]) == dd.SIZES["small"]["train"]


def test_bad_input(tmp_path):
    with pytest.raises(UserError, match="no language 'xx'"):
        dd.write_demo_data(tmp_path, ["en", "xx"], size="tiny")
    with pytest.raises(UserError, match="unknown demo size"):
        dd.write_demo_data(tmp_path, ["en"], size="huge")


def test_cli(tmp_path, capsys):
    assert dd.main([str(tmp_path / "out"), "--languages", "en,fr", "--size", "tiny"]) == 0
    assert (tmp_path / "out/tatoeba/fr-en.fr").exists() and not (tmp_path / "out/xnli/dev-de.tsv").exists()
    assert dd.main([str(tmp_path / "bad"), "--languages", "en,xx"]) == 2
    assert "no language 'xx'" in capsys.readouterr().err


def test_project_readers_accept_demo_data(demo_all):
    """Every file the demo writes reads back through the harness's own readers, gold included."""
    readers = pytest.importorskip("xtreme_harness.tasks.data")
    specs, n = registry(), 0
    for task, spec in specs.items():
        for lang in ALL:
            for split in spec.splits:
                if not readers.available(spec, demo_all, lang, split):
                    continue
                got = readers.read_split(spec, demo_all, lang, split)
                n += 1
                size = TINY["dev" if task == "tydiqa" and split == "test" else split]  # test is the dev file
                if task == "tatoeba":
                    assert len(got.source) == len(got.gold) == size and got.target == sorted(got.target)
                elif task == "bucc2018":
                    assert len(got.gold_pairs) == size
                elif task in ("lareqa", "mewslix"):
                    assert got.n == size and all(got.relevant) and set(got.candidate_ids) >= {
                        c for rel in got.relevant for c in rel}
                elif task == "xcopa":
                    assert len(got) == size and all(ex.label in (0, 1) and len(ex.choices) == 2 for ex in got)
                elif spec.family == "classification":
                    assert len(got) == size and all(ex.label in spec.labels for ex in got)
                elif spec.family == "tagging":
                    assert len(got) == size and all(ex.tags and len(ex.tags) == len(ex.tokens) for ex in got)
                else:
                    assert len(got) == size and all(
                        ex.context[a.start:a.start + len(a.text)] == a.text for ex in got for a in ex.answers)
    assert n > 70


def test_xtreme_r_tasks(demo):
    # XCOPA: COPA's JSON lines, balanced labels, the same items in every language
    en = [json.loads(x) for x in (demo / "xcopa/val-en.jsonl").read_text(encoding="utf-8").splitlines()]
    zh = [json.loads(x) for x in (demo / "xcopa/val-zh.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in en] == [r["label"] for r in zh] and {r["label"] for r in en} == {0, 1}
    assert all(r["question"] in ("cause", "effect") and r["choice1"] != r["choice2"] for r in en + zh)
    # LAReQA: XQuAD-R paragraphs whose sentence breaks cut the context into its sentences
    ids = None
    for lang in ("en", "de", "zh"):
        doc = json.loads((demo / f"lareqa/xquad-r/{lang}.json").read_text(encoding="utf-8"))
        paras = [p for a in doc["data"] for p in a["paragraphs"]]
        for p in paras:
            assert p["sentences"] == [p["context"][s:e] for s, e in p["sentence_breaks"]]
            for qa in p["qas"]:
                start = qa["answers"][0]["answer_start"]
                assert any(s <= start < e for s, e in p["sentence_breaks"])
        qids = [qa["id"] for p in paras for qa in p["qas"]]
        ids = ids or qids
        assert qids == ids
    # Mewsli-X: mention spans point at their text; every gold entity is a candidate
    cands = {json.loads(x)["entity_id"] for x in (demo / "mewslix/candidate_set_entities.jsonl").read_text(
        encoding="utf-8").splitlines()}
    labels = json.loads((demo / "mewslix/wikinews_labels/test-de.json").read_text(encoding="utf-8"))
    for line in (demo / "mewslix/wikinews_mentions/test-de.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        for m in rec["mentions"]:
            span = m["mention_span"]
            assert rec["context"]["text"][span["start"]:span["end"]] == span["text"]
            assert labels[m["example_id"]] == [m["entity_id"]] and m["entity_id"] in cands
