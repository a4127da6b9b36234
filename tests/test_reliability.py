"""What a rerun, a second run and an odd path do to an output folder: never a stale or mixed figure.

Runs go through the command line's entry (``cli.eval_main``) in this process, except where two processes are
the point (the lock); a tiny random checkpoint scores a two-language XNLI dev set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tiny import build_suite

XNLI = "Der Hund läuft.\tEin Tier bewegt sich.\tentailment\nEs regnet.\tDie Sonne scheint.\tcontradiction\n" \
       "Es ist kalt.\tEs friert.\tneutral\nDas Haus ist rot.\tDas Haus hat eine Farbe.\tentailment\n"
NO_GOLD = "".join("\t".join(line.split("\t")[:2]) + "\n" for line in XNLI.splitlines())


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("rel") / "suite", tasks={"xnli", "xquad", "encoder"})


def run(*args: str, capsys=None) -> tuple[int, str]:
    from xtreme_harness import cli

    code = cli.eval_main(["--no-progress", *args])
    err = capsys.readouterr().err if capsys else ""
    return code, err


def xnli_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir", str(data),
            "--output", str(out), *extra]


def data_folder(root: Path, text: str = XNLI) -> Path:
    (root / "xnli").mkdir(parents=True, exist_ok=True)
    (root / "xnli" / "dev-de.tsv").write_text(text, encoding="utf-8")
    return root


def accuracy(out: Path) -> float | None:
    doc = json.loads((out / "results.json").read_text())
    return (doc["tasks"]["xnli"].get("accuracy") or {}).get("de")


# --- resume: every input the figures depend on is in the fingerprint ---------------------------------

def test_gold_added_later_is_scored_on_rerun(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data", NO_GOLD)
    out = tmp_path / "out"
    assert run(*xnli_args(suite / "xnli", data, out), capsys=capsys)[0] == 0
    assert accuracy(out) is None
    data_folder(data, XNLI)  # the same rows, now with labels
    code, err = run(*xnli_args(suite / "xnli", data, out), capsys=capsys)
    assert code == 0 and "reusing" not in err
    assert accuracy(out) is not None


def test_fixed_gold_of_the_same_size_and_mtime_changes_the_score(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data")
    out = tmp_path / "out"
    run(*xnli_args(suite / "xnli", data, out), capsys=capsys)
    labels = (out / "labels" / "xnli" / "test-de.tsv").read_text()
    path = data / "xnli" / "dev-de.tsv"
    st = path.stat()
    rows = XNLI.splitlines(keepends=True)
    swap = [r.rsplit("\t", 1) for r in rows]
    swap[1][1], swap[2][1] = swap[2][1], swap[1][1]  # two labels change rows: same bytes in all, same size
    path.write_text("".join("\t".join(r) for r in swap), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    code, err = run(*xnli_args(suite / "xnli", data, out), capsys=capsys)
    assert code == 0 and "reusing" not in err, err
    assert (out / "labels" / "xnli" / "test-de.tsv").read_text() != labels


def test_a_swapped_tokenizer_recomputes(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data")
    ck = tmp_path / "ck"
    shutil.copytree(suite / "xnli", ck)
    out = tmp_path / "out"
    run(*xnli_args(ck, data, out), capsys=capsys)
    tok = json.loads((ck / "tokenizer.json").read_text())
    tok["normalizer"] = {"type": "Lowercase"}
    (ck / "tokenizer.json").write_text(json.dumps(tok))
    code, err = run(*xnli_args(ck, data, out), capsys=capsys)
    assert code == 0 and "reusing" not in err, err
    code, err = run(*xnli_args(ck, data, out), capsys=capsys)
    assert code == 0 and "reusing finished result" in err  # nothing changed: reused


# --- one output folder, one run and one set of settings ----------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from xtreme_harness.outputs import OutputFolder
    with OutputFolder(sys.argv[1], {"held": True}):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_process_stops_at_once_while_the_folder_is_held(tmp_path, suite, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        code, err = run(*xnli_args(suite / "xnli", data_folder(tmp_path / "data"), out), capsys=capsys)
        assert code == 2 and time.monotonic() - t0 < 30
        assert f"another run (pid {holder.pid}) is writing to this folder" in err
        assert err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait()


def test_two_processes_with_different_settings_never_mix(tmp_path, suite):
    """Started together into one folder: one finishes, the other is refused (held, or other settings)."""
    data = data_folder(tmp_path / "data")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--no-progress",
           *xnli_args(suite / "xnli", data, out)]
    procs = [subprocess.Popen(cmd + ["--max-length", n], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in ("64", "32")]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another run" in refused or "holds results of other settings" in refused
    winner = procs[[code for code, _ in results].index(0)].args[-1]
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["max_length"] == int(winner)
    assert json.loads((out / "settings.json").read_text())["max_length"] == int(winner)


def test_other_settings_are_refused_and_overwrite_replaces_them(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data")
    out = tmp_path / "out"
    assert run(*xnli_args(suite / "xnli", data, out, "--max-length", "64"), capsys=capsys)[0] == 0
    (out / "predictions" / "xnli" / "notes.txt").write_text("mine\n")  # the user's own file
    code, err = run(*xnli_args(suite / "xnli", data, out, "--max-length", "32"), capsys=capsys)
    assert code == 2 and "holds results of other settings (max_length: 64 there, 32 now)" in err
    assert json.loads((out / "results.json").read_text())["config"]["max_length"] == 64
    written = (out / ".xtreme-written").read_text().split()
    assert "records/xnli/de.jsonl" in written and "predictions/xnli/notes.txt" not in written
    code, err = run(*xnli_args(suite / "xnli", data, out, "--max-length", "32", "--overwrite"), capsys=capsys)
    assert code == 0, err
    assert (out / "predictions" / "xnli" / "notes.txt").read_text() == "mine\n"  # kept, and said so
    assert "kept 1 it did not write: predictions/xnli/notes.txt" in err
    assert f"removed {len(written)} file(s) the harness wrote for other settings" in err
    assert json.loads((out / "results.json").read_text())["config"]["max_length"] == 32


# --- files keep the umask; paths are taken as written ------------------------------------------------

def test_results_files_keep_the_umask(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data")
    out = tmp_path / "out"
    old = os.umask(0o027)
    try:
        assert run(*xnli_args(suite / "xnli", data, out), capsys=capsys)[0] == 0
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file() and p.name != ".lock"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}, files
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_dir()} == {0o750}


def test_dotdot_in_output_creates_no_extra_folder(tmp_path, suite, capsys, monkeypatch):
    data = data_folder(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert run(*xnli_args(suite / "xnli", data, Path("a/x/../b")), capsys=capsys)[0] == 0
    assert (tmp_path / "a" / "b" / "results.json").is_file() and not (tmp_path / "a" / "x").exists()


def test_a_stale_temporary_file_is_removed_by_the_next_run(tmp_path, suite, capsys):
    data = data_folder(tmp_path / "data")
    out = tmp_path / "out"
    run(*xnli_args(suite / "xnli", data, out), capsys=capsys)
    stale = out / "state" / "xnli" / ".de.json.abc123.tmp"
    stale.write_text("{")
    run(*xnli_args(suite / "xnli", data, out), capsys=capsys)
    assert not stale.exists()


@pytest.mark.parametrize("where", ["/proc/xtreme-out", "/sys/xtreme-out"])
def test_output_in_a_system_folder_is_refused(tmp_path, suite, capsys, where):
    code, err = run(*xnli_args(suite / "xnli", data_folder(tmp_path / "data"), Path(where)), capsys=capsys)
    assert code == 2 and f"{where}: --output lies in a system folder" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_as_spec_is_refused_without_blocking(tmp_path, suite):
    specs = tmp_path / "specs"
    specs.mkdir()
    os.mkfifo(specs / "news.yaml")
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "score", "--predictions",
                           str(tmp_path), "--labels", str(tmp_path), "--task-dir", str(specs)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "found a FIFO" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_mistyped_local_path_fails_at_once(tmp_path, suite, capsys, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.monotonic()
    code, err = run(*xnli_args(Path("runs/xnlii"), data_folder(tmp_path / "data"), tmp_path / "out"),
                    capsys=capsys)
    assert code == 2 and "runs/xnlii: checkpoint folder not found" in err and time.monotonic() - t0 < 10


@pytest.mark.parametrize("value", ["0", "1", "7", "100000"])
def test_max_length_out_of_range_is_refused(tmp_path, suite, capsys, value):
    code, err = run(*xnli_args(suite / "xnli", data_folder(tmp_path / "data"), tmp_path / "out",
                               "--max-length", value), capsys=capsys)
    assert code == 2 and "--max-length must be at least 8 and at most 8192" in err
    assert not (tmp_path / "out").exists()


def test_qa_max_length_shorter_than_its_question_is_refused(tmp_path, suite, capsys):
    from faultkit import GOLD_QA

    data = tmp_path / "data" / "xquad"
    data.mkdir(parents=True)
    (data / "xquad.de.json").write_text(GOLD_QA, encoding="utf-8")
    code, err = run("--model", str(suite / "xquad"), "--tasks", "xquad", "--languages", "de", "--data-dir",
                    str(data.parent), "--output", str(tmp_path / "out"), "--max-length", "10", capsys=capsys)
    assert code == 2 and "leaves no room for the context after question" in err


# --- a spec that replaces a built-in task is marked and left out of the overall score --------------------

def test_replaces_builtin_is_marked_and_not_counted(tmp_path, suite, capsys):
    from xtreme_harness.spec import builtin_task_dir

    specs = tmp_path / "specs"
    specs.mkdir()
    text = (builtin_task_dir() / "xnli.yaml").read_text(encoding="utf-8")
    (specs / "xnli.yaml").write_text(text + "\nreplaces_builtin: true\n", encoding="utf-8")
    out = tmp_path / "out"
    code, err = run(*xnli_args(suite / "xnli", data_folder(tmp_path / "data"), out, "--task-dir", str(specs)),
                    capsys=capsys)
    assert code == 0, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["coverage"]["xnli"]["replaces_builtin"] == str(specs / "xnli.yaml")
    assert doc["partial"] is True


# --- caches and interruptions ---------------------------------------------------------------------------

def test_a_truncated_embedding_cache_file_is_a_miss(tmp_path, suite, capsys):
    data = tmp_path / "data"
    (data / "tatoeba").mkdir(parents=True)
    from faultkit import SRC, TGT

    (data / "tatoeba" / "de-en.de").write_text(SRC)
    (data / "tatoeba" / "de-en.en").write_text(TGT)
    cache = tmp_path / "cache"
    args = ["--model", str(suite / "encoder"), "--tasks", "tatoeba", "--languages", "de", "--data-dir", str(data),
            "--embedding-cache", str(cache)]
    assert run(*args, "--output", str(tmp_path / "o1"), capsys=capsys)[0] == 0
    for f in cache.rglob("*.npy"):
        f.write_bytes(f.read_bytes()[:40])
    code, err = run(*args, "--output", str(tmp_path / "o2"), capsys=capsys)
    assert code == 0, err
    a = (tmp_path / "o1" / "predictions" / "tatoeba" / "test-de.tsv").read_text()
    assert a == (tmp_path / "o2" / "predictions" / "tatoeba" / "test-de.tsv").read_text()


def test_sigint_during_a_write_is_one_line_and_the_rerun_scores_the_same(tmp_path, suite):
    data = data_folder(tmp_path / "data", XNLI * 50)
    cmd = [sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--no-progress"]
    clean = tmp_path / "clean"
    subprocess.run(cmd + xnli_args(suite / "xnli", data, clean), check=True, capture_output=True)
    out = tmp_path / "out"
    for delay in (0.5, 2.0, 3.5):
        proc = subprocess.Popen(cmd + xnli_args(suite / "xnli", data, out), stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # a second Ctrl-C while the first is handled
        code = proc.wait(timeout=120)
        err = proc.stderr.read()
        assert "Traceback" not in err, err
        # 130, or killed by the signal itself while exiting (a shell shows that as 130 too)
        assert code in (0, 130, -signal.SIGINT), (code, err)
    subprocess.run(cmd + xnli_args(suite / "xnli", data, out), check=True, capture_output=True)
    for rel in ("predictions/xnli/test-de.tsv", "labels/xnli/test-de.tsv", "records/xnli/de.jsonl"):
        assert (out / rel).read_bytes() == (clean / rel).read_bytes()


def test_retrieval_search_is_checked_recorded_and_marked(tmp_path, suite, capsys):
    from xtreme_harness.options import unofficial_options

    data = data_folder(tmp_path / "data")
    code, err = run(*xnli_args(suite / "xnli", data, tmp_path / "o1", "--retrieval-search", "hnsw"), capsys=capsys)
    assert code == 2 and "--retrieval-search must be exact or ivf or pca, not 'hnsw'" in err
    assert run(*xnli_args(suite / "xnli", data, tmp_path / "o2", "--retrieval-search", "pca"), capsys=capsys)[0] == 0
    config = json.loads((tmp_path / "o2" / "results.json").read_text())["config"]
    assert config["retrieval_search"] == "pca"
    assert any("approximately" in why for why in unofficial_options(config))
