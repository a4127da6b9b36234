"""Public checkpoints through the real hub code, offline: a hub cache built here, manifests, label maps, revisions.

The cache has the layout ``huggingface_hub`` writes (``models--org--name/snapshots/<sha>/`` and ``refs/main``),
holding tiny real checkpoints; every command runs in a fresh process with ``HF_HUB_CACHE`` pointing at it and
``HF_HUB_OFFLINE=1``, so ``snapshot_download`` / ``from_pretrained`` resolve the ids exactly as they would online.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from tiny import NER, build_checkpoint, build_tokenizer

CONLL = NER + ["B-MISC", "I-MISC"]


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # 40 hex digits, like a git commit


def add_to_cache(cache: Path, repo: str, folder: Path, commit: str, main: bool = True) -> None:
    base = cache / ("models--" + repo.replace("/", "--"))
    shutil.copytree(folder, base / "snapshots" / commit)
    if main:
        (base / "refs").mkdir(parents=True, exist_ok=True)
        (base / "refs" / "main").write_text(commit)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Four public-looking repos: label ids, CoNLL tags with MISC, a QA head (two commits of the first)."""
    root = tmp_path_factory.mktemp("hub")
    tok = build_tokenizer(root / "tok")
    cache = root / "cache"
    old = build_checkpoint(root / "xnli-old", "XLMRobertaForSequenceClassification", ["LABEL_0", "LABEL_1", "LABEL_2"],
                           seed=1, tokenizer=tok)
    new = build_checkpoint(root / "xnli-new", "XLMRobertaForSequenceClassification", ["LABEL_0", "LABEL_1", "LABEL_2"],
                           seed=2, tokenizer=tok)
    add_to_cache(cache, "acme/xlmr-xnli", old, sha("old"), main=False)
    add_to_cache(cache, "acme/xlmr-xnli", new, sha("new"))
    add_to_cache(cache, "lab/xlmr-conll-ner", build_checkpoint(root / "ner", "XLMRobertaForTokenClassification",
                                                               CONLL, seed=3, tokenizer=tok), sha("ner"))
    add_to_cache(cache, "uni/xlmr-squad", build_checkpoint(root / "qa", "XLMRobertaForQuestionAnswering", seed=4,
                                                           tokenizer=tok), sha("qa"))
    from xtreme_harness.demo_data import write_demo_data

    data = write_demo_data(root / "data", ["en", "de"], size="tiny")
    return {"cache": cache, "data": data, "root": root}


def run(hub, *args, env=None):
    full = {**os.environ, "HF_HUB_CACHE": str(hub["cache"]), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            **(env or {})}
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=full)


