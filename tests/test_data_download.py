"""``xtreme-data``: the download/ layout from hub datasets, through the real huggingface_hub code, offline.

The hub cache is built here in the layout ``huggingface_hub`` writes (``datasets--org--name/refs/<rev>``,
``snapshots/<sha>/<files>``), holding small parquet files written by ``datasets`` (so they carry the
``huggingface`` schema metadata real hub files carry, ClassLabel names included) in the repositories' own
layouts: ``<config>/<split>-00000-of-00001.parquet`` on a repository's main branch, ``<config>/<split>/0000.parquet``
on a ``refs/convert/parquet`` branch. Every command runs in a fresh process with ``HF_HUB_CACHE`` pointing at it
and ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SHARED_DATA, need
from tiny import NER, build_suite

NLI = ["entailment", "neutral", "contradiction"]


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # 40 hex digits, like a commit


def parquet(path: Path, columns: dict, features: dict | None = None) -> None:
    """A parquet file as the hub holds it: written by datasets (schema metadata included) or bare pyarrow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if features is None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), path)
        return
    import datasets

    datasets.disable_progress_bars()
    datasets.Dataset.from_dict(columns, features=datasets.Features(features)).to_parquet(str(path))


def add_repo(cache: Path, repo: str, files: dict[str, tuple], commit: str, ref: str | None = "main") -> Path:
    base = cache / ("datasets--" + repo.replace("/", "--"))
    snap = base / "snapshots" / commit
    for rel, spec in files.items():
        if isinstance(spec, str):
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            (snap / rel).write_text(spec)
        else:
            parquet(snap / rel, *spec)
    if ref:
        (base / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (base / "refs" / ref).write_text(commit)
    return snap


# --- the repositories, in small ----------------------------------------------------------------

def f_nli():
    import datasets as d
    return {"premise": d.Value("string"), "hypothesis": d.Value("string"), "label": d.ClassLabel(names=NLI)}


def xnli_rows(lang: str, split: str, n: int, tag: str = ""):
    premises = [f"{lang} {split}{tag} premise {i} ." for i in range(n)]
    premises[0] = f' "{lang}," she said{tag}. '  # a leading quote and edge spaces: quoted by csv, stripped
    return {"premise": premises, "hypothesis": [f"{lang} hypothesis {i}" for i in range(n)],
            "label": [i % 3 for i in range(n)]}


def f_ner():
    import datasets as d
    return {"tokens": d.Sequence(d.Value("string")), "ner_tags": d.Sequence(d.ClassLabel(names=NER)),
            "langs": d.Sequence(d.Value("string")), "spans": d.Sequence(d.Value("string"))}


def ner_rows(lang: str, split: str, n: int):
    tokens = [[f"{lang}{split}{i}", "Berlin", "lebt", "."] for i in range(n)]
    tags = [[1, 5, 0, 0] if i % 2 else [0, 3, 4, 0] for i in range(n)]
    return {"tokens": tokens, "ner_tags": tags, "langs": [[lang] * 4 for _ in range(n)],
            "spans": [["PER: x"] for _ in range(n)]}


def f_qa(title: bool = True):
    import datasets as d
    out = {"id": d.Value("string"), "context": d.Value("string"), "question": d.Value("string"),
           "answers": d.Sequence({"text": d.Value("string"), "answer_start": d.Value("int32")})}
    if title:
        out["title"] = d.Value("string")
    return out


def qa_rows(lang: str, n: int, prefix: str = "", title: bool = True):
    rows = {"id": [f"{prefix}{lang}-q{i}" for i in range(n)],
            "context": [f"Anna lives in City{i} since {2000 + i} ." for i in range(n)],
            "question": [f"Where does Anna live ({i})?" for i in range(n)],
            "answers": [{"text": [f"City{i}"], "answer_start": [14]} for i in range(n)]}
    # google/xtreme strips contexts without moving offsets: this answer_start is 2 past its text
    rows["answers"][0] = {"text": ["City0"], "answer_start": [16]}
    if title:
        rows["title"] = [f"T{i // 2}" for i in range(n)]
    return rows


TATOEBA_XX = ["Das ist gut.\n", "Ich bin hier.\n", "Wo ist es?\n", "Zwei Katzen.\n", "Ja.\n"]
TATOEBA_EN = ["That is good.\n", "I am here.\n", " Where is it?\n", "Two cats.\n", "Yes.\n"]


def f_copa(changed: bool):
    import datasets as d
    out = {"premise": d.Value("string"), "choice1": d.Value("string"), "choice2": d.Value("string"),
           "question": d.Value("string"), "label": d.Value("int32"), "idx": d.Value("int32")}
    if changed:
        out["changed"] = d.Value("bool")
    return out


def copa_rows(lang: str, n: int, changed: bool):
    rows = {"premise": [f"{lang} premise {i}" for i in range(n)], "choice1": [f"c1 {i}" for i in range(n)],
            "choice2": [f"c2 {i}" for i in range(n)], "question": ["cause", "effect"] * (n // 2) + ["cause"] * (n % 2),
            "label": [i % 2 for i in range(n)], "idx": list(range(n))}
    if changed:
        rows["changed"] = [False] * n
    return rows


def shard(config: str, split: str) -> str:
    return f"{config}/{split}-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    import datasets as d

    root = tmp_path_factory.mktemp("hub")
    cache = root / "cache"
    n = {"validation": 4, "test": 6, "train": 8}
    # facebook/xnli: two commits of main (the old one only reachable by --revision)
    for commit, tag, ref in ((sha("xnli-old"), " (old)", None), (sha("xnli-new"), "", "main")):
        files = {shard(lang, s): (xnli_rows(lang, s, n[s], tag), f_nli())
                 for lang in ("de", "en", "fr") for s in ("validation", "test")}
        files[shard("en", "train")] = (xnli_rows("en", "train", n["train"], tag), f_nli())
        add_repo(cache, "facebook/xnli", files, commit, ref)
    # google-research-datasets/paws-x, written by bare pyarrow: integer labels, no ClassLabel metadata
    files = {}
    for lang in ("de", "en"):
        for s in ("validation", "test", "train"):
            if s == "train" and lang != "en":
                continue
            k = n[s]
            files[shard(lang, s)] = ({"id": list(range(k)), "sentence1": [f"{lang} a {i}" for i in range(k)],
                                      "sentence2": [f"{lang} b {i}" for i in range(k)],
                                      "label": [i % 2 for i in range(k)]},)
    add_repo(cache, "google-research-datasets/paws-x", files, sha("paws"))
    files = {shard(lang, s): (ner_rows(lang, s, n[s]), f_ner())
             for lang in ("de", "en") for s in ("validation", "test")}
    files[shard("en", "train")] = (ner_rows("en", "train", n["train"]), f_ner())
    add_repo(cache, "unimelb-nlp/wikiann", files, sha("wikiann"))
    tatoeba = {"source_sentence": TATOEBA_XX, "target_sentence": TATOEBA_EN,
               "source_lang": ["deu"] * 5, "target_lang": ["eng"] * 5}
    f_str = {k: d.Value("string") for k in tatoeba}
    files = {shard("tatoeba.deu", "validation"): (tatoeba, f_str)}
    for lang in ("de", "en"):
        files[shard(f"XQuAD.{lang}", "validation")] = (qa_rows(lang, 3, title=False), f_qa(title=False))
        for s in ("validation", "test"):
            files[shard(f"MLQA.{lang}.{lang}", s)] = (qa_rows(lang, 3 if s == "validation" else 5), f_qa())
    tydi = {k: qa_rows("x", 2, "english-")[k] + qa_rows("x", 3, "arabic-")[k] for k in qa_rows("x", 1)}
    files[shard("tydiqa", "validation")] = (tydi, f_qa())
    files[shard("tydiqa", "train")] = (qa_rows("x", 4, "english-"), f_qa())
    add_repo(cache, "google/xtreme", files, sha("xtreme"))
    squad = {k: qa_rows("en", 4)[k] for k in qa_rows("en", 1)}
    squad["answers"][0] = {"text": ["City0"], "answer_start": [14]}  # rajpurkar/squad keeps offsets right
    add_repo(cache, "rajpurkar/squad", {shard("plain_text", "train"): (squad, f_qa()),
                                        shard("plain_text", "validation"): (squad, f_qa())}, sha("squad"))
    # cambridgeltl/xcopa: main holds a loading script only; the parquet files are on refs/convert/parquet
    add_repo(cache, "cambridgeltl/xcopa", {"xcopa.py": "# loading script\n"}, sha("xcopa-main"))
    add_repo(cache, "cambridgeltl/xcopa", {f"et/{s}/0000.parquet": (copa_rows("et", 4 if s == "validation" else 10,
                                                                              True), f_copa(True))
                                           for s in ("validation", "test")}, sha("xcopa-parquet"),
             "refs/convert/parquet")
    add_repo(cache, "aps/super_glue", {shard("copa", s): (copa_rows("en", 6, False), f_copa(False))
                                       for s in ("train", "validation")}, sha("superglue"))
    return {"cache": cache, "root": root}


def env_for(hub, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XTREME_DATA_DIR",)}
    env.update(HF_HUB_CACHE=str(hub["cache"]), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    env.update(extra)
    return env


def run(hub, *args, cwd=None, command="data"):
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", command, *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or hub["root"], env=env_for(hub))


def one_line_error(proc, code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def manifest_of(dest: Path) -> dict:
    return json.loads((dest / "MANIFEST.json").read_text())


def files_under(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} - {"MANIFEST.json", ".lock"}


def tree_state(folder: Path) -> dict:
    """Every file's mtime and inode (the lock file, rewritten by every run, aside)."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


# --- download -----------------------------------------------------------------------------------

def test_download_writes_xtremes_layout_and_a_manifest(hub, tmp_path):
    dest = tmp_path / "download"
    proc = run(hub, "download", "--tasks", "xnli,panx,tatoeba,pawsx", "--languages", "de,en", "--dest", dest,
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "facebook/xnli @ " + sha("xnli-new") in proc.stdout
    expected = {"xnli/dev-de.tsv", "xnli/test-de.tsv", "xnli/labels/test-de.tsv", "xnli/dev-en.tsv",
                "xnli/test-en.tsv", "xnli/labels/test-en.tsv", "xnli/train-en.tsv",
                "pawsx/dev-de.tsv", "pawsx/test-de.tsv", "pawsx/labels/test-de.tsv", "pawsx/dev-en.tsv",
                "pawsx/test-en.tsv", "pawsx/labels/test-en.tsv", "pawsx/train-en.tsv",
                "panx/dev-de.tsv", "panx/test-de.tsv", "panx/labels/test-de.tsv", "panx/dev-en.tsv",
                "panx/test-en.tsv", "panx/labels/test-en.tsv", "panx/train-en.tsv",
                "tatoeba/de-en.de", "tatoeba/de-en.en", "tatoeba/labels/test-de.tsv"}
    assert files_under(dest) == expected
    # XNLI as XTREME's utils_preprocess.py writes it: csv with CRLF, fields stripped, a quote-bearing field
    # quoted; test files without labels, the gold apart
    dev = (dest / "xnli/dev-de.tsv").read_bytes()
    assert dev.startswith(b'"""de,"" she said."\tde hypothesis 0\tentailment\r\n')
    assert dev.count(b"\r\n") == 4
    test = list(csv.reader(io.StringIO((dest / "xnli/test-de.tsv").read_bytes().decode()), delimiter="\t"))
    assert test[0] == ['"de," she said.', "de hypothesis 0"] and all(len(r) == 2 for r in test) and len(test) == 6
    assert (dest / "xnli/labels/test-de.tsv").read_text().split() == [NLI[i % 3] for i in range(6)]
    assert len((dest / "xnli/train-en.tsv").read_bytes().split(b"\r\n")) == 9
    # PAWS-X from bare parquet: integer labels are the label strings "0"/"1"
    assert (dest / "pawsx/labels/test-de.tsv").read_text().split() == ["0", "1", "0", "1", "0", "1"]
    # PAN-X: token<TAB>tag, a blank line between sentences; test tokens only and the gold apart
    panx = (dest / "panx/dev-de.tsv").read_text()
    assert panx.startswith("devalidation0\tO\nBerlin\tB-ORG\nlebt\tI-ORG\n.\tO\n\ndevalidation1\tB-PER\n")
    assert not panx.endswith("\n\n")
    assert (dest / "panx/test-de.tsv").read_text().startswith("detest0\nBerlin\nlebt\n.\n\n")
    assert (dest / "panx/labels/test-de.tsv").read_text().startswith("O\nB-ORG\nI-ORG\nO\n\nB-PER\nB-LOC\nO\nO\n\n")
    # Tatoeba as XTREME's tatoeba_preprocess: the xx side as is, the English side stripped and sorted, and the
    # gold permutation in the harness's orientation (sorted English line j -> its xx line)
    assert (dest / "tatoeba/de-en.de").read_text() == "".join(TATOEBA_XX)
    en_sorted = sorted(s.strip() for s in TATOEBA_EN)
    assert (dest / "tatoeba/de-en.en").read_text() == "".join(f"{s}\n" for s in en_sorted)
    gold = [int(x) for x in (dest / "tatoeba/labels/test-de.tsv").read_text().split()]
    assert [TATOEBA_EN[i].strip() for i in gold] == en_sorted
    # MANIFEST.json: schema, version, and per file its source, resolved revision, sha256 and size
    m = manifest_of(dest)
    assert m["schema"] == "xtreme-harness/data-manifest/v1" and m["harness_version"]
    entries = {e["path"]: e for e in m["files"]}
    assert set(entries) == expected
    e = entries["xnli/labels/test-de.tsv"]
    assert (e["repo"], e["config"], e["split"], e["revision"]) == ("facebook/xnli", "de", "test", sha("xnli-new"))
    assert e["source_files"] == ["de/test-00000-of-00001.parquet"]
    for rel, e in entries.items():
        data = (dest / rel).read_bytes()
        assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["bytes"] == len(data), rel
    assert entries["tatoeba/de-en.en"]["repo"] == "google/xtreme"
    assert entries["tatoeba/de-en.en"]["config"] == "tatoeba.deu"
    assert entries["panx/train-en.tsv"]["revision"] == sha("wikiann")
    # verify agrees, and the hub cache holds no half-downloaded file
    ok = run(hub, "verify", "--dest", dest)
    assert ok.returncode == 0 and f"{len(expected)} file(s)" in ok.stdout, ok.stderr
    assert not list(hub["cache"].rglob("*.incomplete"))


def test_qa_files_keep_answers_and_point_them_at_their_text(hub, tmp_path):
    dest = tmp_path / "d"
    proc = run(hub, "download", "--tasks", "xquad,mlqa,tydiqa", "--languages", "de,en", "--dest", dest,
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert files_under(dest) == {
        "xquad/xquad.de.json", "xquad/xquad.en.json", "squad/train-v1.1.json", "squad/dev-v1.1.json",
        "mlqa/MLQA_V1/dev/dev-context-de-question-de.json", "mlqa/MLQA_V1/test/test-context-de-question-de.json",
        "mlqa/MLQA_V1/dev/dev-context-en-question-en.json", "mlqa/MLQA_V1/test/test-context-en-question-en.json",
        "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json",
        "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json"}
    from xtreme_harness.formats.squad import read_squad

    xq = read_squad(dest / "xquad/xquad.de.json")  # the harness's own reader checks every offset
    assert [ex.answers[0].start for ex in xq] == [14, 14, 14]
    entries = {e["path"]: e for e in manifest_of(dest)["files"]}
    assert "1 answer offset(s) re-pointed" in entries["xquad/xquad.de.json"]["note"]
    tydi = read_squad(dest / "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json")
    assert [ex.id for ex in tydi] == ["english-x-q0", "english-x-q1"]  # the English rows only
    doc = json.loads((dest / "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json").read_text())
    assert doc["version"] == "TyDiQA-GoldP-1.1-for-SQuAD-1.1"
    squad = json.loads((dest / "squad/train-v1.1.json").read_text())
    assert squad["version"] == "1.1" and [a["title"] for a in squad["data"]] == ["T0", "T1"]
    assert len(read_squad(dest / "squad/train-v1.1.json")) == 4
    assert len(read_squad(dest / "mlqa/MLQA_V1/test/test-context-en-question-en.json")) == 5
    # TyDiQA has no German: asking for it alone is a mistake, said in one line
    proc = run(hub, "download", "--tasks", "tydiqa", "--languages", "de", "--dest", tmp_path / "x")
    assert one_line_error(proc).endswith("language(s) de are in none of the chosen tasks' language lists (xtreme)")


def test_a_second_run_downloads_and_writes_nothing(hub, tmp_path):
    dest = tmp_path / "download"
    args = ["download", "--tasks", "xnli,tatoeba", "--languages", "de,en", "--dest", dest, "--no-progress"]
    assert run(hub, *args).returncode == 0
    before, cache_before = tree_state(dest), tree_state(hub["cache"])
    manifest = (dest / "MANIFEST.json").read_bytes()
    proc = run(hub, *args)
    assert proc.returncode == 0, proc.stderr
    assert "0 file(s) written, 10 already here" in proc.stdout
    assert tree_state(dest) == before and (dest / "MANIFEST.json").read_bytes() == manifest
    assert tree_state(hub["cache"]) == cache_before
    # A file edited or removed since is made again, and only that one.
    (dest / "xnli/dev-de.tsv").write_text("edited\n")
    (dest / "tatoeba/labels/test-de.tsv").unlink()
    proc = run(hub, *args)
    assert "4 file(s) written, 6 already here" in proc.stdout  # dev-de, and the three tatoeba files together
    assert run(hub, "verify", "--dest", dest).returncode == 0
    # Offline with the hub cache gone, a complete folder is still complete.
    before = tree_state(dest)
    (tmp_path / "gone").mkdir()
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "data", *map(str, args)],
                          capture_output=True, text=True, env=env_for(hub, HF_HUB_CACHE=str(tmp_path / "gone")))
    assert proc.returncode == 0, proc.stderr
    assert "0 file(s) written, 10 already here" in proc.stdout
    assert "already here as MANIFEST.json records" in proc.stderr
    assert tree_state(dest) == before


def test_revision_pins_a_commit_and_the_manifest_says_which(hub, tmp_path):
    dest = tmp_path / "download"
    old = sha("xnli-old")
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--revision",
               f"facebook/xnli={old}", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "(old)" in (dest / "xnli/dev-de.tsv").read_text()
    assert {e["revision"] for e in manifest_of(dest)["files"]} == {old}
    # Unpinned, main resolves to the newer commit: the files are made again from it.
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--no-progress")
    assert "3 file(s) written" in proc.stdout and "(old)" not in (dest / "xnli/dev-de.tsv").read_text()
    assert {e["revision"] for e in manifest_of(dest)["files"]} == {sha("xnli-new")}
    # A commit the cache does not hold, offline: one line naming the repository and the revision.
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--revision",
               f"facebook/xnli={sha('nope')}")
    line = one_line_error(proc)
    assert f"facebook/xnli at revision '{sha('nope')}' is not in the local hub cache" in line
    assert "HF_HUB_OFFLINE is set" in line
    # A branch name: the refs/convert/parquet branch holds what a loading-script repository lacks.
    proc = run(hub, "download", "--tasks", "xcopa", "--version", "xtreme-r", "--languages", "et", "--dest",
               tmp_path / "r", "--no-progress")
    assert proc.returncode == 0
    assert "cambridgeltl/xcopa has no parquet files" in proc.stderr and "refs/convert/parquet" in proc.stderr
    proc = run(hub, "download", "--tasks", "xcopa", "--version", "xtreme-r", "--languages", "et", "--dest",
               tmp_path / "r", "--revision", "cambridgeltl/xcopa=refs/convert/parquet", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    test = [json.loads(x) for x in (tmp_path / "r/xcopa/test-et.jsonl").read_text().splitlines()]
    gold = [json.loads(x) for x in (tmp_path / "r/xcopa/labels/test-et.jsonl").read_text().splitlines()]
    assert {r["label"] for r in test} == {0} and [r["label"] for r in gold] == [i % 2 for i in range(10)]
    assert len((tmp_path / "r/xcopa/val-et.jsonl").read_text().splitlines()) == 4
    from xtreme_harness.families.multiple_choice import MultipleChoice
    from xtreme_harness.tasks.registry import registry

    spec = registry()["xcopa"]
    exs = MultipleChoice().read(spec, {"data": tmp_path / "r/xcopa/test-et.jsonl",
                                       "gold": tmp_path / "r/xcopa/labels/test-et.jsonl"}, "et", None)
    assert [ex.label for ex in exs] == [i % 2 for i in range(10)]


def test_verify_names_the_first_bad_file_and_lists_them_all(hub, tmp_path):
    dest = tmp_path / "download"
    assert run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--no-progress").returncode == 0
    with open(dest / "xnli/test-de.tsv", "ab") as f:
        f.write(b"x")
    (dest / "xnli/labels/test-de.tsv").unlink()
    proc = run(hub, "verify", "--dest", dest)
    line = one_line_error(proc)
    assert line.startswith(f"xtreme-data: error: {dest}/xnli/labels/test-de.tsv: missing; 2 of 3 files")
    assert "(1 missing, 1 changed or unreadable)" in line
    assert "BAD xnli/test-de.tsv: changed since download" in proc.stdout
    assert "BAD xnli/labels/test-de.tsv: missing" in proc.stdout
    # no manifest: one line saying where it comes from
    (tmp_path / "empty").mkdir()
    assert "no MANIFEST.json here" in one_line_error(run(hub, "verify", "--dest", tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/MANIFEST.json").write_text('{"files": 3}')
    assert "not an xtreme-data manifest" in one_line_error(run(hub, "verify", "--dest", tmp_path / "bad"))


def test_list_counts_what_is_on_disk_hand_copied_files_included(hub, tmp_path):
    dest = tmp_path / "download"
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de,en", "--dest", dest, "--no-progress")
    assert proc.returncode == 0
    (dest / "xnli/test-fr.tsv").write_text("a\tb\r\n")  # hand-copied, no labels
    proc = run(hub, "list", "--dest", dest, "--tasks", "xnli,bucc2018")
    assert proc.returncode == 0, proc.stderr
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert rows[("xnli", "de")] == ["-", "ok", "ok", "yes"]
    assert rows[("xnli", "en")] == ["ok", "ok", "ok", "yes"]
    assert rows[("xnli", "fr")] == ["-", "missing", "ok", "no"]
    assert rows[("xnli", "ar")] == ["-", "missing", "missing", "no"]
    assert "xnli: test files for 3 of 15 languages" in proc.stdout
    assert "bucc2018: test files for 0 of 4 languages; no public hub copy of BUCC 2018" in proc.stdout
    assert "MANIFEST.json: 7 files" in proc.stdout.splitlines()[0]


def test_no_public_copy_is_said_in_one_line(hub, tmp_path):
    line = one_line_error(run(hub, "download", "--tasks", "bucc2018", "--dest", tmp_path / "d"))
    assert line.startswith("xtreme-data: error: nothing to download: bucc2018: no public hub copy of BUCC 2018")
    assert "distractor" in line and not (tmp_path / "d").exists()
    line = one_line_error(run(hub, "download", "--tasks", "udpos,mewslix,lareqa", "--version", "xtreme-r",
                              "--dest", tmp_path / "d"))
    assert "udpos: no public hub copy of XTREME's UD-POS files" in line and "mewslix: no public hub copy" in line
    assert "lareqa: the hub copy (google-research-datasets/xquad_r) drops the sentence segmentation" in line
    # Among other tasks: one note each on stderr, the rest is written, exit 0.
    dest = tmp_path / "all"
    proc = run(hub, "download", "--tasks", "all", "--languages", "de,en", "--dest", dest, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("xtreme-data: note:")]
    assert sorted(n.split(":")[2].strip() for n in notes if "no public hub copy" in n) == ["bucc2018", "udpos"]
    assert not (dest / "bucc2018").exists() and not (dest / "udpos").exists()
    assert {p.split("/")[0] for p in files_under(dest)} == {"xnli", "pawsx", "panx", "tatoeba", "xquad", "mlqa",
                                                            "tydiqa", "squad"}
    # languages a repository lacks are said once per task, not once per file
    proc = run(hub, "download", "--tasks", "panx", "--dest", tmp_path / "panx", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    (line,) = [n for n in proc.stderr.splitlines() if "has no files" in n]
    assert line.startswith("xtreme-data: note: panx: unimelb-nlp/wikiann has no files at ")
    assert " for ar, he, vi, id, " in line and ", de," not in line


def test_bad_input_is_one_line_and_exit_2(hub, tmp_path):
    cases = [
        (["download", "--tasks", "xnli,nope"], "unknown task 'nope'"),
        (["download", "--tasks", "xnli", "--revision", "facebook/xnli"], "is not REPO=SHA"),
        (["download", "--tasks", "xnli", "--revision", "acme/other=" + sha("x")],
         "'acme/other', which xtreme-data does not download from"),
        (["download", "--tasks", "xnli", "--revision", "facebook/xnli=not a sha"], "neither a commit sha"),
        (["download", "--tasks", "xnli", "--revision", f"facebook/xnli={sha('a')}", "--revision",
          f"facebook/xnli={sha('b')}"], "pins facebook/xnli twice"),
        (["download", "--tasks", "xnli", "--languages", "xx"], "language(s) xx are in none"),
        (["download", "--tasks", "xnli", "--version", "xtreme-s"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ]
    for args, expected in cases:
        line = one_line_error(run(hub, *args, "--dest", tmp_path / "d") if args and args[0] == "download" else
                              run(hub, *args))
        assert expected in line, (args, line)
    (tmp_path / "file").write_text("x")
    line = one_line_error(run(hub, "download", "--tasks", "xnli", "--dest", tmp_path / "file"))
    assert line == f"xtreme-data: error: {tmp_path / 'file'}: --dest must be a folder; found a file"
    line = one_line_error(run(hub, "download", "--tasks", "xnli", "--dest", tmp_path / "file" / "sub"))
    assert "--dest: a component of the path is a file, not a folder" in line
    assert "--dest is not a folder" in one_line_error(run(hub, "verify", "--dest", tmp_path / "file"))
    # A repository missing from the cache, offline: one line, nothing half-written.
    empty = tmp_path / "emptycache"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "data", "download", "--tasks", "panx",
                           "--languages", "de", "--dest", tmp_path / "p"], capture_output=True, text=True,
                          env=env_for(hub, HF_HUB_CACHE=str(empty)))
    line = one_line_error(proc)
    assert "unimelb-nlp/wikiann at revision 'main' is not in the local hub cache" in line
    assert files_under(tmp_path / "p") == set()


def test_hand_copied_files_are_kept_unless_forced(hub, tmp_path):
    dest = tmp_path / "download"
    (dest / "xnli").mkdir(parents=True)
    (dest / "xnli/dev-de.tsv").write_text("XTREME's own file\n")
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--no-progress")
    assert proc.returncode == 0
    assert "xnli/dev-de.tsv is present but not recorded in MANIFEST.json" in proc.stderr
    assert (dest / "xnli/dev-de.tsv").read_text() == "XTREME's own file\n"
    assert "xnli/dev-de.tsv" not in {e["path"] for e in manifest_of(dest)["files"]}
    proc = run(hub, "download", "--tasks", "xnli", "--languages", "de", "--dest", dest, "--force", "--no-progress")
    assert proc.returncode == 0 and "1 file(s) written" in proc.stdout
    assert run(hub, "verify", "--dest", dest).returncode == 0


def test_a_run_failing_half_way_leaves_the_manifest_true(hub, tmp_path, monkeypatch):
    """The disk fills while the fourth file is written: no temporary file stays, and MANIFEST.json lists exactly
    the files that are there."""
    import errno

    import huggingface_hub.constants

    from xtreme_harness import download as dl
    from xtreme_harness.io import files as xio

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    calls = {"n": 0}
    real = xio.atomic_write_bytes

    def full_disk(path, data):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(dl, "atomic_write_bytes", full_disk)
    dest = tmp_path / "download"
    with pytest.raises(OSError):
        dl.download(dest, "xnli", languages="de,en", progress=False, cache_dir=str(hub["cache"]),
                    say=lambda m: None, note=lambda m: None)
    listed = {e["path"] for e in manifest_of(dest)["files"]}
    assert listed == files_under(dest) and len(listed) == 3
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(dl, "atomic_write_bytes", real)
    report = dl.download(dest, "xnli", languages="de,en", progress=False, cache_dir=str(hub["cache"]),
                         say=lambda m: None, note=lambda m: None)
    assert len(report.kept) == 3 and len(report.written) == 4


def test_help_shows_defaults_and_version_names_the_libraries(hub):
    proc = run(hub, "download", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for default in ("(default: all)", "(default: xtreme)", "(default: download)", "(default: each repository's main"):
        assert default in text, default
    proc = run(hub, "--version")
    assert proc.returncode == 0 and re.match(r"xtreme-data \d+\.\d+", proc.stdout)
    for lib in ("torch", "transformers", "datasets", "lm-eval", "huggingface_hub"):
        assert lib in proc.stdout


# --- the headline: an empty folder, two commands -------------------------------------------------

def test_from_an_empty_folder_to_scores_in_two_commands(hub, tmp_path):
    suite = build_suite(tmp_path / "suite", ["xnli", "panx"])
    work = tmp_path / "work"
    work.mkdir()
    proc = run(hub, "download", "--tasks", "xnli,panx", "--languages", "de,en", "--no-progress", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "download/MANIFEST.json").is_file()
    proc = run(hub, "--model", suite, "--tasks", "xnli,panx", "--no-progress", cwd=work, command="eval")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = work / "xtreme-results" / "suite-xtreme"  # the default --output: the model's name and the benchmark
    assert f"results: xtreme-results/suite-xtreme/results.json" in proc.stdout
    res = json.loads((out / "results.json").read_text())
    assert Path(res["config"]["data_dir"]).name == "download"
    for task in ("xnli", "panx"):
        assert set(res["tasks"][task]["n"]) == {"de", "en"}, res["tasks"][task]
        assert res["tasks"][task]["avg_metric"] >= 0
    assert res["tasks"]["xnli"]["n"] == {"de": 6, "en": 6}
    assert len((out / "predictions/xnli/test-de.tsv").read_text().splitlines()) == 6
    assert (out / "predictions/panx/test-de.tsv").read_text().count("\n\n") >= 5
    # without a data folder, xtreme-eval says how to get one
    (work / "elsewhere").mkdir()
    line = one_line_error(run(hub, "--model", suite, "--tasks", "xnli", cwd=work / "elsewhere", command="eval"))
    assert "no data folder" in line and "xtreme-data download" in line and "--data-dir" in line


# --- the README's commands -----------------------------------------------------------------------

def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Getting the data", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line.split("  #")[0].strip() for line in block.strip("\n").splitlines() if line.strip()]


def test_the_readme_commands_run(hub, tmp_path):
    commands = readme_block()
    assert any(c.startswith("xtreme-data download") for c in commands)
    assert any(c.startswith("xtreme-data verify") for c in commands)
    assert any(c.startswith("xtreme-data list") for c in commands)
    assert any(c.startswith("xtreme-eval") for c in commands)
    work = tmp_path / "work"
    work.mkdir()
    build_suite(work / "ckpt", ["xnli", "panx"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("xtreme-data", "data"), ("xtreme-eval", "eval")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xtreme_harness.cli_entry {command} "$@"\n')
        shim.chmod(0o755)
    env = env_for(hub, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (command, proc.stdout[-1500:], proc.stderr[-1500:])
    assert (work / "xtreme-results/ckpt-xtreme/results.json").is_file()


# --- against XTREME's own files (../shared/data) ------------------------------------------------

@pytest.mark.shared
def test_the_files_are_byte_identical_to_xtremes(tmp_path):
    """Rows made from XTREME-processed files (and from LASER's originals for Tatoeba) go through the hub path
    and come out byte for byte as XTREME's download_data.sh writes them."""
    data = need(SHARED_DATA)
    import datasets as d

    cache = tmp_path / "cache"
    files = {}
    rows = list(csv.reader(io.StringIO((data / "xnli/dev-de.tsv").read_bytes().decode("utf-8"), newline=""),
                           delimiter="\t"))
    files["facebook/xnli"] = {shard("de", "validation"): ({"premise": [r[0] for r in rows],
                                                           "hypothesis": [r[1] for r in rows],
                                                           "label": [NLI.index(r[2]) for r in rows]}, f_nli())}
    sents = [s for s in (data / "panx/dev-de.tsv").read_text(encoding="utf-8").split("\n\n") if s.strip()]
    pairs = [[line.split("\t") for line in s.splitlines()] for s in sents]
    files["unimelb-nlp/wikiann"] = {shard("de", "validation"): (
        {"tokens": [[w for w, _ in p] for p in pairs], "ner_tags": [[NER.index(t) for _, t in p] for p in pairs],
         "langs": [["de"] * len(p) for p in pairs], "spans": [[] for _ in pairs]}, f_ner())}
    xx = (data / "tatoeba/original/tatoeba.deu-eng.deu").read_text(encoding="utf-8").splitlines(keepends=True)
    en = (data / "tatoeba/original/tatoeba.deu-eng.eng").read_text(encoding="utf-8").splitlines(keepends=True)
    tatoeba = {"source_sentence": xx, "target_sentence": en, "source_lang": ["deu"] * len(xx),
               "target_lang": ["eng"] * len(xx)}
    files["google/xtreme"] = {shard("tatoeba.deu", "validation"): (tatoeba, {k: d.Value("string") for k in tatoeba})}
    for repo, repo_files in files.items():
        add_repo(cache, repo, repo_files, sha(repo))
    dest = tmp_path / "download"
    for task in ("xnli", "panx", "tatoeba"):
        proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "data", "download", "--tasks", task,
                               "--languages", "de", "--dest", dest, "--no-progress"], capture_output=True, text=True,
                              env=env_for({"cache": cache}))
        assert proc.returncode == 0, proc.stderr
    for rel in ("xnli/dev-de.tsv", "panx/dev-de.tsv", "tatoeba/de-en.de", "tatoeba/de-en.en",
                "tatoeba/labels/test-de.tsv"):
        assert (dest / rel).read_bytes() == (data / rel).read_bytes(), rel
