"""xtreme-train: task formats, the suite layout, exact resume, recipes, the English-only rule.

Fast tier: tiny random XLM-R-shaped encoders and synthetic data built here.
The slow test fine-tunes a real multilingual encoder on PAN-X English and
checks zero-shot German F1.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SHARED_DATA, me5_small

from xtreme_harness.io.errors import UserError

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
NOUNS = ("cat dog house tree car river city book").split()
VERBS = ("runs eats sees takes makes finds holds reads").split()


def _sent(rng, n=6):
    return " ".join(rng.choice(WORDS) for _ in range(n))


# --- tiny models and synthetic data ---------------------------------------------------

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: tiny models run on one thread


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random XLM-R masked-LM checkpoint with a WordPiece tokenizer trained on the synthetic vocabulary."""
    from xtreme_harness.demo import build_encoder, build_tokenizer

    root = tmp_path_factory.mktemp("tiny_base")
    rng = random.Random(0)
    corpus = [_sent(rng, 8) for _ in range(300)] + [" ".join(NOUNS + VERBS)] * 5 + \
             ["yes no maybe right wrong the answer is what ?"] * 5
    tok = build_tokenizer(corpus, None, vocab_size=300)
    return build_encoder(root / "base", tok, hidden=32, layers=2, heads=2, seed=0)


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _synthetic_tasks(root: Path, n: int = 160) -> Path:
    """Four learnable English tasks, one per format, as local files plus their spec YAMLs."""
    rng = random.Random(1)
    data, specs = root / "data", root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    key = {"entailment": "yes", "contradiction": "no", "neutral": "maybe"}
    pairs = []
    for i in range(n):
        label = rng.choice(sorted(key))
        pairs.append({"p": _sent(rng), "h": f"{_sent(rng, 3)} {key[label]} {_sent(rng, 2)}", "y": label[0]})
    _write_jsonl(data / "pair" / "train.jsonl", pairs)
    _write_jsonl(data / "pair" / "dev.jsonl", pairs[:24])
    qa = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(12)]
        if i % 4 == 0:  # unanswerable: no "the answer is"
            qa.append({"id": f"q{i}", "c": " ".join(words), "q": "what is the answer ?", "a": {"text": [],
                                                                                              "answer_start": []}})
            continue
        ans = rng.choice(WORDS)
        pos = rng.randrange(1, 10)
        ctx = " ".join(words[:pos] + ["the", "answer", "is", ans] + words[pos:])
        start = len(" ".join(words[:pos] + ["the", "answer", "is"])) + 1
        assert ctx[start:start + len(ans)] == ans
        qa.append({"id": f"q{i}", "c": ctx, "q": "what is the answer ?", "a": {"text": [ans], "answer_start": [start]}})
    _write_jsonl(data / "qa" / "train.jsonl", qa)
    _write_jsonl(data / "qa" / "dev.jsonl", qa[:16])
    mc = []
    for i in range(n):
        right = rng.randrange(4)
        choices = [f"{_sent(rng, 2)} {'right' if j == right else 'wrong'}" for j in range(4)]
        mc.append({"id": f"m{i}", "question": {"stem": _sent(rng, 4),
                                               "choices": [{"label": "ABCD"[j], "text": c} for j, c in enumerate(choices)]},
                   "answerKey": "ABCD"[right]})
    _write_jsonl(data / "mc" / "train.jsonl", mc)
    _write_jsonl(data / "mc" / "dev.jsonl", mc[:16])
    tag_lines = []
    for i in range(n):
        for _ in range(rng.randrange(3, 8)):
            w = rng.choice(NOUNS + VERBS + WORDS)
            tag_lines.append(f"{w}\t{'NOUN' if w in NOUNS else 'VERB' if w in VERBS else 'X'}")
        tag_lines.append("")
    (data / "tag").mkdir(parents=True, exist_ok=True)
    (data / "tag" / "train.tsv").write_text("\n".join(tag_lines) + "\n", encoding="utf-8")
    (data / "tag" / "dev.tsv").write_text("\n".join(tag_lines[:60]) + "\n", encoding="utf-8")

    (specs / "syn_pair.yaml").write_text("""task: syn_pair
name: synthetic NLI
family: classification
labels: [contradiction, entailment, neutral]
features: {max_length: 32}
sources:
  - name: pair
    local: {train: pair/train.jsonl, dev: pair/dev.jsonl}
    columns: {text_a: p, text_b: h, label: y}
    label_values: {e: entailment, c: contradiction, n: neutral}
""")
    (specs / "syn_qa.yaml").write_text("""task: syn_qa
name: synthetic QA with unanswerable questions
family: qa
features: {unanswerable: true, max_length: 48}
sources:
  - name: qa
    local: {train: qa/train.jsonl, dev: qa/dev.jsonl}
    columns: {id: id, context: c, question: q, answers: a}
""")
    (specs / "syn_mc.yaml").write_text("""task: syn_mc
name: synthetic multiple choice
family: multiple_choice
features: {num_choices: 4, max_length: 24}
sources:
  - name: mc
    local: {train: mc/train.jsonl, dev: mc/dev.jsonl}
    columns: {id: id, question: question.stem, choices: question.choices.*.text,
              choice_labels: question.choices.*.label, label: answerKey}
""")
    (specs / "syn_tag.yaml").write_text("""task: syn_tag
name: synthetic tagging
family: tagging
labels: from_data
features: {max_length: 32}
sources:
  - name: tag
    local: {train: tag/train.tsv, dev: tag/dev.tsv}
""")
    return root


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return _synthetic_tasks(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    from xtreme_harness.demo_data import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo") / "data", ["en", "de"], seed=0, size="tiny")


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _opts(**kw):
    from xtreme_harness.train.pipeline import RunOptions

    return RunOptions(device="cpu", progress=False, **kw)


# --- every task format trains ------------------------------------------------------------

def test_each_format_learns_in_one_multitask_run(tiny_base, synthetic, tmp_path):
    """Pair classification, span QA with unanswerable questions, multiple choice and tagging share one
    encoder (one head each); every task's loss falls and the intermediate encoder is written."""
    from xtreme_harness.train import Recipe, run

    recipe = Recipe(base_model=str(tiny_base), seed=3, precision="no", data_dir=str(synthetic / "data"),
                    intermediate=["syn_pair", "syn_qa", "syn_mc", "syn_tag"], task_dirs=[str(synthetic / "specs")],
                    sampling="temperature", temperature=2.0, targets=[],
                    intermediate_hyperparameters={"lr": 3e-3, "max_steps": 160, "batch_size": 16, "log_every": 10,
                                                  "eval_every": 80, "warmup_ratio": 0.05})
    out = tmp_path / "mt"
    run(recipe, out, _opts())
    log = _log(out / "train" / "intermediate" / "train_log.jsonl")
    per_task: dict[str, list[float]] = {}
    for rec in log:
        for task, loss in (rec.get("task_loss") or {}).items():
            per_task.setdefault(task, []).append(loss)
    assert set(per_task) == {"syn_pair", "syn_qa", "syn_mc", "syn_tag"}
    for task, losses in per_task.items():
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        assert last < 0.8 * first, (task, losses)
    dev = [r for r in log if r.get("event") == "dev"]
    assert dev and set(dev[-1]["dev"]) == {"syn_pair", "syn_qa", "syn_mc", "syn_tag"}
    assert dev[-1]["dev"]["syn_tag"]["token_accuracy"] > 60
    enc = out / "encoder"
    cfg = json.loads((enc / "config.json").read_text())
    assert cfg["xtreme_intermediate"] == ["syn_pair", "syn_qa", "syn_mc", "syn_tag"]
    assert (enc / "model.safetensors").is_file() and (enc / "tokenizer.json").is_file()
    assert (enc / "xtreme_heads.safetensors").is_file()
    meta = json.loads((enc / "xtreme_train.json").read_text())
    assert meta["phase"] == "intermediate" and meta["heads"]["syn_tag"]["labels"] == ["NOUN", "VERB", "X"]
    assert not (out / "train" / "intermediate" / "checkpoint-last").exists()


def test_mlm_batches_mix_into_intermediate_training(tiny_base, synthetic, tmp_path):
    from xtreme_harness.train import Recipe, run

    mlm = tmp_path / "mlm.txt"
    rng = random.Random(5)
    mlm.write_text("\n".join(_sent(rng, 10) for _ in range(200)) + "\n")
    recipe = Recipe(base_model=str(tiny_base), seed=0, precision="no", intermediate=["syn_pair"],
                    data_dir=str(synthetic / "data"), task_dirs=[str(synthetic / "specs")], targets=[],
                    mlm_data=[str(mlm)], mlm_weight=0.5,
                    intermediate_hyperparameters={"lr": 1e-3, "max_steps": 30, "batch_size": 8, "log_every": 5})
    run(recipe, tmp_path / "out", _opts())
    log = _log(tmp_path / "out" / "train" / "intermediate" / "train_log.jsonl")
    seen = {t for r in log for t in (r.get("task_loss") or {})}
    assert seen == {"syn_pair", "mlm"}
    info = json.loads((tmp_path / "out" / "train_info.json").read_text())
    files = [d.get("file") for d in info["phases"]["intermediate"]["data"]]
    assert str(mlm.resolve()) in files


# --- the suite -------------------------------------------------------------------------------

def test_stilts_suite_layout_is_what_xtreme_eval_takes(tiny_base, synthetic, demo_data, tmp_path):
    """Intermediate task -> all seven targets -> a suite that models.resolve and evaluate() accept as is."""
    from safetensors.torch import load_file

    from xtreme_harness.producers.checkpoints import resolve
    from xtreme_harness.tasks.registry import resolve_tasks
    from xtreme_harness.train import Recipe, run

    recipe = Recipe(base_model=str(tiny_base), seed=0, precision="no", data_dir=str(demo_data),
                    intermediate=["syn_pair"], intermediate_data_dir=str(synthetic / "data"),
                    task_dirs=[str(synthetic / "specs")], targets=["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa",
                                                                    "tydiqa"],
                    intermediate_hyperparameters={"lr": 1e-3, "max_steps": 4, "batch_size": 8},
                    hyperparameters={"lr": 1e-3, "max_steps": 3, "batch_size": 8, "max_length": 64, "limit_dev": 8})
    out = tmp_path / "suite"
    run(recipe, out, _opts())
    for task, arch, labels in (("xnli", "ForSequenceClassification", ["contradiction", "entailment", "neutral"]),
                               ("pawsx", "ForSequenceClassification", ["0", "1"]),
                               ("udpos", "ForTokenClassification", None), ("panx", "ForTokenClassification", None),
                               ("xquad", "ForQuestionAnswering", None), ("mlqa", "ForQuestionAnswering", None),
                               ("tydiqa", "ForQuestionAnswering", None)):
        d = out / task
        for name in ("config.json", "model.safetensors", "tokenizer.json", "xtreme_train.json"):
            assert (d / name).is_file(), (task, name)
        assert not list(d.glob("*.bin"))
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["architectures"][0].endswith(arch)
        assert cfg["xtreme_intermediate"] == ["syn_pair"] and cfg["xtreme_base_model"] == str(tiny_base)
        if labels:
            assert [cfg["id2label"][str(i)] for i in range(len(labels))] == labels
        meta = json.loads((d / "xtreme_train.json").read_text())
        assert meta["intermediate"] == ["syn_pair"] and meta["task"] == task
    # one SQuAD model serves both XQuAD and MLQA
    a, b = load_file(str(out / "xquad" / "model.safetensors")), load_file(str(out / "mlqa" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert json.loads((out / "encoder" / "config.json").read_text())["xtreme_intermediate"] == ["syn_pair"]
    assert (out / "recipe.yaml").is_file()
    info = json.loads((out / "train_info.json").read_text())
    assert info["harness_version"] and set(info["phases"]) >= {"intermediate", "xnli", "squad", "tydiqa"}
    assert all("sha256" in d for d in info["phases"]["xnli"]["data"])

    res = resolve(str(out), resolve_tasks("all"))
    assert res.kind == "suite" and not res.skipped
    assert res.checkpoints["tatoeba"].path == str(out / "encoder")

    from xtreme_harness import evaluate

    results = evaluate(model=str(out), tasks="xnli,panx,xquad,tatoeba", languages="en,de", data_dir=str(demo_data),
                       output=str(tmp_path / "results"), limit=5, device="cpu", progress=False)
    assert results["model"]["intermediate"] == ["syn_pair"]
    assert set(results["tasks"]) == {"xnli", "panx", "xquad", "tatoeba"}

    # Rerunning the same recipe reuses every finished phase.
    t0 = time.perf_counter()
    run(recipe, out, _opts())
    assert time.perf_counter() - t0 < 20


def test_baseline_encoder_is_the_pretrained_one(tiny_base, demo_data, tmp_path):
    from safetensors.torch import load_file

    from xtreme_harness.train import Recipe, run

    recipe = Recipe(base_model=str(tiny_base), precision="no", data_dir=str(demo_data), targets=["panx"],
                    hyperparameters={"max_steps": 2, "batch_size": 4, "max_length": 32})
    run(recipe, tmp_path / "b", _opts())
    cfg = json.loads((tmp_path / "b" / "encoder" / "config.json").read_text())
    assert cfg["xtreme_intermediate"] == [] and cfg["architectures"] == ["XLMRobertaModel"]
    enc = load_file(str(tmp_path / "b" / "encoder" / "model.safetensors"))
    base = load_file(str(tiny_base / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    assert (enc[key] == base["roberta." + key]).all()
    assert json.loads((tmp_path / "b" / "panx" / "config.json").read_text())["xtreme_intermediate"] == []


def test_targets_from_an_intermediate_checkpoint_keep_its_history(tiny_base, synthetic, demo_data, tmp_path):
    """--base OUT/encoder of an earlier intermediate run: the new suite still says which task it came from."""
    from xtreme_harness.train import Recipe, run

    first = Recipe(base_model=str(tiny_base), precision="no", intermediate=["syn_pair"], targets=[],
                   data_dir=str(synthetic / "data"), task_dirs=[str(synthetic / "specs")],
                   intermediate_hyperparameters={"max_steps": 2, "batch_size": 4})
    run(first, tmp_path / "inter", _opts())
    second = Recipe(base_model=str(tmp_path / "inter" / "encoder"), precision="no", data_dir=str(demo_data),
                    targets=["pawsx"], hyperparameters={"max_steps": 2, "batch_size": 4, "max_length": 32})
    run(second, tmp_path / "suite", _opts())
    cfg = json.loads((tmp_path / "suite" / "pawsx" / "config.json").read_text())
    assert cfg["xtreme_intermediate"] == ["syn_pair"] and cfg["xtreme_base_model"] == str(tiny_base)
    assert json.loads((tmp_path / "suite" / "encoder" / "config.json").read_text())["xtreme_intermediate"] == \
        ["syn_pair"]


# --- resume --------------------------------------------------------------------------------

def _resume_recipe(tiny_base, demo_data):
    from xtreme_harness.train import Recipe

    # SQuAD has no English dev file in the demo data, so the final weights are what is saved: the
    # strictest check that a resumed run ends exactly where an uninterrupted one does.
    return Recipe(base_model=str(tiny_base), seed=11, precision="no", data_dir=str(demo_data), targets=["xquad"],
                  hyperparameters={"lr": 1e-3, "max_steps": 12, "batch_size": 8, "per_device_batch_size": 4,
                                   "save_every": 4, "max_length": 64, "log_every": 1})


def _weights(path: Path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_resume_after_injected_failure_matches_uninterrupted_run(tiny_base, demo_data, tmp_path):
    from xtreme_harness.train import run

    recipe = _resume_recipe(tiny_base, demo_data)
    run(recipe, tmp_path / "full", _opts())

    class Boom(RuntimeError):
        pass

    def fail(state):
        if state["step"] == 10:
            raise Boom("simulated crash")

    with pytest.raises(Boom):
        run(recipe, tmp_path / "cut", _opts(on_step=fail))
    state = json.loads((tmp_path / "cut" / "train" / "squad" / "checkpoint-last" / "state.json").read_text())
    assert state["step"] == 8
    run(recipe, tmp_path / "cut", _opts())
    log = _log(tmp_path / "cut" / "train" / "squad" / "train_log.jsonl")
    assert [r for r in log if r.get("event") == "resume"][0]["step"] == 8
    assert [r["step"] for r in log if "loss" in r] == list(range(1, 13))  # no step logged twice
    assert _same(_weights(tmp_path / "full" / "xquad"), _weights(tmp_path / "cut" / "xquad"))


def test_resume_after_sigkill_continues_from_saved_step(tiny_base, demo_data, tmp_path):
    """A process killed with SIGKILL after a save; the same command run again continues from that step
    and ends with the same weights as an uninterrupted run."""
    from xtreme_harness.cli import train_main

    args = ["run", "--base", str(tiny_base), "--targets", "panx", "--data-dir", str(demo_data), "--seed", "5",
            "--lr", "1e-3", "--max-steps", "400", "--batch-size", "4", "--save-every", "2", "--eval-every", "1000",
            "--max-length", "32", "--precision", "no", "--device", "cpu", "--no-progress", "--log-every", "1"]
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "xtreme_harness.cli_entry", "train", *args, "--out", str(killed)],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = killed / "train" / "panx" / "checkpoint-last" / "state.json"
    deadline = time.time() + 120
    try:
        while not state.is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert state.is_file(), "no checkpoint-last within the time limit"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    saved_step = json.loads(state.read_text())["step"]
    assert 0 < saved_step < 400
    assert not (killed / "panx" / "config.json").exists() or True  # the best-so-far may or may not exist yet

    assert train_main([*args, "--out", str(killed)]) == 0
    log = _log(killed / "train" / "panx" / "train_log.jsonl")
    resumed = [r for r in log if r.get("event") == "resume"]
    assert resumed and resumed[0]["step"] >= saved_step
    assert train_main([*args, "--out", str(tmp_path / "straight")]) == 0
    assert _same(_weights(tmp_path / "straight" / "panx"), _weights(killed / "panx"))


def test_changed_settings_are_not_resumed_silently(tiny_base, demo_data, tmp_path):
    from xtreme_harness.train import run

    recipe = _resume_recipe(tiny_base, demo_data)
    recipe.hyperparameters["max_steps"] = 2
    run(recipe, tmp_path / "o", _opts())
    recipe.hyperparameters["lr"] = 5e-4
    with pytest.raises(UserError, match="other settings"):
        run(recipe, tmp_path / "o", _opts())
    run(recipe, tmp_path / "o", _opts(overwrite=True))


def test_early_stopping_keeps_the_best_checkpoint(tiny_base, demo_data, tmp_path):
    from xtreme_harness.train import Recipe, run

    # A learning rate of 1e-12 leaves the dev score flat: the first evaluation is the best, the
    # second brings no improvement and patience 1 stops the run there.
    recipe = Recipe(base_model=str(tiny_base), precision="no", data_dir=str(demo_data), targets=["udpos"],
                    hyperparameters={"lr": 1e-12, "max_steps": 20, "eval_every": 2, "patience": 1,
                                     "batch_size": 4, "max_length": 32, "freeze_layers": 1})
    run(recipe, tmp_path / "o", _opts())
    done = json.loads((tmp_path / "o" / "train" / "udpos" / "done.json").read_text())
    assert done["stopped_early"] and done["steps"] == 4 and done["best_dev"]["step"] == 2
    assert json.loads((tmp_path / "o" / "udpos" / "xtreme_train.json").read_text())["step"] == 2


def test_sweep_runs_each_intermediate_and_the_baseline(tiny_base, synthetic, demo_data, tmp_path, capsys):
    from xtreme_harness.cli import train_main

    rc = train_main(["sweep", "--intermediate", "syn_pair", "--targets", "panx", "--base", str(tiny_base),
                     "--out", str(tmp_path / "sw"), "--data-dir", str(demo_data), "--intermediate-data-dir",
                     str(synthetic / "data"), "--task-dir", str(synthetic / "specs"), "--max-steps", "2",
                     "--batch-size", "4", "--max-length", "32", "--precision", "no", "--device", "cpu",
                     "--no-progress"])
    assert rc == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("xtreme-train")]
    assert len(printed) == 2
    for name, inter in (("syn_pair", ["syn_pair"]), ("baseline", [])):
        cfg = json.loads((tmp_path / "sw" / name / "panx" / "config.json").read_text())
        assert cfg["xtreme_intermediate"] == inter


# --- recipes ----------------------------------------------------------------------------------

def _recipe_error(tmp_path: Path, text: str) -> UserError:
    from xtreme_harness.train import load_recipe

    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as err:
        load_recipe(p)
    return err.value


def test_recipe_round_trip_and_defaults(tmp_path):
    from xtreme_harness.train import load_recipe
    from xtreme_harness.train.recipes import recipe_from_text

    p = tmp_path / "r.yaml"
    p.write_text("""base_model: xlm-roberta-large
seed: 7
intermediate:
  tasks: [anli_plus, squad_v2]
  sampling: temperature
  temperature: 3
  hyperparameters: {lr: 1e-5, epochs: 1}
targets: all
hyperparameters: {warmup_ratio: 0.1}
target_hyperparameters:
  panx: {epochs: 3}
  xquad: {lr: 3e-5}
""")
    r = load_recipe(p)
    assert r.intermediate == ["anli_plus", "squad_v2"] and r.sampling == "temperature" and r.temperature == 3.0
    assert r.targets == ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"]
    assert [u for u, _ in r.units()] == ["xnli", "pawsx", "udpos", "panx", "squad", "tydiqa"]
    assert dict(r.units())["squad"] == ["xquad", "mlqa"]
    # paper defaults, then recipe layers, then command-line flags
    assert r.target_hyper("xnli").epochs == 2 and r.target_hyper("xnli").max_length == 256
    assert r.target_hyper("pawsx").epochs == 5 and r.target_hyper("udpos").epochs == 10
    assert r.target_hyper("panx").epochs == 3
    sq = r.target_hyper("squad")
    assert (sq.batch_size, sq.max_length, sq.lr) == (16, 384, 3e-5)
    assert r.target_hyper("tydiqa", {"lr": 2e-5}).lr == 2e-5
    assert r.intermediate_hyper().epochs == 1
    again = recipe_from_text(r.to_yaml())
    assert again.to_dict() == r.to_dict()


@pytest.mark.parametrize("text,line,message", [
    ("base_model: x\ntargets: all\nlearning_rate: 1\n", 3, "unknown key 'learning_rate'"),
    ("base_model: x\nhyperparameters:\n  lr: 1e-5\n  epoch: 3\n", 4, "unknown key 'hyperparameters.epoch'"),
    ("base_model: x\nintermediate:\n  tasks: [anli_plus]\n  samplng: uniform\n", 4, "intermediate.samplng"),
    ("base_model: x\ntargets: [xnli, tatoeba]\n", 2, "retrieval"),
    ("base_model: x\ntargets: [xnli, xnlii]\n", 2, "unknown target 'xnlii'"),
    ("base_model: x\nintermediate: [anli_plus, nope]\n", 2, "unknown intermediate task 'nope'"),
    ("base_model: x\nseed: seven\n", 2, "'seed' must be an integer"),
    ("base_model: x\ntarget_hyperparameters:\n  panx: {epochs: -1}\n", 3, "epochs must be positive"),
    ("base_model: x\nintermediate:\n  tasks: [mnli]\n  sampling: random\n", 4, "sampling 'random'"),
    ("seed: 1\n", 1, "missing required key 'base_model'"),
    ("base_model: x\n  bad: [\n", None, "invalid YAML"),
])
def test_recipe_errors_name_file_and_line(tmp_path, text, line, message):
    err = _recipe_error(tmp_path, text)
    assert message in str(err)
    assert err.path and err.path.endswith("r.yaml")
    if line is not None:
        assert err.line == line, str(err)


def test_shipped_example_recipe_is_valid(capsys):
    from xtreme_harness.cli import train_main

    example = ROOT / "xtreme_harness" / "train" / "examples" / "stilts-anli-plus.yaml"
    assert train_main(["check", str(example)]) == 0
    out = capsys.readouterr().out
    assert "anli_plus" in out and "#   panx" in out and "epochs=10" in out


def test_cli_reports_recipe_errors_in_one_line(tmp_path, capsys):
    from xtreme_harness.cli import train_main

    p = tmp_path / "bad.yaml"
    p.write_text("base_model: x\nepochs: 3\n")
    assert train_main(["run", "--recipe", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{p}:2" in err and "unknown key 'epochs'" in err
    assert train_main(["check", str(p)]) == 2
    assert train_main(["--base", "x", "--targets", "xnli", "--out", str(tmp_path / "o"), "--lr", "-1"]) == 2


def test_a_training_file_is_judged_by_its_content_not_its_name(tiny_base, demo_data, tmp_path):
    """A file name says nothing of its language: an English file named like a German one trains, and the file
    used is recorded by content (sha256) beside the checkpoint."""
    from xtreme_harness.train import Recipe, run

    named_de = tmp_path / "panx-train-de.tsv"
    named_de.write_bytes((demo_data / "panx" / "train-en.tsv").read_bytes())
    recipe = Recipe(base_model=str(tiny_base), precision="no", data_dir=str(demo_data), targets=["panx"],
                    train_files={"panx": str(named_de)},
                    hyperparameters={"max_steps": 1, "batch_size": 4, "max_length": 32, "limit_dev": 4})
    info = run(recipe, tmp_path / "o", _opts())
    used = info["phases"]["panx"]["data"][0]
    assert used["file"] == str(named_de.resolve()) and len(used["sha256"]) == 64
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.tasks.registry import get_task

    with pytest.raises(UserError, match="only for en"):
        read_split(get_task("panx"), demo_data, "de", "train")


def test_sweep_prints_one_command_per_run(capsys, tmp_path):
    from xtreme_harness.cli import train_main

    rc = train_main(["sweep", "--intermediate", "anli_plus,squad_v2+mnli", "--targets", "xnli,panx", "--base", "M",
                     "--out", str(tmp_path / "sw"), "--dry-run", "--lr", "2e-5"])
    assert rc == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("xtreme-train")]
    assert len(lines) == 3
    assert f"--intermediate squad_v2,mnli --targets xnli,panx --out {tmp_path / 'sw' / 'squad_v2+mnli'}" in lines[1]
    assert "--intermediate none" in lines[2] and str(tmp_path / "sw" / "baseline") in lines[2]
    assert all(ln.endswith("--lr 2e-5") for ln in lines)
    assert train_main(["sweep", "--intermediate", "nope", "--base", "M", "--out", "x", "--dry-run"]) == 2


# --- sampling and intermediate specs ----------------------------------------------------------

def test_sampling_weights_and_plan_are_deterministic():
    import numpy as np

    from xtreme_harness.train.sampling import BatchPlan, mixing_weights

    sizes = [1000, 100, 10]
    assert np.allclose(mixing_weights(sizes, "proportional"), [1000 / 1110, 100 / 1110, 10 / 1110])
    t = mixing_weights(sizes, "temperature", 2.0)
    assert np.allclose(t, np.sqrt(sizes) / np.sqrt(sizes).sum())
    assert np.allclose(mixing_weights(sizes, "uniform"), [1 / 3] * 3)
    a = BatchPlan(sizes, t, 8, 500, seed=1)
    b = BatchPlan(sizes, t, 8, 500, seed=1)
    assert [a.micro(m) for m in range(500)] == [b.micro(m) for m in reversed(range(500))][::-1]
    counts = np.bincount(a.tasks, minlength=3) / 500
    assert abs(counts[0] - t[0]) < 0.08
    one = BatchPlan([20], [1.0], 8, 10, seed=0)
    seen = [i for m in range(3) for i in one.micro(m)[1]]
    assert sorted(seen[:20]) == list(range(20))  # one pass covers every example once, then wraps


def test_builtin_intermediate_specs_read_local_files(shared_data):
    from xtreme_harness.tasks.sources import read_intermediate
    from xtreme_harness.tasks.registry import intermediate_registry

    specs = intermediate_registry()
    assert {"anli_plus", "mnli", "qqp", "squad", "squad_v2", "hellaswag", "ccg", "cosmosqa",
            "commonsenseqa"} <= set(specs)
    csqa = read_intermediate(specs["commonsenseqa"], "train", shared_data, "local", limit=50)
    assert len(csqa.examples) == 50 and all(len(ex.choices) == 5 and 0 <= ex.label < 5 for ex in csqa.examples)
    cos = read_intermediate(specs["cosmosqa"], "dev", shared_data, "local", limit=20)
    assert len(cos.examples) == 20 and cos.examples[0].context and cos.examples[0].question
    anli = read_intermediate(specs["anli_plus"], "dev", shared_data, "local", limit=30)
    assert len(anli.examples) == 30 and {ex.label for ex in anli.examples} <= {"contradiction", "entailment", "neutral"}
    assert len({p["file"] for p in anli.provenance}) == 3 and all(p["sha256"] for p in anli.provenance)


def test_intermediate_spec_errors_name_the_line(tmp_path):
    from xtreme_harness.tasks.registry import load_spec

    p = tmp_path / "x.yaml"
    p.write_text("task: x\nname: X\nfamily: classification\nlabels: [a, b]\nsources:\n"
                 "  - name: s\n    local: {train: t.jsonl}\n    columns: {text_a: a, txt_b: b, label: l}\n")
    with pytest.raises(UserError) as err:
        load_spec(p)
    assert "txt_b" in str(err.value) and err.value.line == 8
    # the earlier vocabulary is named, with what to write instead
    p.write_text("task: x\nname: X\nformat: pair_classification\nlabels: [a, b]\nsources:\n"
                 "  - name: s\n    local: {train: t.jsonl}\n")
    with pytest.raises(UserError, match="'format' is no longer an intermediate-spec key; write 'family'") as err:
        load_spec(p)
    assert err.value.line == 3


# --- real data (slow) ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.shared
def test_me5_small_panx_english_transfers_to_german(tmp_path):
    """multilingual-e5-small fine-tuned on PAN-X English for a few hundred steps tags German far above chance."""
    if not (SHARED_DATA / "panx" / "train-en.tsv").is_file():
        pytest.skip("../shared PAN-X data is not available")
    cache = me5_small()

    from xtreme_harness import evaluate
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.metrics import seqeval_f1
    from xtreme_harness.tasks.registry import get_task
    from xtreme_harness.train import Recipe, run

    t0 = time.perf_counter()
    recipe = Recipe(base_model=str(cache), seed=1, precision="no", data_dir=str(SHARED_DATA), targets=["panx"],
                    hyperparameters={"lr": 1e-4, "max_steps": 200, "batch_size": 8, "max_length": 128,
                                     "limit_train": 1600, "warmup_ratio": 0.1, "eval_every": 100_000,
                                     "limit_dev": 100, "freeze_embeddings": True, "freeze_layers": 4,
                                     "save_every": 100_000})
    run(recipe, tmp_path / "suite", _opts())
    t_train = time.perf_counter() - t0
    # Zero-shot German through xtreme-eval itself, as a user would run it on the suite.
    res = evaluate(str(tmp_path / "suite"), tasks="panx", languages="de", data_dir=str(SHARED_DATA), split="dev",
                   output=str(tmp_path / "eval"), limit=500, progress=False, device="cpu")
    f1 = res["tasks"]["panx"]["f1"]["de"]
    examples = read_split(get_task("panx"), SHARED_DATA, "de", "dev", limit=500)
    preds = [s.split("\n") for s in (tmp_path / "eval/predictions/panx/test-de.tsv").read_text().strip().split("\n\n")]
    assert f1 == pytest.approx(seqeval_f1([ex.tags for ex in examples], preds)["f1"], abs=1e-9)
    assert res["model"]["intermediate"] == []
    elapsed = time.perf_counter() - t0
    print(f"\nme5-small PAN-X en->de: German dev F1 {f1:.1f} on {len(examples)} sentences; "
          f"training {t_train:.0f} s, total {elapsed:.0f} s")
    assert f1 > 30
