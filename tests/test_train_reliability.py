"""xtreme-train on damaged, changed or hostile inputs: never stale results, never a traceback, no debris.

Fast tier: a tiny random encoder, PAN-X English from the demo data, a dozen steps. One interrupted run
(killed by an injected error after its step-8 save) and one uninterrupted run are made once and copied
into each test that damages them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
from pathlib import Path

import pytest

from xtreme_harness.io.errors import UserError

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
HYPER = {"lr": 1e-3, "max_steps": 12, "batch_size": 4, "save_every": 4, "eval_every": 1000, "max_length": 32,
         "log_every": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: tiny models run on one thread


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from xtreme_harness.demo import build_encoder, build_tokenizer

    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(200)]
    tok = build_tokenizer(corpus, None, vocab_size=200)
    return build_encoder(tmp_path_factory.mktemp("base") / "base", tok, hidden=32, layers=2, heads=2, seed=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from xtreme_harness.demo_data import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo") / "data", ["en", "de"], seed=0, size="tiny")


def _recipe_file(folder: Path, base: Path, data: Path, **hyper) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "recipe.yaml"
    p.write_text(json.dumps({"base_model": str(base), "seed": 5, "precision": "no", "data_dir": str(data),
                             "targets": ["panx"], "hyperparameters": {**HYPER, **hyper}}))  # JSON is YAML
    return p


def _opts(**kw):
    from xtreme_harness.train.pipeline import RunOptions

    return RunOptions(device="cpu", progress=False, **kw)


def _train(args: list[str], capsys) -> tuple[int, str]:
    from xtreme_harness.cli import train_main

    capsys.readouterr()
    code = train_main(args)
    return code, capsys.readouterr().err


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("xtreme-train: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _weights(path: Path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, base, data):
    """(recipe file, uninterrupted run, run stopped after its step-8 save)."""
    from xtreme_harness.train import load_recipe, run

    root = tmp_path_factory.mktemp("runs")
    recipe_path = _recipe_file(root, base, data)
    run(load_recipe(recipe_path), root / "straight", _opts())

    def fail(state):
        if state["step"] == 10:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        run(load_recipe(recipe_path), root / "partial", _opts(on_step=fail))
    assert json.loads((root / "partial/train/panx/checkpoint-last/state.json").read_text())["step"] == 8
    return recipe_path, root / "straight", root / "partial"


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "out"
    shutil.copytree(src, dst, symlinks=True)
    return dst


# --- a resume that cannot be exact stops, in one line ----------------------------------------------

class _Payload:
    """What a hostile optimizer.pt would hold: unpickling it runs a command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickle_payload(name: str):
    def damage(ck: Path, tmp: Path) -> None:
        import torch

        torch.save({"state": _Payload(tmp / "PWNED")}, ck / name)
    return damage


def _truncate(name: str):
    return lambda ck, tmp: (ck / name).write_bytes((ck / name).read_bytes()[:40])


def _replace(name: str, value):
    def damage(ck: Path, tmp: Path) -> None:
        import torch

        torch.save(value, ck / name)
    return damage


def _fifo(name: str):
    def damage(ck: Path, tmp: Path) -> None:
        (ck / name).unlink()
        os.mkfifo(ck / name)
    return damage


def _state(**changes):
    def damage(ck: Path, tmp: Path) -> None:
        state = json.loads((ck / "state.json").read_text())
        (ck / "state.json").write_text(json.dumps({**state, **changes}))
    return damage


