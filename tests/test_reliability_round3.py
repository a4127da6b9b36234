"""Reliability by class (round 3): every member of a class through the command lines, not one example.

1. No write follows a link out of the folder it belongs to (eval, score, train, leaderboard, plots, export,
   caches, locks).
2. ``--overwrite`` removes only what the harness wrote, and says what it kept.
3. A refusal of the system (a full disk, a read-only folder) is one line naming the path, nothing half-written.
4. One error boundary for every entry point (``python -m xtreme_harness.lmeval``, lm-eval's own models).
5. A closed pipe, SIGTERM or SIGHUP never leaves results.json describing less than the folder holds; a second run
   into a folder keeps the first one's tasks in results.json.
6. A key given twice (YAML, JSON) is refused, naming both lines.
7. One verdict per file; --compare refuses runs of other splits or data.
8. Manifest folders resolve beside the manifest, whatever the working folder.
9. An English training file is judged by content, not name (tests/test_train.py); paths by spelling
   (tests/test_declared_once.py).
10. A finished run leaves no .lock; --no-progress silences lm-eval's bars.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny import build_suite
from xtreme_harness.cli import eval_main, leaderboard_main, score_main, train_main

XNLI = "Der Hund läuft.\tEin Tier bewegt sich.\tentailment\nEs regnet.\tDie Sonne scheint.\tcontradiction\n"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("r3") / "suite", tasks={"xnli", "pawsx", "encoder"})


def data(root: Path, langs=("de",)) -> Path:
    (root / "xnli").mkdir(parents=True, exist_ok=True)
    (root / "pawsx").mkdir(parents=True, exist_ok=True)
    for lang in langs:
        (root / "xnli" / f"dev-{lang}.tsv").write_text(XNLI, encoding="utf-8")
        (root / "pawsx" / f"dev-{lang}.tsv").write_text(XNLI.replace("entailment", "1").replace(
            "contradiction", "0"), encoding="utf-8")
    return root


def ev(*args, capsys=None):
    code = eval_main(["--no-progress", *map(str, args)])
    return code, (capsys.readouterr().err if capsys else "")


def base(suite, d, out, *extra):
    return ["--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir", d,
            "--output", out, *extra]


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def sub(*args, cwd=None, env=None, timeout=600, **kw):
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout, **kw)


# --- 1. links ------------------------------------------------------------------------------------------------

def test_a_linked_lock_file_is_never_opened(tmp_path, suite, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    code, err = ev(*base(suite, data(tmp_path / "d"), out), capsys=capsys)
    assert code == 2 and ".lock" in one_line(err) and "symbolic link" in err
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("inside", ["predictions", "predictions/xnli", "state/xnli"])
def test_eval_never_writes_through_a_linked_folder(tmp_path, suite, capsys, inside):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / inside).parent.mkdir(parents=True, exist_ok=True)
    (out / inside).symlink_to(elsewhere)
    code, err = ev(*base(suite, data(tmp_path / "d"), out), capsys=capsys)
    assert code == 2 and "symbolic link" in one_line(err)
    assert list(elsewhere.rglob("*")) == []


def test_a_linked_output_file_is_refused_by_score_and_board(tmp_path, suite, capsys):
    d = data(tmp_path / "d")
    out = tmp_path / "out"
    assert ev(*base(suite, d, out), capsys=capsys)[0] == 0
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    link = tmp_path / "scores.json"
    link.symlink_to(victim)
    code = score_main(["--predictions", str(out / "predictions"), "--labels", str(out / "labels"), "--json", str(link)])
    assert code == 2 and "symbolic link" in capsys.readouterr().err.splitlines()[-1]
    board_link = tmp_path / "board.md"
    board_link.symlink_to(victim)
    assert leaderboard_main([str(out), "--out", str(board_link)]) == 2
    assert "symbolic link" in one_line(capsys.readouterr().err) and victim.read_text() == "keep"


def test_plots_never_replace_a_links_target(tmp_path, suite, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert ev(*base(suite, data(tmp_path / "d"), out), capsys=capsys)[0] == 0
    plots = tmp_path / "plots"
    plots.mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"mine")
    assert leaderboard_main([str(out), "--plots", str(plots), "--out", str(tmp_path / "b.md")]) == 0
    capsys.readouterr()
    names = [p.name for p in plots.iterdir()]
    assert names
    for name in names:
        (plots / name).unlink()
        (plots / name).symlink_to(victim)
    assert leaderboard_main([str(out), "--plots", str(plots), "--out", str(tmp_path / "b.md")]) == 2
    assert "symbolic link" in one_line(capsys.readouterr().err) and victim.read_bytes() == b"mine"


def test_export_force_never_writes_through_a_linked_task_folder(tmp_path, suite, capsys):
    out = tmp_path / "out"
    d = data(tmp_path / "d")
    (d / "xnli" / "test-de.tsv").write_text(XNLI, encoding="utf-8")
    assert ev("--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--data-dir", d, "--output", out,
              capsys=capsys)[0] == 0
    sub_dir = tmp_path / "submission"
    (sub_dir / "pawsx").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (sub_dir / "xnli").symlink_to(elsewhere)
    code = leaderboard_main(["export", str(out), "--out", str(sub_dir), "--allow-partial", "--force"])
    assert code == 2 and "symbolic link" in one_line(capsys.readouterr().err)
    assert list(elsewhere.iterdir()) == []


def test_the_trainer_never_writes_through_a_linked_folder(tmp_path, capsys):
    from tiny import build_checkpoint

    base_model = build_checkpoint(tmp_path / "base", "XLMRobertaModel")
    d = data(tmp_path / "d", ("en",))
    (d / "xnli" / "train-en.tsv").write_text(XNLI * 4, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "train").symlink_to(elsewhere)
    code = train_main(["--base", str(base_model), "--targets", "xnli", "--data-dir", str(d), "--out", str(out),
                       "--max-steps", "1", "--batch-size", "2", "--max-length", "32", "--precision", "no",
                       "--device", "cpu", "--no-progress"])
    assert code == 2 and "symbolic link" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


# --- 2. --overwrite --------------------------------------------------------------------------------------------

def test_overwrite_of_a_folder_from_an_older_version_removes_only_harness_names(tmp_path, suite, capsys):
    from xtreme_harness.outputs import remove_written

    out = tmp_path / "old"
    for rel in ("results.json", "settings.json", "predictions/xnli/test-de.tsv", "records/xnli/de.jsonl",
                "state/xnli/de.json", "predictions/xnli/README.txt", "records/my-notes.md"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("x")
    removed, kept = remove_written(out)
    assert removed == 5 and kept == ["predictions/xnli/README.txt", "records/my-notes.md"]
    assert (out / "predictions" / "xnli" / "README.txt").exists() and not (out / "state").exists()


# --- 3. the system refuses -------------------------------------------------------------------------------------

def test_a_full_disk_is_one_line_naming_the_file_and_nothing_half_written(tmp_path, suite, capsys, monkeypatch):
    import xtreme_harness.io.files as files

    real = files.os.fsync
    calls = {"n": 0}

    def full(fd):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(files.os, "fsync", full)
    out = tmp_path / "out"
    code, err = ev(*base(suite, data(tmp_path / "d"), out), capsys=capsys)
    line = one_line(err)
    assert code == 2 and "no space left on the device" in line and str(out) in line
    assert not list(out.rglob("*.tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line(tmp_path, suite, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, err = ev(*base(suite, data(tmp_path / "d"), out), capsys=capsys)
    finally:
        out.chmod(0o755)
    assert code == 2 and str(out) in one_line(err)


# --- 4. one boundary -------------------------------------------------------------------------------------------

def test_python_m_lmeval_reports_our_mistakes_in_one_line(tmp_path):
    env = {**os.environ, "XTREME_LMEVAL_DATA": str(tmp_path / "missing"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.lmeval", "--model", "dummy", "--tasks",
                           "xtreme_xnli_de", "--limit", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "data folder of the xtreme_* lm-eval tasks not found" in proc.stderr
    env["XTREME_LMEVAL_DATA"], env["XTREME_LMEVAL_SPLIT"] = str(data(tmp_path / "d")), "validation"
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.lmeval", "--model", "dummy", "--tasks",
                           "xtreme_xnli_de", "--limit", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "must be test or dev" in proc.stderr


@pytest.mark.parametrize("model_args, says", [("pretrained=/nonexistent/model", "could not be created"),
                                              ("pretrained={ckpt},dtype=float8", "could not be created")])
def test_lm_evals_own_models_fail_in_one_line(tmp_path, suite, capsys, model_args, says):
    code, err = ev("--backend", "lm-eval", "--model", "hf", "--model-args",
                   model_args.format(ckpt=suite / "xnli"), "--tasks", "xnli", "--languages", "de", "--split", "dev",
                   "--data-dir", data(tmp_path / "d"), "--output", tmp_path / "out", "--device", "cpu", capsys=capsys)
    assert code == 2 and says in one_line(err)


def test_an_unreachable_hub_is_one_line_at_once(tmp_path, suite, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    code, err = ev("--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--data-dir", "hf",
                   "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and "cannot be reached" in one_line(err) and time.perf_counter() - t0 < 60


def test_a_max_length_beyond_the_models_positions_is_refused_by_name(tmp_path, capsys):
    from tiny import build_checkpoint, build_tokenizer

    tok = build_tokenizer(tmp_path / "tok")
    ck = build_checkpoint(tmp_path / "ck", "XLMRobertaForSequenceClassification",
                          ["contradiction", "entailment", "neutral"], tokenizer=tok)
    cfg = json.loads((ck / "config.json").read_text())
    positions = cfg["max_position_embeddings"] = 64 + cfg["pad_token_id"] + 1  # 64 after RoBERTa's padding offset
    (ck / "config.json").write_text(json.dumps(cfg))
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(str(ck / "model.safetensors"))
    key = next(k for k in weights if k.endswith("position_embeddings.weight"))
    weights[key] = weights[key][:positions].clone()
    save_file(weights, str(ck / "model.safetensors"), metadata={"format": "pt"})
    d = data(tmp_path / "d")
    code, err = ev("--model", ck, "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir", d,
                   "--output", tmp_path / "o1", "--max-length", "128", capsys=capsys)
    assert code == 2 and "--max-length 128 is more than the 64 sub-tokens" in one_line(err)
    code, err = ev("--model", ck, "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir", d,
                   "--output", tmp_path / "o2", capsys=capsys)  # the task's own 128: cut, and recorded
    assert code == 0, err
    stats = json.loads((tmp_path / "o2" / "results.json").read_text())["tasks"]["xnli"]["stats"]["de"]
    assert stats["lengths_cut_to_model"] == {"max_length": [128, 64]}
    del torch


# --- 5. results.json describes the folder ---------------------------------------------------------------------

def test_a_second_run_into_a_folder_keeps_the_first_runs_tasks(tmp_path, suite, capsys):
    d = data(tmp_path / "d", ("de", "fr"))
    out = tmp_path / "out"
    args = ["--model", suite, "--split", "dev", "--data-dir", d, "--output", out]
    assert ev(*args, "--tasks", "xnli,pawsx", "--languages", "de,fr", capsys=capsys)[0] == 0
    full = json.loads((out / "results.json").read_text())
    assert ev(*args, "--tasks", "pawsx", "--languages", "de", capsys=capsys)[0] == 0
    again = json.loads((out / "results.json").read_text())
    assert again["tasks"] == full["tasks"] and again["coverage"]["xnli"]["languages"] == ["de", "fr"]


def _run_piped(args, cwd):
    cmd = [sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--no-progress", *map(str, args)]
    shell = " ".join(f"'{c}'" for c in cmd) + " 2>&1 | head -1"
    return subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_a_closed_pipe_never_stops_a_run_short(tmp_path, suite):
    d = data(tmp_path / "d", ("de", "fr"))
    out = tmp_path / "out"
    args = ["--model", suite, "--tasks", "xnli,pawsx", "--languages", "de,fr", "--split", "dev", "--data-dir", d,
            "--output", out]
    _run_piped(args, tmp_path)
    time.sleep(0.5)
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["tasks"]) == {"xnli", "pawsx"} and doc["coverage"]["pawsx"]["languages"] == ["de", "fr"]
    assert not (out / ".lock").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_with_its_status_and_a_consistent_folder(tmp_path, suite, sig):
    d = data(tmp_path / "d", ("de", "fr", "es", "ru"))
    for lang in ("de", "fr", "es", "ru"):
        (d / "xnli" / f"dev-{lang}.tsv").write_text(XNLI * 400, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--no-progress", "--model",
                             str(suite / "xnli"), "--tasks", "xnli", "--languages", "de,fr,es,ru", "--split", "dev",
                             "--data-dir", str(d), "--output", str(out), "--batch-size", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list((out / "state").rglob("*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 128 + sig and f"stopped by {signal.Signals(sig).name}" in err and "Traceback" not in err
    doc = json.loads((out / "results.json").read_text())
    states = sorted(p.stem for p in (out / "state" / "xnli").glob("*.json"))
    assert sorted(doc["tasks"]["xnli"]["n"]) == states  # results.json describes every finished language
    assert not list(out.rglob("*.tmp")) and not (out / ".lock").exists()


# --- 6. keys given twice ---------------------------------------------------------------------------------------

def test_a_manifest_naming_a_task_twice_is_refused_naming_both_lines(tmp_path, suite, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"xnli: {{model: {suite / 'xnli'}, revision: abc}}\npawsx: {{model: {suite / 'pawsx'}}}\n"
                        f"xnli: {{model: {suite / 'xnli'}}}\n")
    code, err = ev("--model", manifest, "--tasks", "xnli", "--data-dir", data(tmp_path / "d"), "--split", "dev",
                   "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and f"{manifest}:3: key 'xnli' is given twice (lines 1 and 3)" in one_line(err)


def test_a_recipe_with_two_hyperparameter_blocks_is_refused(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("base_model: x\nhyperparameters: {lr: 1.0e-3}\ntargets: [xnli]\nhyperparameters: {epochs: 1}\n")
    assert train_main(["check", str(recipe)]) == 2
    assert f"{recipe}:4: key 'hyperparameters' is given twice (lines 2 and 4)" in one_line(capsys.readouterr().err)


def test_a_label_mapped_twice_is_refused(tmp_path, suite, capsys):
    code, err = ev(*base(suite, data(tmp_path / "d"), tmp_path / "out", "--label-map",
                         "LABEL_0=entailment,LABEL_0=neutral"), capsys=capsys)
    assert code == 2 and "'LABEL_0' is given twice" in one_line(err)


def test_a_config_json_repeating_a_key_is_refused(tmp_path, suite, capsys):
    import shutil

    ck = tmp_path / "ck"
    shutil.copytree(suite / "xnli", ck)
    text = (ck / "config.json").read_text()
    (ck / "config.json").write_text(text.replace("{", '{\n  "model_type": "bert",', 1))
    code, err = ev("--model", ck, "--tasks", "xnli", "--data-dir", data(tmp_path / "d"), "--split", "dev",
                   "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and "duplicate key 'model_type'" in one_line(err) and "config.json" in err


# --- 7. one verdict per file -----------------------------------------------------------------------------------

def test_blanked_xcopa_labels_are_refused_by_both_commands(tmp_path, suite, capsys):
    items = "".join(json.dumps({"premise": f"p{i}", "choice1": "a", "choice2": "b", "question": "cause",
                                "label": 0, "idx": i}) + "\n" for i in range(12))
    labels = "".join('{"label": 0}\n' for _ in range(12))
    (tmp_path / "pred" / "xcopa").mkdir(parents=True)
    (tmp_path / "gold" / "xcopa").mkdir(parents=True)
    (tmp_path / "pred" / "xcopa" / "test-zh.jsonl").write_text(labels)
    (tmp_path / "gold" / "xcopa" / "test-zh.jsonl").write_text(labels)
    assert score_main(["--predictions", str(tmp_path / "pred"), "--labels", str(tmp_path / "gold"),
                       "--version", "xtreme-r"]) == 2
    assert "blanked test labels" in one_line(capsys.readouterr().err)
    d = tmp_path / "d" / "xcopa"
    (d / "labels").mkdir(parents=True)
    (d / "test-zh.jsonl").write_text(items)
    (d / "labels" / "test-zh.jsonl").write_text(labels)
    mc = build_suite(tmp_path / "mc", tasks={"xcopa"})
    code, err = ev("--model", mc / "xcopa", "--tasks", "xcopa", "--languages", "zh", "--version", "xtreme-r",
                   "--data-dir", tmp_path / "d", "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and "blanked test labels" in one_line(err)


def test_compare_refuses_runs_of_other_splits_or_data(tmp_path, suite, capsys):
    d = data(tmp_path / "d")
    (d / "xnli" / "test-de.tsv").write_text(XNLI, encoding="utf-8")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert ev(*base(suite, d, a), capsys=capsys)[0] == 0
    assert ev("--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--split", "test", "--data-dir", d,
              "--output", b, capsys=capsys)[0] == 0
    assert leaderboard_main(["--compare", str(a), str(b), "--reference", "none"]) == 2
    assert "scored on the dev split" in one_line(capsys.readouterr().err)
    other = data(tmp_path / "d2")
    (other / "xnli" / "dev-de.tsv").write_text(XNLI.replace("Hund", "Fuchs"), encoding="utf-8")
    assert ev(*base(suite, other, c), capsys=capsys)[0] == 0
    assert leaderboard_main(["--compare", str(a), str(c), "--reference", "none"]) == 2
    assert "read other data in the two runs" in one_line(capsys.readouterr().err)


# --- 8. manifest folders ---------------------------------------------------------------------------------------

def test_a_manifest_folder_resolves_beside_the_manifest_from_any_working_folder(tmp_path, suite, capsys,
                                                                                monkeypatch):
    import shutil

    home = tmp_path / "study"
    shutil.copytree(suite / "xnli", home / "xnli-ckpt")
    (home / "m.yaml").write_text("xnli: {model: xnli-ckpt}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, err = ev("--model", home / "m.yaml", "--tasks", "xnli", "--languages", "de", "--split", "dev",
                   "--data-dir", data(tmp_path / "d"), "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, err
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["model"]["tasks"]["xnli"]["path"] == str(home / "xnli-ckpt")


# --- 10. noise -------------------------------------------------------------------------------------------------

def test_no_progress_silences_lm_evals_bars_too(tmp_path, suite, capsys):
    code, err = ev("--backend", "lm-eval", "--model", "xtreme-encoder", "--model-args",
                   f"pretrained={suite / 'xnli'}", "--tasks", "xnli", "--languages", "de", "--split", "dev",
                   "--data-dir", data(tmp_path / "d"), "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, err
    assert "it/s]" not in err and "%|" not in err


def test_lm_eval_auto_batch_on_cpu_is_bounded():
    from xtreme_harness.lmeval.producer import CPU_AUTO_BATCH

    assert 1 <= CPU_AUTO_BATCH <= 64
