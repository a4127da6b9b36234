"""The lm-eval backend: generated task YAMLs, our data and metrics inside lm-eval, results.json, xtreme-encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny import build_causal_lm, build_checkpoint, build_suite
from xtreme_harness.io.errors import UserError
from xtreme_harness.lmeval import LMEVAL_TASKS, generate, task_name, tasks_path
from xtreme_harness.metrics.qa import mlqa_em_f1, squad_em_f1
from xtreme_harness.tasks.scoring import score_folders
from xtreme_harness.tasks.registry import registry

lm_eval = pytest.importorskip("lm_eval")
from lm_eval.api.model import LM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

NLI = ["contradiction", "entailment", "neutral"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from xtreme_harness.demo_data import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo"), ["en", "de"], seed=0, size="tiny")


class PartlyRightLM(LM):
    """Deterministic answers with every kind of outcome: right, partly right (extra words, a second line), wrong."""

    def loglikelihood(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            right = r.doc_id % 3 != 2
            chosen = r.doc["label_index"] if right else (r.doc["label_index"] + 1) % len(r.doc["labels"])
            out.append((0.0 if r.idx == chosen else -1.0 - r.idx, r.idx == chosen))
        return out

    def generate_until(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            if "tokens" in r.doc:  # tagging: right, a word short, bare lower-case tags, a tag outside the set
                pairs = [f"{w}/{t}" for w, t in zip(r.doc["tokens"], r.doc["tags"])]
                out.append([" ".join(pairs), " ".join(pairs[:-1]), " ".join(r.doc["tags"]).lower(),
                            " ".join([r.doc["tokens"][0] + "/NOPE"] + pairs[1:])][r.doc_id % 4])
                continue
            gold = r.doc["answers"][0]
            kind = r.doc_id % 4
            out.append([f" {gold}", f" the {gold} ,\nsecond line", " ".join(r.doc["context"].split()[:4]), ""][kind])
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def _run(cfg_kwargs, lm=None):
    from xtreme_harness.lmeval.producer import LMEvalProducer
    from xtreme_harness.options import EvalOptions
    from xtreme_harness.run import run

    options = EvalOptions.build({"backend": "lm-eval", **cfg_kwargs})
    return run(options, LMEvalProducer(options, lm) if lm is not None else None)


# --- the YAMLs -------------------------------------------------------------------------------

def test_committed_yamls_equal_a_fresh_rendering():
    files = generate.render(generate.builtin_specs(), umbrella=True)
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in tasks_path().glob("*.yaml")}
    assert sorted(on_disk) == sorted(files), "run: python -m xtreme_harness.lmeval.generate"
    for name, text in files.items():
        assert on_disk[name] == text, f"{name} is stale; run: python -m xtreme_harness.lmeval.generate"
    specs = registry()
    for task in LMEVAL_TASKS:  # one task per spec language, one group over the XTREME languages
        for lang in specs[task].all_languages():
            assert f"{task_name(task, lang)}.yaml" in files
        group = files[f"xtreme_{task}.yaml"]
        assert all(f"  - {task_name(task, lang)}\n" in group for lang in specs[task].languages("xtreme"))
    assert all(f"  - xtreme_{task}\n" in files["xtreme.yaml"] for task in LMEVAL_TASKS)
    # --num_fewshot applies: no template pins it
    assert not any("num_fewshot" in text for text in files.values())


def test_regenerating_into_a_folder_is_stable(tmp_path):
    first = {p.name: p.read_bytes() for p in generate.write(tmp_path)}
    (tmp_path / "xtreme_stale_xx.yaml").write_text("task: xtreme_stale_xx\n")
    second = {p.name: p.read_bytes() for p in generate.write(tmp_path)}
    assert first == second and not (tmp_path / "xtreme_stale_xx.yaml").exists()


def test_task_index_without_lm_eval_defaults():
    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False)
    assert {"xtreme_xnli_de", "xtreme_pawsx_ko", "xtreme_xquad_ro", "xtreme_mlqa_zh", "xtreme_tydiqa_te",
            "xtreme_udpos_yo", "xtreme_panx_jv"} <= set(tm.all_subtasks)
    assert {f"xtreme_{t}" for t in LMEVAL_TASKS} | {"xtreme"} <= set(tm.all_groups)
    assert all(t.startswith("xtreme") for t in tm.all_tasks)


def lm_eval_main(argv):
    """``xtreme-eval --backend lm-eval`` without the exit-code wrapper (user errors raise)."""
    from xtreme_harness.cli import eval_command

    return eval_command(argv, backend="lm-eval")


def test_tasks_path_flag(capsys):
    assert lm_eval_main(["--lm-eval-tasks-path"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == tasks_path() and (printed / "xtreme_xnli_de.yaml").is_file()


def test_tasks_path_flag_of_xtreme_eval(capsys):
    from xtreme_harness.cli import eval_main

    code = eval_main(["--lm-eval-tasks-path"])
    captured = capsys.readouterr()
    if code == 2 and "lm-eval-tasks-path" in captured.err:
        pytest.skip("xtreme-eval does not have the lm-eval flags wired yet")
    assert code == 0 and Path(captured.out.strip()) == tasks_path()


def test_data_dir_comes_from_the_environment(demo, monkeypatch):
    monkeypatch.delenv("XTREME_LMEVAL_DATA", raising=False)
    monkeypatch.delenv("XTREME_DATA_DIR", raising=False)
    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False)
    with pytest.raises(UserError, match="XTREME_LMEVAL_DATA"):
        tm.load(["xtreme_xnli_en"])
    monkeypatch.setenv("XTREME_LMEVAL_DATA", str(demo))
    task = TaskManager(include_path=str(tasks_path()), include_defaults=False).load(["xtreme_pawsx_de"])["tasks"][
        "xtreme_pawsx_de"]
    docs = list(task.test_docs())
    assert len(docs) == 20 and docs[0]["lang"] == "de" and docs[0]["label"] in ("0", "1")
    # PAWS-X keeps its original sentence pair; the choices verbalise labels 0/1.
    assert task.doc_to_choice(docs[0]) == ["No", "Yes"]
    prompt = task.doc_to_text(docs[0])
    assert docs[0]["text_a"] in prompt and docs[0]["text_b"] in prompt


def test_group_averages_its_xtreme_languages(demo, tmp_path):
    import shutil

    from lm_eval import simple_evaluate

    from xtreme_harness.lmeval.utils import percent

    data = tmp_path / "data"
    (data / "pawsx/labels").mkdir(parents=True)
    langs = registry()["pawsx"].languages("xtreme")
    for lang in langs:  # the demo's English file under every PAWS-X language
        shutil.copy(demo / "pawsx/test-en.tsv", data / f"pawsx/test-{lang}.tsv")
        shutil.copy(demo / "pawsx/labels/test-en.tsv", data / f"pawsx/labels/test-{lang}.tsv")
    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False,
                     metadata={"xtreme_data_dir": str(data), "xtreme_limit": 5})
    res = simple_evaluate(model=PartlyRightLM(), tasks=["xtreme_pawsx"], task_manager=tm, bootstrap_iters=0)
    per_lang = [res["results"][task_name("pawsx", lang)]["accuracy,none"] for lang in langs]
    assert per_lang == [percent([1, 1, 0, 1, 1])] * len(langs)
    assert res["groups"]["xtreme_pawsx"]["accuracy,none"] == pytest.approx(sum(per_lang) / len(per_lang))


# --- our figures inside lm-eval ----------------------------------------------------------------

def test_xquad_f1_inside_lm_eval_is_the_official_figure(shared_data):
    from lm_eval import simple_evaluate

    from xtreme_harness.lmeval.utils import answer_text

    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False,
                     metadata={"xtreme_data_dir": str(shared_data), "xtreme_limit": 24})
    res = simple_evaluate(model=PartlyRightLM(), tasks=["xtreme_xquad_de", "xtreme_xnli_de"], task_manager=tm,
                          log_samples=True, bootstrap_iters=0)
    samples = sorted(res["samples"]["xtreme_xquad_de"], key=lambda s: s["doc_id"])
    preds = [s["filtered_resps"][0] for s in samples]  # the logged answer is the scored one
    assert preds == [answer_text(s["resps"][0][0]) for s in samples]
    assert any("\n" in s["resps"][0][0] for s in samples) and not any("\n" in p for p in preds)
    golds = [s["doc"]["answers"] for s in samples]
    ours = squad_em_f1(golds, preds)
    figures = res["results"]["xtreme_xquad_de"]
    assert len(samples) == 24 and 0 < ours["f1"] < 100 and ours["exact_match"] < ours["f1"]
    assert figures["f1,answer"] == ours["f1"] and figures["exact_match,answer"] == ours["exact_match"]
    xnli = res["results"]["xtreme_xnli_de"]["accuracy,none"]
    assert xnli == pytest.approx(100 * 16 / 24)  # doc_id % 3 != 2 answered right


# --- xtreme-eval --backend lm-eval ------------------------------------------------------------

def test_the_resume_key_does_not_change_when_the_model_loads(demo, tmp_path):
    """The producer's identity (part of every language's resume key) is the same before the lm-eval model is
    loaded and after: the run loop works the next language's key out while the model runs on the one before,
    so a key naming the loaded class made a later language's key depend on timing, and a rerun (which loads
    nothing for a finished language) recomputed it."""
    from xtreme_harness.lmeval.producer import LMEvalProducer
    from xtreme_harness.options import EvalOptions
    from xtreme_harness.tasks.registry import registry

    options = EvalOptions.build({"backend": "lm-eval", "model": "dummy", "data_dir": str(demo)})
    producer = LMEvalProducer(options)
    spec = registry()["xnli"]
    before = producer.identity(spec)
    producer._model()
    assert producer.lm is not None and producer.identity(spec) == before


def test_dummy_model_end_to_end_results_json(demo, tmp_path, capsys):
    out = tmp_path / "out"
    assert lm_eval_main(["--model", "dummy", "--tasks", "all", "--languages", "en,de", "--data-dir", str(demo),
                 "--limit", "6", "--output", str(out)]) == 0
    assert "results:" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "xtreme-harness/results/v1"
    assert {"harness_version", "created", "model", "config", "overall", "tasks", "coverage", "skipped",
            "partial"} <= set(res)
    assert res["model"]["protocol"] == "zero-shot prompted" and res["model"]["backend"] == "lm-eval"
    assert set(res["tasks"]) == set(LMEVAL_TASKS)
    assert {"bucc2018", "tatoeba"} <= set(res["skipped"]) and not {"udpos", "panx"} & set(res["skipped"])
    assert res["overall"] == {} and res["partial"] is True
    xnli = res["tasks"]["xnli"]
    assert set(xnli["accuracy"]) == {"en", "de"} and xnli["n"] == {"en": 6, "de": 6}
    assert xnli["avg_metric"] == xnli["avg_accuracy"] and "macro_f1" in xnli["secondary"]
    assert set(res["tasks"]["xquad"]) >= {"exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"}
    assert res["coverage"]["tydiqa"]["skipped"] == {"de": "not a tydiqa language"}
    # lm-eval's own figures (kept in stats) are exactly ours; acc_norm and the tag-fit rates are lm-eval's only.
    only_lm_eval = {"acc_norm", "length_mismatch", "invalid_tags"}
    for task in LMEVAL_TASKS:
        for lang, stats in res["tasks"][task]["stats"].items():
            assert stats["lm_eval_fingerprint"] and set(stats["lm_eval"]) - only_lm_eval
            for metric, value in stats["lm_eval"].items():
                if metric in only_lm_eval:
                    continue
                figure = res["tasks"][task][metric] if metric in res["tasks"][task] else \
                    res["tasks"][task]["secondary"][metric]
                assert figure[lang] == value, (task, lang, metric)
    tags = (out / "predictions/panx/test-de.tsv").read_text().split("\n\n")
    assert len([t for t in tags if t.strip()]) == 6
    # Official submission files, and xtreme-score reproduces results.json from them.
    labels = (out / "predictions/xnli/test-de.tsv").read_text().splitlines()
    assert len(labels) == 6 and set(labels) <= set(NLI)
    qa = json.loads((out / "predictions/mlqa/test-de.json").read_text())
    assert len(qa) == 6 and set(qa.values()) == {"lol"}
    scored = score_folders(out / "predictions", out / "labels", warn=lambda m: None)
    for task, figures in scored["tasks"].items():
        for key, value in figures.items():
            if key.startswith("avg_"):
                assert res["tasks"][task][key] == value, (task, key)
    recs = [json.loads(x) for x in (out / "records/xnli/en.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and len(recs[0]["loglikelihoods"]) == 3


def test_qa_and_tagging_figures_in_results_equal_our_scorer(demo, tmp_path):
    from xtreme_harness.metrics import pos_chunk_f1, seqeval_f1

    out = tmp_path / "out"
    res = _run(dict(model="partly-right", tasks="xquad,mlqa,pawsx,udpos,panx", languages="en,de",
                    data_dir=str(demo), output=str(out)), lm=PartlyRightLM())
    for task, scorer, fallback in (("udpos", pos_chunk_f1, "X"), ("panx", seqeval_f1, "O")):
        for lang in ("en", "de"):
            recs = [json.loads(x) for x in (out / f"records/{task}/{lang}.jsonl").read_text().splitlines()]
            ours = scorer([r["gold"] for r in recs], [r["pred"] for r in recs])
            stats = res["tasks"][task]["stats"][lang]["lm_eval"]
            assert 0 < ours["f1"] < 100 and res["tasks"][task]["f1"][lang] == ours["f1"] == stats["f1"]
            assert all(len(r["pred"]) == len(r["gold"]) for r in recs)
            # kinds 1 (a word short) and 3 (one tag outside the set) fall back to O / X
            short = [r for i, r in enumerate(recs) if i % 4 == 1]
            assert all(r["pred"][-1] == fallback and r["parsed_tags"] == len(r["gold"]) - 1 for r in short)
            assert stats["length_mismatch"] == pytest.approx(100 * len(short) / len(recs))
            assert stats["invalid_tags"] == pytest.approx(100 * len(recs[3::4]) / len(recs))
            assert all(r["pred"][0] == fallback and r["invalid_tags"] == 1 for r in recs[3::4])
            assert all(r["pred"] == r["gold"] for r in recs[2::4])  # bare, lower-case tags are read
    for task, scorer in (("xquad", squad_em_f1), ("mlqa", mlqa_em_f1)):
        for lang in ("en", "de"):
            recs = [json.loads(x) for x in (out / f"records/{task}/{lang}.jsonl").read_text().splitlines()]
            ours = scorer([r["gold"] for r in recs], [r["pred"] for r in recs], lang)
            assert 0 < ours["f1"] < 100
            assert res["tasks"][task]["f1"][lang] == ours["f1"]
            assert res["tasks"][task]["exact_match"][lang] == ours["exact_match"]
            assert res["tasks"][task]["stats"][lang]["lm_eval"]["f1"] == ours["f1"]
            assert all("\n" not in r["pred"] for r in recs)
    assert res["tasks"]["pawsx"]["accuracy"]["en"] == pytest.approx(100 * 14 / 20)


def test_user_task_spec_gets_its_own_yamls(demo, tmp_path):
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / "nli_copy.yaml").write_text(
        "task: nli_copy\nname: NLI copy\nfamily: classification\nformat: tsv_pair\n"
        "benchmarks:\n  custom: {category: classification, languages: [en, de]}\n"
        "splits:\n  test: {path: \"xnli/test-{lang}.tsv\", gold: \"xnli/labels/test-{lang}.tsv\"}\n"
        "labels: [contradiction, entailment, neutral]\n"
        "metrics: {official: accuracy, primary: [accuracy]}\nsubmission: {ext: tsv, format: labels}\n")
    out = tmp_path / "out"
    res = _run(dict(model="partly-right", tasks="nli_copy", languages="en,de", data_dir=str(demo), output=str(out),
                    task_dirs=[str(spec_dir)], limit=6), lm=PartlyRightLM())
    assert res["tasks"]["nli_copy"]["accuracy"] == {"en": 4 / 6 * 100, "de": 4 / 6 * 100}  # evaluate.py's order
    assert (out / "lmeval/tasks/xtreme_nli_copy_de.yaml").is_file()
    assert not any(p.name.startswith("xtreme_nli_copy") for p in tasks_path().iterdir())


def test_tiny_causal_lm_through_hf(demo, tmp_path):
    ckpt = build_causal_lm(tmp_path / "gpt", [(demo / "xnli/test-en.tsv").read_text()])
    out = tmp_path / "out"
    res = _run(dict(model="hf", model_args=f"pretrained={ckpt}", tasks="xnli,xquad,panx", languages="en",
                    data_dir=str(demo), limit=4, output=str(out), device="cpu", batch_size=4,
                    gen_kwargs="max_gen_toks=4"))
    assert res["model"]["name"] == "gpt" and res["model"]["protocol"] == "zero-shot prompted"
    assert res["tasks"]["xnli"]["n"] == {"en": 4} and res["tasks"]["xquad"]["n"] == {"en": 4}
    recs = [json.loads(x) for x in (out / "records/xquad/en.jsonl").read_text().splitlines()]
    assert res["tasks"]["xquad"]["f1"]["en"] == squad_em_f1([r["gold"] for r in recs], [r["pred"] for r in recs])["f1"]
    assert res["tasks"]["xnli"]["stats"]["en"]["lm_eval"]["accuracy"] == res["tasks"]["xnli"]["accuracy"]["en"]
    assert res["tasks"]["panx"]["n"] == {"en": 4} and "length_mismatch" in res["tasks"]["panx"]["stats"]["en"]["lm_eval"]


# --- xtreme-encoder ----------------------------------------------------------------------------

SEVEN = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("suite"), SEVEN)


def test_encoder_suite_through_lm_eval_matches_native(suite, demo, tmp_path):
    """All seven fine-tuned tasks: lm-eval's figures are native xtreme-eval's, per language, prediction for prediction."""
    from xtreme_harness.run import evaluate

    tasks = ",".join(SEVEN)
    res = _run(dict(model="xtreme-encoder", model_args=f"pretrained={suite}", tasks=tasks, languages="en,de",
                    data_dir=str(demo), output=str(tmp_path / "lm"), device="cpu"))
    native = evaluate(str(suite), tasks=tasks, languages="en,de", data_dir=str(demo),
                      output=str(tmp_path / "native"), device="cpu", progress=False)
    assert res["model"]["protocol"] == "fine-tuned transfer" and res["model"]["tasks"]["panx"]["path"].endswith("panx")
    assert set(res["tasks"]) == set(SEVEN)
    for task in SEVEN:
        ours, theirs = res["tasks"][task], native["tasks"][task]
        for metric in ("accuracy", "f1", "exact_match", "precision", "recall"):
            if metric in theirs:
                assert ours[metric] == theirs[metric], (task, metric)
                for lang, value in ours[metric].items():
                    if metric in ours["stats"][lang]["lm_eval"]:  # lm-eval's own table says the same
                        assert ours["stats"][lang]["lm_eval"][metric] == value, (task, lang, metric)
        assert ours["avg_metric"] == theirs["avg_metric"]
        for lang in ours["n"]:
            ext = "json" if task in ("xquad", "mlqa", "tydiqa") else "tsv"
            mine = (tmp_path / f"lm/predictions/{task}/test-{lang}.{ext}").read_text()
            native_file = (tmp_path / f"native/predictions/{task}/test-{lang}.{ext}").read_text()
            if ext == "tsv":
                assert mine == native_file, (task, lang)
            else:  # the filter strips the spans; no EM/F1 sees whitespace
                assert {k: " ".join(v.split()) for k, v in json.loads(mine).items()} == \
                    {k: " ".join(v.split()) for k, v in json.loads(native_file).items()}
    assert 0 < res["tasks"]["udpos"]["f1"]["en"] and 0 < res["tasks"]["xquad"]["f1"]["en"]


def test_encoder_serves_only_what_it_has(tmp_path, demo):
    from lm_eval.api.instance import Instance

    from xtreme_harness.lmeval.encoder import XtremeEncoderLM

    ck = build_checkpoint(tmp_path / "xnli", "XLMRobertaForSequenceClassification", NLI, seed=3)
    res = _run(dict(model="xtreme-encoder", model_args=f"pretrained={ck}", tasks="xnli,xquad", languages="en",
                    data_dir=str(demo), output=str(tmp_path / "lm"), device="cpu"))
    assert "needs a qa head" in res["skipped"]["xquad"] and res["tasks"]["xnli"]["n"] == {"en": 20}
    lm = XtremeEncoderLM(pretrained=str(ck), device="cpu", batch_size="4")
    doc = {"text_a": "The cat sat .", "text_b": "A cat sat ."}
    with pytest.raises(UserError, match="xtreme_\\* sentence-pair classification tasks only, not of xnli_en"):
        lm.loglikelihood([Instance("loglikelihood", doc, ("ctx", " Yes"), 0, ("xnli_en", 0, 1))])
    with pytest.raises(UserError, match="generates only for the xtreme_\\* tagging and QA tasks"):
        lm.generate_until([Instance("generate_until", doc, ("ctx", {"until": ["\n"]}), 0, ("squad", 0, 1))])
    with pytest.raises(UserError, match="rolling"):
        lm.loglikelihood_rolling([])
    with pytest.raises(UserError, match="batch_size"):
        XtremeEncoderLM(pretrained=str(ck), batch_size="0")
    with pytest.raises(UserError, match="pretrained=CHECKPOINT"):
        XtremeEncoderLM()


def test_usage_errors(demo, tmp_path):
    main = lm_eval_main
    base = ["--data-dir", str(demo), "--output", str(tmp_path / "o"), "--tasks", "xnli", "--languages", "en"]
    with pytest.raises(UserError, match="unknown lm-eval model 'no-such-model'"):
        main(["--model", "no-such-model", *base])
    with pytest.raises(UserError, match="pretrained=CHECKPOINT"):
        main(["--model", "xtreme-encoder", *base])
    with pytest.raises(UserError, match="--model is required"):
        main(base)


def test_native_backend_refuses_lm_eval_only_flags(capsys):
    from xtreme_harness.cli import eval_main

    assert eval_main(["--model", "x", "--model-args", "pretrained=x"]) == 2
    err = capsys.readouterr().err
    assert "--model-args applies to --backend lm-eval only" in err and len(err.strip().splitlines()) == 1


# --- the xtreme_* tasks inside lm-eval -----------------------------------------------------------

class RecordingLM(PartlyRightLM):
    """PartlyRightLM that keeps the prompts it was asked."""

    def __init__(self):
        super().__init__()
        self.prompts: dict[str, list[str]] = {}

    def _keep(self, requests):
        for r in requests:
            self.prompts.setdefault(r.task_name, []).append(r.args[0])

    def loglikelihood(self, requests, disable_tqdm=False):
        self._keep(requests)
        return super().loglikelihood(requests)

    def generate_until(self, requests, disable_tqdm=False):
        self._keep(requests)
        return super().generate_until(requests)


def _evaluate(demo, tasks, lm=None, **kwargs):
    from lm_eval import simple_evaluate

    metadata = {"xtreme_data_dir": str(demo), **kwargs.pop("metadata", {})}
    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata=metadata)
    return simple_evaluate(model=lm or PartlyRightLM(), tasks=tasks, task_manager=tm, bootstrap_iters=0,
                           log_samples=True, **kwargs)


def test_num_fewshot_shows_english_dev_examples(demo):
    from xtreme_harness.tasks.data import read_split

    lm = RecordingLM()
    res = _evaluate(demo, ["xtreme_udpos_de", "xtreme_xnli_de", "xtreme_tydiqa_en"], lm, num_fewshot=2,
                    metadata={"xtreme_limit": 3}, fewshot_random_seed=7)
    assert res["n-shot"] == {"xtreme_udpos_de": 2, "xtreme_xnli_de": 2, "xtreme_tydiqa_en": 2}
    en_dev = {" ".join(ex.tokens) for ex in read_split(registry()["udpos"], demo, "en", "dev")}
    prompt = lm.prompts["xtreme_udpos_de"][0]
    assert prompt.count("Tag every word") == 1 and prompt.startswith("Tag every word")  # the instruction, once
    sentences = [block.split("\n")[0][len("Sentence: "):] for block in prompt.split("\n\n") if block.startswith("Sentence")]
    assert len(sentences) == 3 and set(sentences[:2]) <= en_dev and sentences[2] not in en_dev
    assert "/PROPN" in prompt.split("\n\n")[1]  # a shot shows its answer as word/TAG pairs
    xnli = lm.prompts["xtreme_xnli_de"][0]
    assert xnli.count("Premise:") == 3
    # TyDiQA's dev file is its test data: English shots come from train, never the question being asked
    train_q = {ex.question for ex in read_split(registry()["tydiqa"], demo, "en", "train")}
    for p in lm.prompts["xtreme_tydiqa_en"]:
        shots = [b.split("Question: ")[1].split("\n")[0] for b in p.split("\n\n")[:-1]]
        assert len(shots) == 2 and set(shots) <= train_q
    assert res["configs"]["xtreme_tydiqa_en"]["metadata"]["xtreme_fewshot_from"] == "en/train"
    # the same seed, the same shots
    again = RecordingLM()
    _evaluate(demo, ["xtreme_udpos_de"], again, num_fewshot=2, metadata={"xtreme_limit": 3}, fewshot_random_seed=7)
    assert again.prompts["xtreme_udpos_de"] == lm.prompts["xtreme_udpos_de"]


def test_num_fewshot_without_english_examples_stops_clearly(demo):
    with pytest.raises(UserError, match="xtreme_xquad_de: --num_fewshot shows English examples from xquad's dev or "
                                        "train split, and xquad has neither"):
        _evaluate(demo, ["xtreme_xquad_de"], num_fewshot=1)


def test_english_shots_on_english_dev_never_show_the_doc_itself(demo):
    lm = RecordingLM()
    _evaluate(demo, ["xtreme_pawsx_en"], lm, num_fewshot=19, metadata={"xtreme_split": "dev"})
    for prompt in lm.prompts["xtreme_pawsx_en"][::2]:
        blocks = prompt.split("\n\n")
        assert len(blocks) == 20 and blocks[-1] not in blocks[:-1]


def test_missing_languages_are_left_out_and_reported_once(demo, caplog):
    import logging

    caplog.set_level(logging.WARNING)
    res = _evaluate(demo, ["xtreme_xnli", "xtreme_panx"], metadata={"xtreme_limit": 4})
    ours = [r.getMessage() for r in caplog.records if r.name == "lm_eval.xtreme_harness"]
    assert len(ours) == 2  # one line per task, not one per language
    xnli = next(m for m in ours if m.startswith("xtreme_xnli:"))
    assert "13 language(s) left out" in xnli and "ar, bg" in xnli and f"{demo}/xnli/test-{{lang}}.tsv not found" in xnli
    assert res["results"]["xtreme_xnli_de"]["accuracy,none"] == pytest.approx(75.0)
    assert "accuracy,none" not in res["results"]["xtreme_xnli_ar"]
    assert res["groups"]["xtreme_xnli"]["accuracy,none"] == pytest.approx(75.0)  # over en and de only
    meta = res["configs"]["xtreme_xnli_ar"]["metadata"]
    assert meta["xtreme_missing"] == f"{demo}/xnli/test-ar.tsv not found"
    assert "lm_eval" in {r.name.split(".")[0] for r in caplog.records if "missing in 13/15" in r.getMessage()}


def test_provenance_in_lm_eval_results(demo):
    test = _evaluate(demo, ["xtreme_pawsx_de"])["configs"]["xtreme_pawsx_de"]["metadata"]
    dev = _evaluate(demo, ["xtreme_pawsx_de"], metadata={"xtreme_split": "dev"})["configs"]["xtreme_pawsx_de"]
    from xtreme_harness import __version__

    assert test["xtreme_split"] == "test" and dev["metadata"]["xtreme_split"] == "dev"
    assert test["xtreme_data_dir"] == str(demo.resolve()) and test["xtreme_harness_version"] == __version__
    assert test["xtreme_data_fingerprint"] != dev["metadata"]["xtreme_data_fingerprint"]
    assert test["xtreme_task"] == "pawsx" and test["xtreme_lang"] == "de" and test["xtreme_limit"] is None


def test_request_cache_is_keyed_by_split_and_data(demo, tmp_path, monkeypatch):
    """--cache_requests true: another split (or data) never reuses cached prompts, so dev gold scores dev docs."""
    import lm_eval.caching.cache as cache

    monkeypatch.setattr(cache, "PATH", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    runs = {}
    for split in ("test", "dev", "test"):
        lm = RecordingLM()
        res = _evaluate(demo, ["xtreme_xnli_de"], lm, cache_requests=True, metadata={"xtreme_split": split})
        runs.setdefault(split, []).append((res, lm))
    (test, test_lm), (test_again, again_lm) = runs["test"]
    (dev, dev_lm), = runs["dev"]
    docs = {k: [s["doc"]["id"] for s in runs[k][0][0]["samples"]["xtreme_xnli_de"]] for k in runs}
    prompts = {k: runs[k][0][1].prompts["xtreme_xnli_de"] for k in runs}
    assert prompts["test"] != prompts["dev"] and again_lm.prompts == test_lm.prompts
    from xtreme_harness.tasks.data import read_split

    dev_texts = {ex.text_a for ex in read_split(registry()["xnli"], demo, "de", "dev")}
    assert all(any(t in p for t in dev_texts) for p in prompts["dev"][::3])
    assert not any(any(t in p for t in dev_texts) for p in prompts["test"][::3])
    assert len(list((tmp_path / "cache").iterdir())) == 2 and docs["dev"] == [s["doc"]["id"] for s in
                                                                            dev["samples"]["xtreme_xnli_de"]]


def test_tag_parser():
    from xtreme_harness.lmeval.utils import parse_tags

    tags = ["ADJ", "NOUN", "PUNCT", "X"]
    assert parse_tags("big/ADJ cat/NOUN ./PUNCT", 3, tags) == ["ADJ", "NOUN", "PUNCT"]
    got = parse_tags("adj noun", 3, tags)  # bare tags, any case; a word without a tag gets X
    assert got == ["ADJ", "NOUN", "X"] and (got.parsed, got.invalid) == (2, 0)
    got = parse_tags("1/2/ADJ km/h/NOUN //PUNCT", 3, tags)  # slashes inside words
    assert got == ["ADJ", "NOUN", "PUNCT"]
    got = parse_tags("sinh viên/NOUN tốt/ADJ", 2, tags)  # a word holding a space
    assert got == ["NOUN", "ADJ"] and got.parsed == 2
    got = parse_tags("a/ADJ b/VERB c/NOUN d/NOUN", 3, tags)  # outside the set, and one too many
    assert got == ["ADJ", "X", "NOUN"] and (got.parsed, got.invalid) == (4, 1)
    assert parse_tags("", 2, ["O", "B-PER"]) == ["O", "O"]
    assert parse_tags("Anna/b-per:", 1, ["O", "B-PER"]) == ["B-PER"]


def test_acc_norm_divides_by_choice_length():
    from xtreme_harness.lmeval.utils import process_classification

    doc = {"labels": ["0", "1"], "choices": ["No", "Yes"], "label": "1"}
    # raw: No wins (-2 > -2.5); per character: Yes wins (-0.83 > -1)
    out = process_classification(doc, [(-2.0, False), (-2.5, False)])
    assert out["accuracy"] == 0 and out["acc_norm"] == 1 and out["macro_f1"] == ("1", "0")