DAMAGES = [
    ("rng-missing", lambda ck, tmp: (ck / "rng-0.pt").unlink(), "rng-0.pt",
     "saved random-number state is missing, so the run cannot resume exactly; pass --restart-phase"),
    ("optimizer-missing", lambda ck, tmp: (ck / "optimizer.pt").unlink(), "optimizer.pt",
     "saved optimizer state is missing"),
    ("optimizer-pickle", _pickle_payload("optimizer.pt"), "optimizer.pt",
     "saved optimizer state cannot be read safely"),
    ("scheduler-pickle", _pickle_payload("scheduler.pt"), "scheduler.pt",
     "saved learning-rate schedule cannot be read safely"),
    ("rng-pickle", _pickle_payload("rng-0.pt"), "rng-0.pt", "saved random-number state cannot be read safely"),
    ("optimizer-truncated", _truncate("optimizer.pt"), "optimizer.pt", "saved optimizer state cannot be read"),
    ("optimizer-a-fifo", _fifo("optimizer.pt"), "optimizer.pt", "found a FIFO"),
    ("optimizer-of-another-model", _replace("optimizer.pt", {"state": {}, "param_groups": []}), "optimizer.pt",
     "saved optimizer state does not fit this phase"),
    ("rng-malformed", _replace("rng-0.pt", {"python": 1}), "rng-0.pt", "saved random-number state is malformed"),
    ("weights-truncated", _truncate("model.safetensors"), "model.safetensors", "saved weights cannot be loaded"),
    ("state-other-fingerprint", _state(fingerprint="0" * 16), "state.json",
     "this partial panx phase was started with other settings or inputs"),
    ("state-step-past-the-end", _state(step=99), "state.json", "impossible counters"),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("damage,at,says", [pytest.param(d, a, s, id=n) for n, d, a, s in DAMAGES])
def test_a_damaged_resume_state_stops_in_one_line(runs, tmp_path, capsys, damage, at, says):
    recipe_path, _, partial = runs
    out = _copy(partial, tmp_path)
    ck = out / "train" / "panx" / "checkpoint-last"
    damage(ck, tmp_path)
    code, err = _train(["run", "--recipe", str(recipe_path), "--out", str(out), "--device", "cpu",
                        "--no-progress"], capsys)
    assert code == 2, err
    line = _error_line(err)
    assert line.startswith(f"xtreme-train: error: {ck / at}: "), line
    assert says in line, line
    assert not (tmp_path / "PWNED").exists()  # nothing was unpickled
    assert (ck / "state.json").is_file()  # the saved state is left for the user to look at


@pytest.mark.parametrize("damage", [
    pytest.param(lambda ck: (ck / "rng-0.pt").unlink(), id="rng-missing"),
    pytest.param(lambda ck: (ck / "state.json").write_text('{"step": 8, "fing'), id="state-truncated"),
])
def test_restart_phase_after_a_damaged_state_gives_the_uninterrupted_weights(runs, tmp_path, capsys, damage):
    recipe_path, straight, partial = runs
    out = _copy(partial, tmp_path)
    damage(out / "train/panx/checkpoint-last")
    code, err = _train(["run", "--recipe", str(recipe_path), "--out", str(out), "--device", "cpu", "--no-progress",
                        "--restart-phase"], capsys)
    assert code == 0, err
    events = [r.get("event") for r in _log(out / "train/panx/train_log.jsonl")]
    assert events[0] == "start" and "resume" not in events
    assert _same(_weights(out / "panx"), _weights(straight / "panx"))


def test_resume_from_the_saved_step_gives_the_uninterrupted_weights(runs, tmp_path, capsys):
    recipe_path, straight, partial = runs
    out = _copy(partial, tmp_path)
    code, err = _train(["run", "--recipe", str(recipe_path), "--out", str(out), "--device", "cpu",
                        "--no-progress"], capsys)
    assert code == 0, err
    assert "panx: resuming from step 8" in err
    assert [r for r in _log(out / "train/panx/train_log.jsonl") if r.get("event") == "resume"][0]["step"] == 8
    assert _same(_weights(out / "panx"), _weights(straight / "panx"))
    assert not (out / "train/panx/checkpoint-last").exists()


def test_a_resume_whose_best_checkpoint_is_gone_stops_in_one_line(runs, tmp_path, capsys):
    from xtreme_harness.train import load_recipe, run

    recipe_path = _recipe_file(tmp_path / "r", *[Path(p) for p in _sources(runs)], eval_every=4)

    def fail(state):
        if state["step"] == 10:
            raise RuntimeError("simulated crash")

    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        run(load_recipe(recipe_path), out, _opts(on_step=fail))
    assert (out / "panx/config.json").is_file()
    shutil.rmtree(out / "panx")
    code, err = _train(["run", "--recipe", str(recipe_path), "--out", str(out), "--device", "cpu",
                        "--no-progress"], capsys)
    assert code == 2
    line = _error_line(err)
    assert line.startswith(f"xtreme-train: error: {out / 'panx'}: the best checkpoint of this partial panx phase "
                           "(step "), line
    assert "is missing, so the run cannot resume exactly; pass --restart-phase" in line


def _sources(runs) -> tuple[str, str]:
    """(base model, data folder) of the module's runs, read back from their recipe."""
    recipe = json.loads(runs[0].read_text())
    return recipe["base_model"], recipe["data_dir"]


# --- Ctrl-C during a checkpoint write ------------------------------------------------------------

def test_ctrl_c_during_a_checkpoint_write_exits_130_and_the_rerun_resumes_exactly(runs, tmp_path, capsys,
                                                                                   monkeypatch):
    """SIGINT arrives while checkpoint-last of step 4 is being written: the write completes, the run ends
    with exit 130 and one line, and the rerun resumes from step 4 to the uninterrupted weights."""
    import torch

    recipe_path, straight, _ = runs
    real_save = torch.save
    sent = []

    def save(obj, f, *a, **kw):
        if not sent and str(f).endswith("optimizer.pt"):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # delivered between two of the checkpoint's files
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "out"
    args = ["run", "--recipe", str(recipe_path), "--out", str(out), "--device", "cpu", "--no-progress"]
    code, err = _train(args, capsys)
    assert code == 130 and sent, err
    assert err.strip().splitlines()[-1] == "xtreme-train: interrupted; finished work is kept and a rerun resumes it"
    assert "Traceback" not in err
    saved = json.loads((out / "train/panx/checkpoint-last/state.json").read_text())
    assert saved["step"] == 4
    monkeypatch.setattr(torch, "save", real_save)
    code, err = _train(args, capsys)
    assert code == 0, err
    assert [r for r in _log(out / "train/panx/train_log.jsonl") if r.get("event") == "resume"][0]["step"] == 4
    assert _same(_weights(out / "panx"), _weights(straight / "panx"))


# --- changed inputs are never reused -------------------------------------------------------------

def _rewrite_same_size(path: Path, edit) -> None:
    """Rewrite a file with other content of the same size, and put its mtime back."""
    st = path.stat()
    before = path.read_bytes()
    edit(path)
    assert path.stat().st_size == st.st_size and path.read_bytes() != before
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _perturb_weights(path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    key = next(k for k in sorted(tensors) if "word_embeddings" in k)
    tensors[key] = tensors[key] + 0.25
    save_file(tensors, str(path), metadata=metadata)


def _flip_last_byte(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


def test_a_finished_phase_is_not_reused_after_its_inputs_change(base, data, tmp_path):
    from xtreme_harness.train import Recipe, run

    my_base, my_data = tmp_path / "base", tmp_path / "data"
    shutil.copytree(base, my_base)
    shutil.copytree(data / "panx", my_data / "panx")
    recipe = Recipe(base_model=str(my_base), precision="no", data_dir=str(my_data), targets=["panx"],
                    hyperparameters={"max_steps": 2, "batch_size": 4, "max_length": 32, "eval_every": 1000})
    out = tmp_path / "out"
    run(recipe, out, _opts())
    first = _weights(out / "panx")
    run(recipe, out, _opts())  # nothing changed: reused
    assert _same(first, _weights(out / "panx"))

    # The base weights, rewritten with the same size and mtime: the baseline and panx phases are stale.
    _rewrite_same_size(my_base / "model.safetensors", _perturb_weights)
    with pytest.raises(UserError, match="model.safetensors changed") as err:
        run(recipe, out, _opts())
    assert err.value.path == str(out / "train" / "baseline" / "done.json")
    run(recipe, out, _opts(overwrite=True))
    assert not _same(first, _weights(out / "panx"))

    # A tokenizer file and a training file, likewise.
    _rewrite_same_size(my_base / "tokenizer_config.json",
                       lambda p: p.write_bytes(p.read_bytes().replace(b"  ", b" \t", 1)))
    with pytest.raises(UserError, match="tokenizer_config.json changed"):
        run(recipe, out, _opts())
    run(recipe, out, _opts(overwrite=True))
    train = my_data / "panx" / "train-en.tsv"
    _rewrite_same_size(train, lambda p: p.write_bytes(p.read_bytes().replace(b"B-PER", b"B-LOC", 1)))
    with pytest.raises(UserError, match=r"finished panx phase trained with other settings or inputs \(data"):
        run(recipe, out, _opts())
    run(recipe, out, _opts(overwrite=True))


def test_file_fingerprint_sees_content_not_just_size_and_mtime(tmp_path, monkeypatch):
    from xtreme_harness.io import reads as io
    from xtreme_harness.train.files import file_fingerprint

    monkeypatch.setattr(io, "FULL_HASH_BYTES", 2**20)  # the large file is hashed by samples
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(b"abc" * 100)
    large.write_bytes(os.urandom(3 * 2**20 + 17))
    for p in (small, large):
        before = file_fingerprint(p)
        _rewrite_same_size(p, _flip_last_byte)
        after = file_fingerprint(p)
        assert (after["size"], after["mtime_ns"]) == (before["size"], before["mtime_ns"])
        assert after["digest"] != before["digest"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="FIFO"):
        file_fingerprint(fifo)


# --- files the trainer leaves behind --------------------------------------------------------------

def test_leftovers_of_a_killed_run_are_removed_and_nothing_else(runs, tmp_path):
    from xtreme_harness.train import load_recipe, run

    recipe_path, straight, _ = runs
    out = _copy(straight, tmp_path)
    (out / ".train_info.json.k3j2.tmp").write_text("{")
    (out / "train/panx/.done.json.x9.tmp").write_text("{")
    (out / ".panx.tmp").mkdir()
    (out / ".panx.tmp/model.safetensors").write_bytes(b"half")
    (out / "train/panx/checkpoint-last.tmp").mkdir()
    (out / "train/panx/checkpoint-last.tmp/optimizer.pt").write_bytes(b"half")
    shutil.copytree(out / "encoder", out / ".encoder.old")  # a kill after the swap, before the clean-up
    os.replace(out / "panx", out / ".panx.old")  # a kill between the two renames of a swap
    (out / "notes.tmp").mkdir()  # the user's own
    (out / "notes.tmp/keep.txt").write_text("mine")
    (out / "mine.txt").write_text("mine")
    run(load_recipe(recipe_path), out, _opts())
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if ".tmp" in p.name or ".old" in p.name)
    assert left == ["notes.tmp"]
    assert (out / "notes.tmp/keep.txt").read_text() == "mine" and (out / "mine.txt").is_file()
    assert _same(_weights(out / "panx"), _weights(straight / "panx"))  # put back and reused, not retrained
    assert (out / "panx/config.json").is_file()


def test_every_file_written_keeps_the_umask(base, data, tmp_path):
    from xtreme_harness.train import Recipe, run

    recipe = Recipe(base_model=str(base), precision="no", data_dir=str(data), targets=["panx"],
                    hyperparameters={"max_steps": 3, "save_every": 1, "batch_size": 4, "max_length": 32,
                                     "eval_every": 2})
    old = os.umask(0o027)
    try:
        run(recipe, tmp_path / "out", _opts(keep_last=True))
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*")]
    assert any(p.name == "optimizer.pt" for p in files) and any(p.name == "model.safetensors" for p in files)
    wrong = [(str(p), oct(stat.S_IMODE(p.stat().st_mode))) for p in files
             if stat.S_IMODE(p.stat().st_mode) != (0o750 if p.is_dir() else 0o640)]
    assert not wrong


def test_a_second_run_on_a_held_output_folder_is_refused(base, data, tmp_path):
    from xtreme_harness.train import Recipe, run
    from xtreme_harness.train.files import hold_output

    out = tmp_path / "out"
    out.mkdir()
    recipe = Recipe(base_model=str(base), precision="no", data_dir=str(data), targets=["panx"])
    with hold_output(out):
        with pytest.raises(UserError, match=r"another run \(pid \d+\) is training into this folder"):
            run(recipe, out, _opts())


# --- values, paths and special files: refused before any work --------------------------------------

@pytest.mark.parametrize("flag,value,says", [
    ("--lr", "nan", "--lr must be a finite number, got nan"),
    ("--lr", "inf", "--lr must be a finite number, got inf"),
    ("--epochs", "inf", "--epochs must be a finite number"),
    ("--epochs", "-1", "--epochs must be positive"),
    ("--batch-size", "0", "--batch-size must be at least 1"),
    ("--warmup-ratio", "2", "--warmup-ratio must be at least 0 and at most 1"),
    ("--max-length", "3", "--max-length must be at least 8"),
    ("--seed", "-1", "--seed must be at least 0"),
    ("--temperature", "nan", "--temperature must be a finite number"),
    ("--mlm-weight", "nan", "--mlm-weight must be a finite number"),
    ("--max-length", "4000", "--max-length: panx phase: max_length 4000 is more than the 512 positions"),
])
def test_bad_flag_values_are_refused_in_one_line(base, data, tmp_path, capsys, flag, value, says):
    out = tmp_path / "out"
    extra = ["--mlm-data", str(tmp_path / "m.txt")] if flag == "--mlm-weight" else []
    code, err = _train(["run", "--base", str(base), "--targets", "panx", "--data-dir", str(data), "--out", str(out),
                        "--device", "cpu", "--no-progress", flag, value, *extra], capsys)
    assert code == 2
    assert says in _error_line(err)
    assert not out.exists()


def test_check_and_run_refuse_a_recipe_with_the_same_line(base, tmp_path, capsys):
    p = tmp_path / "r.yaml"
    p.write_text(f"base_model: {base}\ntargets: [panx]\nhyperparameters:\n  lr: 1.0e-5\n  epochs: .inf\n")
    lines = []
    for args in (["check", str(p)], ["run", "--recipe", str(p), "--out", str(tmp_path / "o"), "--device", "cpu"]):
        code, err = _train(args, capsys)
        assert code == 2
        lines.append(_error_line(err))
    expected = f"xtreme-train: error: {p}:5: hyperparameters.epochs must be a finite number, got inf"
    assert lines[0] == lines[1] == expected
    assert not (tmp_path / "o").exists()


def test_the_python_api_is_checked_like_the_command_line(base, data, tmp_path):
    from xtreme_harness.train import Recipe, run

    for recipe, says in (
            (Recipe(base_model=str(base), seed=-1, targets=["panx"]), "seed must be at least 0"),
            (Recipe(base_model=str(base), temperature=float("nan"), intermediate=["mnli"]), "temperature must be"),
            (Recipe(base_model=str(base), targets=["panx"], hyperparameters={"lr": float("nan")}),
             "hyperparameters.lr must be a finite number"),
            (Recipe(base_model=str(base), targets=["panx"], hyperparameters={"batch_size": "32"}),
             "batch_size must be an integer"),
            (Recipe(base_model=str(base), sampling="random", intermediate=["mnli"]), "sampling 'random'"),
            (Recipe(base_model=str(base), targets=["tatoeba"]), "'tatoeba' is not a trainable target")):
        with pytest.raises(UserError, match=says.replace("(", r"\(")):
            run(recipe, tmp_path / "out", _opts())
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out,says", [
    ("/proc/xtreme-train-out", "--out lies in a system folder"),
    ("{tmp}/" + "x" * 300, "a path component is longer than the file system allows"),
])
def test_output_paths_of_the_wrong_kind_are_refused(base, tmp_path, capsys, out, says):
    out = out.format(tmp=tmp_path)
    code, err = _train(["run", "--base", str(base), "--targets", "panx", "--out", out, "--device", "cpu"], capsys)
    assert code == 2
    assert says in _error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.timeout(120)
