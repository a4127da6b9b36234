"""Options declared once and inputs recorded as they are read: the classes of wrong numbers these close.

* An option is checked by its one declaration whichever way it arrives: a flag, a manifest's ``defaults``, the
  ``xtreme-encoder`` lm-eval model's ``model_args``; out-of-range values and unknown keys end in exit 2.
* Every input a (task, language) reads is in its resume key: BUCC's dev split (its threshold) when test is
  scored, a local copy of a hub dataset, a gold file added later.
* ``--data-dir`` is a folder unless it is exactly ``hf`` or ``hf:PATH``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_readers import _hf_repo
from tiny import build_suite
from xtreme_harness.cli import eval_main


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("once") / "suite", tasks={"xnli", "udpos", "encoder"})


XNLI = "Der Hund läuft.\tEin Tier bewegt sich.\tentailment\nEs regnet.\tDie Sonne scheint.\tcontradiction\n"


def _xnli(root: Path) -> Path:
    (root / "xnli").mkdir(parents=True, exist_ok=True)
    (root / "xnli" / "dev-de.tsv").write_text(XNLI, encoding="utf-8")
    return root


def _eval(*args, capsys) -> tuple[int, str]:
    code = eval_main(["--no-progress", *map(str, args)])
    return code, capsys.readouterr().err


# --- one declaration, every way in ------------------------------------------------------------------------

@pytest.mark.parametrize("value, says", [("0", "must be at least 8"), ("3", "must be at least 8"),
                                         ("100000", "must be at least 8 and at most 8192")])
def test_manifest_defaults_are_checked_as_the_flag_is(tmp_path, suite, capsys, value, says):
    data = _xnli(tmp_path / "data")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"defaults: {{max_length: {value}}}\nxnli: {{model: {suite / 'xnli'}}}\n")
    code, err = _eval("--model", manifest, "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir",
                      data, "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{manifest}:1: 'defaults.max_length' {says}" in err
    code, err = _eval("--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--split", "dev",
                      "--data-dir", data, "--output", tmp_path / "out", "--max-length", value, capsys=capsys)
    assert code == 2 and f"--max-length {says}" in err


def test_manifest_refuses_an_unknown_default(tmp_path, suite, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"xnli: {{model: {suite / 'xnli'}}}\ndefaults:\n  max_lenght: 64\n")
    code, err = _eval("--model", manifest, "--tasks", "xnli", "--data-dir", _xnli(tmp_path / "d"), "--split", "dev",
                      "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and f"{manifest}:3: unknown key 'max_lenght' in 'defaults'" in err
    assert "max_length" in err and "pooling" in err  # the keys that would have been taken


@pytest.mark.parametrize("args, says", [
    ("max_length=0", "xtreme-encoder model_args max_length must be at least 8"),
    ("max_length=3", "xtreme-encoder model_args max_length must be at least 8"),
    ("max_lenght=64", "unknown key 'max_lenght' in xtreme-encoder model_args"),
    ("qa_nbest=all", "xtreme-encoder model_args qa_nbest must be padded or real-tokens, not 'all'"),
    ("dtype=float8", "xtreme-encoder model_args dtype must be auto or float32 or bfloat16 or float16"),
])
def test_lm_eval_model_args_are_checked_as_the_flags_are(tmp_path, suite, capsys, args, says):
    data = _xnli(tmp_path / "data")
    code, err = _eval("--backend", "lm-eval", "--model", "xtreme-encoder", "--model-args",
                      f"pretrained={suite / 'xnli'},{args}", "--tasks", "xnli", "--languages", "de", "--split", "dev",
                      "--data-dir", data, "--output", tmp_path / "out", capsys=capsys)
    assert code == 2 and says in err and err.count("\n") == 1, err


def test_a_key_given_twice_in_model_args_is_refused(tmp_path, suite, capsys):
    code, err = _eval("--backend", "lm-eval", "--model", "xtreme-encoder", "--model-args",
                      f"pretrained={suite / 'xnli'},max_length=64,max_length=128", "--tasks", "xnli",
                      "--data-dir", _xnli(tmp_path / "data"), "--split", "dev", "--output", tmp_path / "out",
                      capsys=capsys)
    assert code == 2 and "'max_length' is given twice" in err


def test_python_api_checks_as_the_flags_do(tmp_path, suite):
    from xtreme_harness import UserError, evaluate

    with pytest.raises(UserError, match="--max-length must be at least 8"):
        evaluate(str(suite / "xnli"), data_dir=str(_xnli(tmp_path)), max_length=4)
    with pytest.raises(UserError, match="unknown evaluate\\(\\) argument"):
        evaluate(str(suite / "xnli"), data_dir=str(tmp_path), max_lenght=64)


# --- what was read is the resume key --------------------------------------------------------------------

BUCC_XX = "de-000000001\tDer Hund läuft.\nde-000000002\tEs regnet.\nde-000000003\tDas Haus ist rot.\n"
BUCC_EN = "en-000000001\tThe dog runs.\nen-000000002\tIt rains.\nen-000000003\tThe house is red.\n"


def test_bucc_test_is_recomputed_when_its_threshold_split_changes(tmp_path, suite, capsys):
    data = tmp_path / "data" / "bucc2018"
    data.mkdir(parents=True)
    for split in ("dev", "test"):
        (data / f"de-en.{split}.de").write_text(BUCC_XX, encoding="utf-8")
        (data / f"de-en.{split}.en").write_text(BUCC_EN, encoding="utf-8")
    (data / "de-en.dev.gold").write_text("de-000000001\ten-000000001\n")
    (data / "de-en.test.gold").write_text("de-000000001\ten-000000001\nde-000000002\ten-000000002\n")
    args = ["--model", suite / "encoder", "--tasks", "bucc2018", "--languages", "de", "--data-dir", data.parent,
            "--output", tmp_path / "out"]
    assert _eval(*args, capsys=capsys)[0] == 0
    assert _eval(*args, capsys=capsys)[1].count("reusing finished result") == 1
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    read = [e["path"] for e in doc["inputs"]["bucc2018"]["de"]]
    assert str((data / "de-en.dev.gold").resolve()) in read and doc["tasks"]["bucc2018"]["stats"]["de"][
        "threshold_from"] == "dev"
    (data / "de-en.dev.gold").write_text("de-000000002\ten-000000002\n")  # the dev gold only
    code, err = _eval(*args, capsys=capsys)
    assert code == 0 and "reusing finished result" not in err


def test_a_local_hub_copy_is_in_the_key(tmp_path, suite, capsys, hf_cache):
    import datasets

    repo = _hf_repo(tmp_path)
    args = ["--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--data-dir", f"hf:{repo}",
            "--output", tmp_path / "out"]
    assert _eval(*args, capsys=capsys)[0] == 0
    assert "reusing finished result" in _eval(*args, capsys=capsys)[1]
    first = json.loads((tmp_path / "out" / "results.json").read_text())
    assert first["inputs"]["xnli"]["de"][0]["path"] == str(repo.resolve())
    xnli = datasets.Dataset.from_dict({"language": ["de"], "sentence1": ["a"], "sentence2": ["x"],
                                       "gold_label": ["neutral"]})
    xnli.to_parquet(str(repo / "XNLI" / "test-00000.parquet"))
    code, err = _eval(*args, capsys=capsys)
    assert code == 0 and "reusing finished result" not in err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["tasks"]["xnli"]["n"]["de"] == 1


def test_spellings_of_one_folder_are_one_setting(tmp_path, suite, capsys):
    data = _xnli(tmp_path / "data")
    base = ["--tasks", "xnli", "--languages", "de", "--split", "dev", "--output", tmp_path / "out"]
    assert _eval("--model", suite / "xnli", "--data-dir", data, *base, capsys=capsys)[0] == 0
    code, err = _eval("--model", f"{suite / 'xnli'}/", "--data-dir", f"{data}/", *base, capsys=capsys)
    assert code == 0 and "reusing finished result" in err


# --- hf is a source only when it says so ---------------------------------------------------------------------

def test_a_folder_whose_name_starts_with_hf_is_a_folder(tmp_path, suite, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _xnli(tmp_path / "hfdownload")
    code, err = _eval("--model", suite / "xnli", "--tasks", "xnli", "--languages", "de", "--split", "dev",
                      "--data-dir", "hfdownload", "--output", "out", capsys=capsys)
    assert code == 0, err
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["tasks"]["xnli"]["n"] == {"de": 2}
    assert doc["inputs"]["xnli"]["de"][0]["path"] == str(tmp_path / "hfdownload" / "xnli" / "dev-de.tsv")
    code, err = _eval("--model", suite / "xnli", "--tasks", "xnli", "--data-dir", "hfmissing", "--output", "out2",
                      capsys=capsys)
    assert code == 2 and "data folder not found: hfmissing" in err and "xtreme-data download" in err


def test_no_data_folder_says_how_to_get_one(tmp_path, suite, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XTREME_DATA_DIR", raising=False)
    out = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--model", str(suite / "xnli"),
                          "--tasks", "xnli"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    for hint in ("xtreme-data download", "--data-dir", "XTREME_DATA_DIR", "--data-dir hf"):
        assert hint in out.stderr
