"""The lm-eval backend: generated task YAMLs, our data and metrics inside lm-eval, results.json, xtreme-encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny import build_checkpoint
from xtreme_harness.errors import UserError
from xtreme_harness.lmeval import LMEVAL_TASKS, generate, task_name, tasks_path
from xtreme_harness.metrics.qa import mlqa_em_f1, squad_em_f1
from xtreme_harness.scoring import score_folders
from xtreme_harness.spec import registry

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
            gold = r.doc["answers"][0]
            kind = r.doc_id % 4
            out.append([f" {gold}", f" the {gold} ,\nsecond line", " ".join(r.doc["context"].split()[:4]), ""][kind])
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def _run(cfg_kwargs, lm=None):
    from xtreme_harness.lmeval.runner import LMEvalConfig, run

    return run(LMEvalConfig(**cfg_kwargs), lm=lm)


# --- the YAMLs -------------------------------------------------------------------------------

def test_committed_yamls_equal_a_fresh_rendering():
    files = generate.render(generate.builtin_specs())
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


def test_regenerating_into_a_folder_is_stable(tmp_path):
    first = {p.name: p.read_bytes() for p in generate.write(tmp_path)}
    (tmp_path / "xtreme_stale_xx.yaml").write_text("task: xtreme_stale_xx\n")
    second = {p.name: p.read_bytes() for p in generate.write(tmp_path)}
    assert first == second and not (tmp_path / "xtreme_stale_xx.yaml").exists()


def test_task_index_without_lm_eval_defaults():
    tm = TaskManager(include_path=str(tasks_path()), include_defaults=False)
    assert {"xtreme_xnli_de", "xtreme_pawsx_ko", "xtreme_xquad_ro", "xtreme_mlqa_zh", "xtreme_tydiqa_te"} <= \
        set(tm.all_subtasks)
    assert {f"xtreme_{t}" for t in LMEVAL_TASKS} <= set(tm.all_groups)
    assert all(t.startswith("xtreme_") for t in tm.all_tasks)


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

    from xtreme_harness.lmeval.utils import accuracy_percent

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
    assert per_lang == [accuracy_percent([1, 1, 0, 1, 1])] * len(langs)
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
    preds = [answer_text(s["filtered_resps"][0]) for s in samples]
    golds = [s["doc"]["answers"] for s in samples]
    ours = squad_em_f1(golds, preds)
    figures = res["results"]["xtreme_xquad_de"]
    assert len(samples) == 24 and 0 < ours["f1"] < 100 and ours["exact_match"] < ours["f1"]
    assert figures["f1,none"] == ours["f1"] and figures["exact_match,none"] == ours["exact_match"]
    xnli = res["results"]["xtreme_xnli_de"]["accuracy,none"]
    assert xnli == pytest.approx(100 * 16 / 24)  # doc_id % 3 != 2 answered right


# --- xtreme-eval --backend lm-eval ------------------------------------------------------------

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
    assert {"udpos", "panx", "bucc2018", "tatoeba"} <= set(res["skipped"])
    assert res["overall"] == {} and res["partial"] is True
    xnli = res["tasks"]["xnli"]
    assert set(xnli["accuracy"]) == {"en", "de"} and xnli["n"] == {"en": 6, "de": 6}
    assert xnli["avg_metric"] == xnli["avg_accuracy"] and "macro_f1" in xnli["secondary"]
    assert set(res["tasks"]["xquad"]) >= {"exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"}
    assert res["coverage"]["tydiqa"]["skipped"] == {"de": "not a tydiqa language"}
    # lm-eval's own figures (kept in stats) are exactly ours.
    for task in LMEVAL_TASKS:
        for lang, stats in res["tasks"][task]["stats"].items():
            for metric, value in stats["lm_eval"].items():
                figure = res["tasks"][task][metric] if metric in res["tasks"][task] else \
                    res["tasks"][task]["secondary"][metric]
                assert figure[lang] == value, (task, lang, metric)
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


def test_qa_figures_in_results_equal_our_scorer(demo, tmp_path):
    out = tmp_path / "out"
    res = _run(dict(model="partly-right", tasks="xquad,mlqa,pawsx", languages="en,de", data_dir=str(demo),
                    output=str(out)), lm=PartlyRightLM())
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
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    ckpt = tmp_path / "gpt"
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    words = [(demo / "xnli/test-en.tsv").read_text(), "Answer : Question : Context : entailment neutral contradiction"]
    tok.train_from_iterator(words, trainers.WordLevelTrainer(vocab_size=500, special_tokens=["[UNK]", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<eos>", bos_token="<eos>",
                                   pad_token="<eos>")
    fast.save_pretrained(str(ckpt))
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=512, n_embd=32, n_layer=1, n_head=2,
                     bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(str(ckpt))

    out = tmp_path / "out"
    res = _run(dict(model="hf", model_args=f"pretrained={ckpt}", tasks="xnli,xquad", languages="en",
                    data_dir=str(demo), limit=4, output=str(out), device="cpu", batch_size=4,
                    gen_kwargs="max_gen_toks=4"))
    assert res["model"]["name"] == "gpt" and res["model"]["protocol"] == "zero-shot prompted"
    assert res["tasks"]["xnli"]["n"] == {"en": 4} and res["tasks"]["xquad"]["n"] == {"en": 4}
    recs = [json.loads(x) for x in (out / "records/xquad/en.jsonl").read_text().splitlines()]
    assert res["tasks"]["xquad"]["f1"]["en"] == squad_em_f1([r["gold"] for r in recs], [r["pred"] for r in recs])["f1"]
    assert res["tasks"]["xnli"]["stats"]["en"]["lm_eval"]["accuracy"] == res["tasks"]["xnli"]["accuracy"]["en"]


# --- xtreme-encoder ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    return {"xnli": build_checkpoint(root / "xnli", "XLMRobertaForSequenceClassification", NLI, seed=3),
            "pawsx": build_checkpoint(root / "pawsx", "XLMRobertaForSequenceClassification", ["0", "1"], seed=4)}


@pytest.mark.parametrize("task", ["xnli", "pawsx"])
def test_encoder_through_lm_eval_matches_native(task, classifiers, demo, tmp_path):
    from xtreme_harness.evaluation import evaluate

    ck = classifiers[task]
    res = _run(dict(model="xtreme-encoder", model_args=f"pretrained={ck}", tasks=f"{task},xquad",
                    languages="en,de", data_dir=str(demo), output=str(tmp_path / "lm"), device="cpu"))
    native = evaluate(str(ck), tasks=task, languages="en,de", data_dir=str(demo), output=str(tmp_path / "native"),
                      device="cpu", progress=False)
    assert res["model"]["protocol"] == "fine-tuned transfer"
    assert "no generation" in res["skipped"]["xquad"]
    assert res["tasks"][task]["accuracy"] == native["tasks"][task]["accuracy"]
    for lang in ("en", "de"):
        ours = (tmp_path / f"lm/predictions/{task}/test-{lang}.tsv").read_text()
        assert ours == (tmp_path / f"native/predictions/{task}/test-{lang}.tsv").read_text()


def test_encoder_limits_are_clear_errors(classifiers):
    from lm_eval.api.instance import Instance

    from xtreme_harness.lmeval.encoder import XtremeEncoderLM

    lm = XtremeEncoderLM(pretrained=str(classifiers["xnli"]), device="cpu", batch_size="4")
    doc = {"text_a": "The cat sat .", "text_b": "A cat sat .", "labels": NLI}
    reqs = [Instance("loglikelihood", doc, ("ctx", f" {c}"), i) for i, c in enumerate(["Neutral", "ENTAILMENT"])]
    (ll_n, _), (ll_e, _) = lm.loglikelihood(reqs)
    assert ll_n < 0 and ll_e < 0
    with pytest.raises(UserError, match="names none of the labels"):
        lm.loglikelihood([Instance("loglikelihood", doc, ("ctx", " maybe"), 0)])
    with pytest.raises(UserError, match="sentence pair"):
        lm.loglikelihood([Instance("loglikelihood", {"question": "q"}, ("ctx", " neutral"), 0)])
    with pytest.raises(UserError, match="no generation"):
        lm.generate_until([Instance("generate_until", doc, ("ctx", {"until": ["\n"]}), 0)])
    with pytest.raises(UserError, match="sequence-classification"):
        XtremeEncoderLM(pretrained=str(build_checkpoint(Path(classifiers["xnli"]).parent / "qa",
                                                        "XLMRobertaForQuestionAnswering")))


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