def test_fifos_are_refused_without_blocking(base, data, tmp_path, capsys):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    code, err = _train(["check", str(fifo)], capsys)
    assert code == 2 and "FIFO" in _error_line(err)
    train = tmp_path / "train.tsv"
    os.mkfifo(train)
    common = ["--targets", "panx", "--data-dir", str(data), "--device", "cpu", "--no-progress", "--max-steps", "1",
              "--max-length", "32", "--batch-size", "2"]
    code, err = _train(["run", "--base", str(base), *common, "--train-file", f"panx={train}", "--out",
                        str(tmp_path / "o1")], capsys)
    assert code == 2 and f"{train}: " in _error_line(err) and "FIFO" in err
    odd = tmp_path / "odd-base"
    shutil.copytree(base, odd)
    os.mkfifo(odd / "extra.bin")
    code, err = _train(["run", "--base", str(odd), *common, "--out", str(tmp_path / "o2")], capsys)
    assert code == 2 and f"{odd / 'extra.bin'}: " in _error_line(err) and "FIFO" in err


def test_temperature_sampling_stays_finite_near_zero():
    import numpy as np

    from xtreme_harness.train.sampling import mixing_weights

    w = mixing_weights([10, 1000, 0], "temperature", 1e-6)
    assert np.isfinite(w).all() and abs(w.sum() - 1) < 1e-12 and w[1] == 1.0
    assert np.allclose(mixing_weights([10, 1000], "temperature", 2.0), np.sqrt([10, 1000]) / np.sqrt([10, 1000]).sum())