def manifest(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


MANIFEST = f"""\
name: three public checkpoints
defaults: {{layer: 1}}
xnli:
  model: acme/xlmr-xnli
  revision: {sha("old")}
  label_map: {{LABEL_0: contradiction, LABEL_1: entailment, LABEL_2: neutral}}
panx: {{model: lab/xlmr-conll-ner, label_map: {{B-MISC: O, I-MISC: O}}}}
xquad: {{model: uni/xlmr-squad}}
encoder: {{model: uni/xlmr-squad}}
"""


def test_a_manifest_of_three_hub_models(hub, tmp_path):
    m = manifest(tmp_path / "suite.yaml", MANIFEST)
    out = tmp_path / "out"
    proc = run(hub, "eval", "--model", m, "--tasks", "xnli,panx,xquad,tatoeba", "--data-dir", hub["data"],
               "--output", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["model"]["name"] == "three public checkpoints" and res["model"]["kind"] == "manifest"
    tasks = res["model"]["tasks"]
    assert tasks["xnli"]["model"] == "acme/xlmr-xnli" and tasks["xnli"]["commit"] == sha("old")
    assert tasks["xnli"]["revision"] == sha("old")
    assert tasks["xnli"]["label_map"] == {"LABEL_0": "contradiction", "LABEL_1": "entailment", "LABEL_2": "neutral"}
    assert tasks["panx"]["commit"] == sha("ner") and tasks["panx"]["label_map"]["B-MISC"] == "O"
    assert tasks["xquad"]["commit"] == tasks["tatoeba"]["commit"] == sha("qa")
    assert f"snapshots/{sha('old')}" in res["model"]["checkpoints"]["xnli"]
    assert res["tasks"]["tatoeba"]["stats"]["de"]["layer"] == 1  # the manifest's defaults
    # tags mapped to O come out as O: the submission holds PAN-X tags only
    tags = set((out / "predictions/panx/test-de.tsv").read_text().split())
    assert tags <= set(NER)
    assert set((out / "predictions/xnli/test-de.tsv").read_text().split()) <= {"contradiction", "entailment", "neutral"}
    # the board names the manifest
    board = run(hub, "leaderboard", out, "--reference", "none")
    assert board.returncode == 0 and "| three public checkpoints |" in board.stdout


def test_pinned_revisions(hub, tmp_path):
    """main and a pinned older commit give different weights, and results.json says which was scored."""
    figures = {}
    for rev in (None, sha("old")):
        out = tmp_path / (rev or "main")
        args = ["eval", "--model", "acme/xlmr-xnli", "--tasks", "xnli", "--languages", "de", "--data-dir",
                hub["data"], "--output", out, "--no-progress",
                "--label-map", "LABEL_0=contradiction,LABEL_1=entailment,LABEL_2=neutral"]
        if rev:
            m = manifest(tmp_path / "pinned.yaml", f"xnli: {{model: acme/xlmr-xnli, revision: {rev}, label_map: "
                                                   "{LABEL_0: contradiction, LABEL_1: entailment, LABEL_2: neutral}}\n")
            args = ["eval", "--model", m, "--tasks", "xnli", "--languages", "de", "--data-dir", hub["data"],
                    "--output", out, "--no-progress"]
        proc = run(hub, *args)
        assert proc.returncode == 0, proc.stderr[-1500:]
        res = json.loads((out / "results.json").read_text())
        assert res["model"]["revision"] == (rev or sha("new"))  # main resolves through refs/main
        figures[rev] = (out / "predictions/xnli/test-de.tsv").read_text()
    assert figures[None] != figures[sha("old")]
    # a commit the cache does not hold: one line, naming it and what is cached
    bad = manifest(tmp_path / "bad.yaml", f"xnli: {{model: acme/xlmr-xnli, revision: {sha('nope')}}}\n")
    proc = run(hub, "eval", "--model", bad, "--tasks", "xnli", "--data-dir", hub["data"], "--output", tmp_path / "x")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"xtreme-eval: error: {bad}:1: xnli: 'acme/xlmr-xnli' at revision {sha('nope')}")
    assert "cached commits" in proc.stderr and sha("new")[:12] in proc.stderr


def test_a_missing_hub_id_is_one_line(hub, tmp_path):
    proc = run(hub, "eval", "--model", "acme/no-such-model", "--tasks", "xnli", "--data-dir", hub["data"],
               "--output", tmp_path / "o")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "'acme/no-such-model' is not in the local hub cache" in proc.stderr and "offline" in proc.stderr


def test_label_maps_and_what_they_suggest(hub, tmp_path):
    base = ["--tasks", "panx", "--languages", "de", "--split", "dev", "--data-dir", hub["data"], "--no-progress"]
    proc = run(hub, "eval", "--model", "lab/xlmr-conll-ner", *base, "--output", tmp_path / "a")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "do not match task panx" in proc.stderr and "B-MISC" in proc.stderr and "B-LOC" in proc.stderr
    assert "--label-map B-MISC=O,I-MISC=O" in proc.stderr
    proc = run(hub, "eval", "--model", "lab/xlmr-conll-ner", *base, "--output", tmp_path / "b",
               "--label-map", "B-MISC=O,I-MISC=O")
    assert proc.returncode == 0, proc.stderr[-1500:]
    res = json.loads((tmp_path / "b/results.json").read_text())
    assert res["config"]["label_map"] == {"B-MISC": "O", "I-MISC": "O"} and "f1" in res["tasks"]["panx"]
    # LABEL_n: the suggestion pairs them with the task's labels, to be checked against the model card
    proc = run(hub, "eval", "--model", "acme/xlmr-xnli", "--tasks", "xnli", "--data-dir", hub["data"],
               "--output", tmp_path / "c")
    assert proc.returncode == 2
    assert "--label-map LABEL_0=contradiction,LABEL_1=entailment,LABEL_2=neutral" in proc.stderr
    assert "if the model card agrees" in proc.stderr
    # a map naming a label the checkpoint lacks, or sending one to a label the task lacks
    for bad, says in (("B-FOO=O", "'B-FOO' is not a label of lab/xlmr-conll-ner"),
                      ("B-MISC=MISC,I-MISC=O", "'MISC' is not a label of task panx")):
        proc = run(hub, "eval", "--model", "lab/xlmr-conll-ner", *base, "--output", tmp_path / "d", "--label-map", bad)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    proc = run(hub, "eval", "--model", "lab/xlmr-conll-ner", *base, "--output", tmp_path / "e", "--label-map", "B-MISC")
    assert proc.returncode == 2 and "expected CHECKPOINT_LABEL=TASK_LABEL pairs" in proc.stderr


@pytest.mark.parametrize("text, line, says", [
    ("xnli: {model: a/b}\ncolour: blue\n", 2, "unknown key 'colour'"),
    ("xnli: {model: a/b, revison: main}\n", 1, "unknown key 'xnli.revison'"),
    ("xnli: {revision: main}\n", 1, "missing required key 'xnli.model'"),
    ("xnli: {model: a/b, label_map: [LABEL_0]}\n", 1, "'xnli.label_map' must be a mapping"),
    ("name: x\n", 1, "names no checkpoint"),
    ("defaults: {pooling: max}\nxnli: {model: a/b}\n", 1, "'defaults.pooling' must be mean or cls"),
    ("xnli: {model: a/b, label_map: {LABEL_0: [x]}}\n", 1, "'xnli.label_map.LABEL_0' must name a task label"),
])
def test_manifest_errors_name_file_and_line(tmp_path, text, line, says):
    from xtreme_harness.io.errors import UserError
    from xtreme_harness.producers.manifest import load_manifest

    m = manifest(tmp_path / "m.yaml", text)
    with pytest.raises(UserError) as err:
        load_manifest(m)
    assert says in str(err.value) and str(err.value).startswith(f"{m}:{line}: "), str(err.value)


def test_a_manifest_of_local_folders_and_hub_snapshot_folders(hub, tmp_path):
    """Entries may be folders (relative to the manifest); a folder inside a hub cache reports its commit."""
    snap = hub["cache"] / "models--uni--xlmr-squad" / "snapshots" / sha("qa")
    (tmp_path / "local").mkdir()
    shutil.copytree(hub["root"] / "ner", tmp_path / "local" / "ner")
    m = manifest(tmp_path / "local" / "m.yaml", f"panx: {{model: ./ner, label_map: {{B-MISC: O, I-MISC: O}}}}\n"
                                                f"xquad: {{model: {snap}}}\n")
    out = tmp_path / "out"
    proc = run(hub, "eval", "--model", m, "--tasks", "panx,xquad", "--languages", "de", "--data-dir", hub["data"],
               "--output", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-1500:]
    tasks = json.loads((out / "results.json").read_text())["model"]["tasks"]
    assert tasks["panx"]["commit"] is None and tasks["panx"]["path"] == str(tmp_path / "local" / "ner")
    assert tasks["xquad"]["commit"] == sha("qa")
