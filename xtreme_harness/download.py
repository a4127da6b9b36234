"""``xtreme-data``: XTREME's ``download/`` folder, built from public dataset repositories on the Hugging Face hub.

``xtreme-data download`` fetches parquet files through ``huggingface_hub`` (the
user's hub cache, a progress bar per file, resumable ``.incomplete`` files,
``HF_HUB_OFFLINE`` honoured) and converts them into the files XTREME's
``scripts/download_data.sh`` writes, at the paths the task specs' ``splits``
name, so that ``xtreme-eval --data-dir DEST`` reads them as they are. Gold
labels that XTREME keeps apart from a test file go to the spec's ``gold:``
path. Every written file is recorded in ``DEST/MANIFEST.json`` (repository,
config, split, source files, resolved commit, sha256, bytes); a rerun skips
what the manifest already describes, ``verify`` re-hashes, and ``list`` shows
per task and language what the specs' file lists find on disk.

Where no public hub copy holds what XTREME evaluates on (BUCC with its
distractors, Mewsli-X, LAReQA's sentence segmentation, XTREME's UD-POS files),
nothing is written and one line says why: a figure computed on a stand-in
would not be comparable.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import fnmatch
import hashlib
import io
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .io.errors import UserError, clip, os_error
from .io.files import (
    atomic_write_bytes,
    atomic_write_json,
    folder_lock,
    output_path,
    read_text,
    remove_stale_temps,
)
from .io.jsonfile import parse_json
from .io.version import __version__, versions_line

MANIFEST = "MANIFEST.json"
SCHEMA = "xtreme-harness/data-manifest/v1"
VERSIONS = ("xtreme", "xtreme-r")


# --- where the data comes from ------------------------------------------------------------------

@dataclass(frozen=True)
class Repo:
    id: str
    licence: str
    holds: str


REPOS: dict[str, Repo] = {r.id: r for r in (
    Repo("facebook/xnli", "CC BY-NC 4.0 (XNLI); its English train split is MultiNLI (OANC and other sources, "
         "see the MultiNLI data description)",
         "XNLI dev/test (read with quoting off, as XTREME reads XNLI-1.0) and the English MultiNLI train file "
         "XNLI-MT 1.0 ships, the very file XTREME converts"),
    Repo("google-research-datasets/paws-x", "PAWS-X terms: may be freely used for any purpose (acknowledging "
         "Google LLC as the source appreciated)", "PAWS-X dev/test per language and the English train file"),
    Repo("unimelb-nlp/wikiann", "not stated on the card (WikiANN, Pan et al. 2017, with the Rahimi et al. 2019 "
         "splits)", "PAN-X (WikiANN with the splits XTREME uses), every XTREME and XTREME-R language"),
    Repo("google/xtreme", "per dataset: XQuAD CC BY-SA 4.0, MLQA CC BY-SA 3.0, TyDiQA Apache 2.0, Tatoeba "
         "CC BY 2.0 FR", "XQuAD, MLQA, TyDiQA-GoldP and Tatoeba (LASER's v1 test sets)"),
    Repo("rajpurkar/squad", "CC BY-SA 4.0", "SQuAD v1.1 train and dev (the English QA training data)"),
    Repo("cambridgeltl/xcopa", "CC BY 4.0", "XCOPA val/test (XTREME-R)"),
    Repo("aps/super_glue", "COPA: BSD 2-Clause", "English COPA train/val (XTREME-R's xcopa/train-en.jsonl)"),
)}

# What XTREME evaluates on but no public hub repository holds in a usable form.
UNAVAILABLE = {
    "bucc2018": "no public hub copy of BUCC 2018 with its distractor sentences (google/xtreme's bucc18 configs "
                "hold only the gold pairs, and mining among gold pairs alone is not XTREME's task); get it with "
                "XTREME's scripts/download_data.sh (download_bucc18)",
    "mewslix": "no public hub copy of Mewsli-X; XTREME-R's scripts/download_data.sh (download_mewslix) builds it "
               "from Wikinews and Wikidata",
    "lareqa": "the hub copy (google-research-datasets/xquad_r) drops the sentence segmentation (sentences, "
              "sentence_breaks) LAReQA's candidates are made of; get XQuAD-R from "
              "github.com/google-research-datasets/lareqa",
    "udpos": "no public hub copy of XTREME's UD-POS files: google/xtreme's udpos configs merge every UD v2.5 "
             "treebank whose folder name contains the language's name (UD_Old_French into French, "
             "UD_Ancient_Greek into Greek, UD_Hindi_English into English and Hindi, ...) and keep syntactic words "
             "where XTREME writes the fused multiword token; build them with XTREME's scripts/download_data.sh "
             "(download_udpos)",
}


@dataclass(frozen=True)
class Table:
    """One split of one config of a hub repository: the parquet shard(s) under the config's folder."""

    repo: str
    config: str
    split: str
    columns: tuple[str, ...] | None = None  # the columns read (None: all)

    def patterns(self) -> tuple[str, ...]:
        # The layouts the hub has used: <config>/<split>-00000-of-00001.parquet (a repository converted to
        # parquet), <config>/<split>/0000.parquet and <config>/<repo>-<split>.parquet (the refs/convert/parquet
        # branch, new and old).
        c, s = self.config, self.split
        return (f"{c}/{s}-*.parquet", f"{c}/{s}/*.parquet", f"{c}/*-{s}.parquet", f"{c}/{s}.parquet")

    @property
    def name(self) -> str:
        return f"{self.config}/{self.split}"


@dataclass
class Rows:
    """The rows of a table and the ClassLabel names its parquet metadata records."""

    table: Table
    rows: list[dict]
    files: list[str]
    classnames: dict[str, list[str]] = field(default_factory=dict)

    def where(self) -> str:
        return f"{self.table.repo}[{self.table.name}]"

    def col(self, row: dict, name: str) -> Any:
        if name not in row:
            raise UserError(f"{self.where()} has no column '{name}' (it has: {', '.join(sorted(row))}); the "
                            "repository's layout changed, pin an earlier commit with --revision")
        return row[name]

    def label(self, value: Any, column: str, default: Sequence[str]) -> str | None:
        """A ClassLabel id (or a label string) as its name; None for -1 (no label)."""
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            if value == -1:
                return None
            names = self.classnames.get(column) or list(default)
            if not 0 <= value < len(names):
                raise UserError(f"{self.where()}: label id {value} of column '{column}' is not one of "
                                f"0..{len(names) - 1}")
            return names[value]
        if isinstance(value, str):
            return value
        raise UserError(f"{self.where()}: label {clip(repr(value), 40)} of column '{column}' is not a label")


class NoRows(UserError):
    """The table is there but holds nothing for this language (TyDiQA's one table of all languages)."""


@dataclass
class Job:
    """One (task, language, split): the tables it reads and the files it writes."""

    task: str
    lang: str
    split: str
    tables: dict[str, Table]
    outputs: tuple[str, ...]
    build: Callable[[dict[str, Rows]], tuple[dict[str, bytes], str | None]]

    @property
    def repo(self) -> str:
        (repo,) = {t.repo for t in self.tables.values()}
        return repo

    def label(self) -> str:
        return f"{self.task} {self.lang} {self.split}"


# --- file formats, as XTREME's utils_preprocess.py writes them ---------------------------------------

def _tsv(rows: Iterable[Sequence[str]]) -> bytes:
    """csv.writer with a tab delimiter: CRLF line ends, fields with quotes quoted (as XTREME writes them)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _lines(values: Iterable[Any]) -> bytes:
    return "".join(f"{v}\n" for v in values).encode("utf-8")


def _conll(sentences: Iterable[Sequence[Sequence[str]]]) -> bytes:
    """One token per line (tab-joined columns), one empty line between sentences, none after the last."""
    return "\n".join("".join("\t".join(cols) + "\n" for cols in sent) for sent in sentences).encode("utf-8")


def _tag_labels(sentences: Iterable[Sequence[str]]) -> bytes:
    """A tagging labels file: one tag per token, an empty line after each sentence (evaluate.py's label files)."""
    return "".join("".join(f"{t}\n" for t in sent) + "\n" for sent in sentences).encode("utf-8")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _jsonl(records: Iterable[dict], ascii_only: bool = False) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records).encode("utf-8")


# --- converters ----------------------------------------------------------------------------------

NLI_NAMES = ("entailment", "neutral", "contradiction")  # facebook/xnli's ClassLabel order
PAWS_NAMES = ("0", "1")
NER_NAMES = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def _pairs(src: Rows, text_a: str, text_b: str, names: Sequence[str]) -> list[tuple[str, str, str | None]]:
    out = []
    for row in src.rows:
        label = src.label(src.col(row, "label"), "label", names)
        # XTREME: ' '.join(items[k].strip().split(' ')), i.e. the field stripped.
        out.append((str(src.col(row, text_a)).strip(), str(src.col(row, text_b)).strip(), label))
    return out


def _pair_builder(out: dict[str, str], text_a: str, text_b: str, names: Sequence[str], test: bool):
    def build(src: dict[str, Rows]):
        rows = _pairs(src["rows"], text_a, text_b, names)
        if any(label is None for *_, label in rows):
            raise UserError(f"{src['rows'].where()} has rows without a label; expected a label on every row")
        if test:  # XTREME writes test files without labels; the gold goes to the spec's labels file
            return {out["data"]: _tsv((a, b) for a, b, _ in rows), out["gold"]: _lines(l for *_, l in rows)}, None
        return {out["data"]: _tsv(rows)}, None
    return build


def _panx_builder(out: dict[str, str], test: bool):
    def build(src: dict[str, Rows]):
        rows = src["rows"]
        sents = []
        for row in rows.rows:
            tokens = [str(t).strip() for t in rows.col(row, "tokens")]  # XTREME strips each token
            tags = [rows.label(t, "ner_tags", NER_NAMES) for t in rows.col(row, "ner_tags")]
            if len(tags) != len(tokens) or any(t is None for t in tags):
                raise UserError(f"{rows.where()}: a sentence has {len(tokens)} tokens but {len(tags)} tags")
            sents.append((tokens, tags))
        if test:  # XTREME's panx_preprocess writes test tokens only
            return {out["data"]: _conll([(w,) for w in toks] for toks, _ in sents),
                    out["gold"]: _tag_labels(tags for _, tags in sents)}, None
        return {out["data"]: _conll(list(zip(toks, tags)) for toks, tags in sents)}, None
    return build


def _tatoeba_builder(out: dict[str, str]):
    """What XTREME's tatoeba_preprocess writes: the non-English side as is, the English side stripped and sorted
    (a stable sort), and the gold permutation the harness scores against (line j: the non-English line that
    translates sorted English line j)."""
    def build(src: dict[str, Rows]):
        rows = src["rows"]
        xx = [str(rows.col(r, "source_sentence")) for r in rows.rows]
        en = [str(rows.col(r, "target_sentence")) for r in rows.rows]
        if not xx:
            raise UserError(f"{rows.where()} has no sentences")
        # The hub rows are the lines of LASER's files as Python reads them, line ends included.
        data = "".join(s if s.endswith("\n") else s + "\n" for s in xx)
        stripped = [s.strip() for s in en]
        order = sorted(range(len(stripped)), key=lambda i: stripped[i])
        return {out["data"]: data.encode("utf-8"),
                out["english"]: _lines(stripped[i] for i in order),
                out["gold"]: _lines(order)}, None
    return build


def _answers(value: Any) -> list[dict]:
    if isinstance(value, dict):  # datasets' Sequence of a dict: a dict of lists
        texts, starts = value.get("text") or [], value.get("answer_start") or []
        return [{"answer_start": int(s), "text": str(t)} for t, s in zip(texts, starts)]
    if isinstance(value, list):
        return [{"answer_start": int(a["answer_start"]), "text": str(a["text"])} for a in value
                if isinstance(a, dict) and "text" in a and "answer_start" in a]
    return []


def _point(context: str, answers: list[dict], counts: dict[str, int]) -> list[dict]:
    """Answers whose ``answer_start`` points at their text. google/xtreme strips contexts and answer texts
    without moving the offsets; such an answer is re-pointed at the nearest occurrence of its text."""
    out = []
    for a in answers:
        text, start = a["text"], a["answer_start"]
        if not text:
            counts["dropped"] += 1
            continue
        if context[start:start + len(text)] != text:
            hits = [m.start() for m in re.finditer(re.escape(text), context)]
            if not hits:
                counts["dropped"] += 1
                continue
            start = min(hits, key=lambda h: (abs(h - start), h))
            counts["repointed"] += 1
        out.append({"answer_start": start, "text": text})
    return out


def _qa_note(counts: dict[str, int]) -> str | None:
    parts = []
    if counts["repointed"]:
        parts.append(f"{counts['repointed']} answer offset(s) re-pointed at their text (the hub copy strips "
                     "contexts and answers without moving offsets)")
    if counts["dropped"]:
        parts.append(f"{counts['dropped']} answer(s) whose text is not in the context left out")
    return "; ".join(parts) or None


def _qa_builder(out: str, version: str, prefix: str | None = None, keep_title: bool = True):
    """SQuAD v1.1 JSON with one article per question, the shape XTREME's remove_qa_test_annotations writes,
    answers kept (the harness scores QA from the data files)."""
    def build(src: dict[str, Rows]):
        rows = src["rows"]
        counts = {"repointed": 0, "dropped": 0}
        data = []
        for row in rows.rows:
            qid = str(rows.col(row, "id"))
            if prefix is not None and not qid.startswith(prefix):
                continue
            context = str(rows.col(row, "context"))
            qa = {"id": qid, "question": str(rows.col(row, "question")),
                  "answers": _point(context, _answers(rows.col(row, "answers")), counts)}
            article: dict[str, Any] = {}
            if keep_title and row.get("title"):
                article["title"] = str(row["title"])
            article["paragraphs"] = [{"context": context, "qas": [qa]}]
            data.append(article)
        if not data:
            raise NoRows(f"{rows.where()} has no questions" + (f" whose id starts with '{prefix}'" if prefix else ""))
        return {out: _json({"data": data, "version": version})}, _qa_note(counts)
    return build


def _squad_builder(out: str):
    """SQuAD v1.1 JSON rebuilt from rajpurkar/squad's rows: consecutive rows of one title are an article,
    consecutive rows of one context a paragraph (the hub copy keeps texts and offsets unchanged)."""
    def build(src: dict[str, Rows]):
        rows = src["rows"]
        counts = {"repointed": 0, "dropped": 0}
        data: list[dict] = []
        for row in rows.rows:
            title, context = str(rows.col(row, "title")), str(rows.col(row, "context"))
            if not data or data[-1]["title"] != title:
                data.append({"title": title, "paragraphs": []})
            paras = data[-1]["paragraphs"]
            if not paras or paras[-1]["context"] != context:
                paras.append({"context": context, "qas": []})
            paras[-1]["qas"].append({"answers": _point(context, _answers(rows.col(row, "answers")), counts),
                                     "question": str(rows.col(row, "question")), "id": str(rows.col(row, "id"))})
        if not data:
            raise UserError(f"{rows.where()} has no questions")
        return {out: _json({"data": data, "version": "1.1"})}, _qa_note(counts)
    return build


COPA_KEYS = ("premise", "choice1", "choice2", "question", "label", "idx")
QA_COLUMNS = ("id", "title", "context", "question", "answers")


def _copa_records(rows: Rows, keys: Sequence[str]) -> list[dict]:
    out = []
    for row in rows.rows:
        rec = {k: rows.col(row, k) for k in keys if k != "changed" or k in row}
        label = rec.get("label")
        if isinstance(label, str) and label.lstrip("-").isdigit():
            rec["label"] = int(label)
        if rec.get("label") == -1:
            raise UserError(f"{rows.where()} has items without a label; expected 0 or 1 on every item")
        out.append(rec)
    if not out:
        raise UserError(f"{rows.where()} has no items")
    return out


def _xcopa_builder(out: dict[str, str], test: bool, keys: Sequence[str]):
    def build(src: dict[str, Rows]):
        recs = _copa_records(src["rows"], keys)
        if test:  # XTREME-R's xcopa_preprocess sets every test label to 0; the gold goes to the labels file
            hidden = [{**r, "label": 0} for r in recs]
            return {out["data"]: _jsonl(hidden, ascii_only=True), out["gold"]: _jsonl(recs)}, None
        return {out["data"]: _jsonl(recs)}, None
    return build


# --- the plan: which tables make which files -------------------------------------------------------

def _paths(spec, lang: str, split: str) -> dict[str, str]:
    """The spec's files for (language, split), relative to the data folder, by role."""
    from .tasks.data import split_files

    return {role: Path(p).as_posix() for role, p in split_files(spec, Path(""), lang, split).items()
            if not role.startswith("pool:")}


def _job(spec, lang: str, split: str, table: Table, make) -> Job:
    """A job writing the spec's files for (language, split): its data file(s) and, where the spec names one,
    the labels file XTREME keeps apart."""
    paths = _paths(spec, lang, split)
    outputs = tuple(paths[r] for r in ("data", "english", "gold") if r in paths)
    return Job(spec.task, lang, split, {"rows": table}, outputs, make(paths))


def plan_task(spec, langs: list[str], with_train: bool) -> list[Job]:
    """The jobs of one task for the chosen languages (and its English training files when ``with_train``)."""
    task = spec.task
    jobs: list[Job] = []
    hf = spec.hf

    def cfg(lang: str) -> str:
        return hf.config.format(lang=lang, lang_name=hf.lang_names.get(lang, lang))

    if task in ("xnli", "pawsx"):
        repo, a, b, names = (("facebook/xnli", "premise", "hypothesis", NLI_NAMES) if task == "xnli" else
                             ("google-research-datasets/paws-x", "sentence1", "sentence2", PAWS_NAMES))
        cols = (a, b, "label")
        for lang in langs:
            jobs.append(_job(spec, lang, "dev", Table(repo, lang, "validation", cols),
                             lambda p: _pair_builder(p, a, b, names, test=False)))
            jobs.append(_job(spec, lang, "test", Table(repo, lang, "test", cols),
                             lambda p: _pair_builder(p, a, b, names, test=True)))
        if with_train:
            jobs.append(_job(spec, "en", "train", Table(repo, "en", "train", cols),
                             lambda p: _pair_builder(p, a, b, names, test=False)))
    elif task == "panx":
        repo, cols = "unimelb-nlp/wikiann", ("tokens", "ner_tags")
        for lang in langs:
            jobs.append(_job(spec, lang, "dev", Table(repo, lang, "validation", cols),
                             lambda p: _panx_builder(p, False)))
            jobs.append(_job(spec, lang, "test", Table(repo, lang, "test", cols), lambda p: _panx_builder(p, True)))
        if with_train:
            jobs.append(_job(spec, "en", "train", Table(repo, "en", "train", cols), lambda p: _panx_builder(p, False)))
    elif task == "tatoeba":
        for lang in langs:
            jobs.append(_job(spec, lang, "test", Table("google/xtreme", cfg(lang), "validation",
                                                       ("source_sentence", "target_sentence")), _tatoeba_builder))
    elif task == "xquad":
        for lang in langs:
            jobs.append(_job(spec, lang, "test", Table("google/xtreme", cfg(lang), "validation", QA_COLUMNS),
                             lambda p: _qa_builder(p["data"], "1.1")))
    elif task == "mlqa":
        for lang in langs:
            for split, hub in (("dev", "validation"), ("test", "test")):
                jobs.append(_job(spec, lang, split, Table("google/xtreme", cfg(lang), hub, QA_COLUMNS),
                                 lambda p: _qa_builder(p["data"], "1.0")))
    elif task == "tydiqa":
        version = "TyDiQA-GoldP-1.1-for-SQuAD-1.1"
        for lang in langs:  # XTREME's test split of TyDiQA-GoldP is the official dev file: one file serves both
            prefix = f"{hf.lang_names.get(lang, lang)}-"
            jobs.append(_job(spec, lang, "dev", Table("google/xtreme", cfg(lang), "validation", QA_COLUMNS),
                             lambda p, prefix=prefix: _qa_builder(p["data"], version, prefix, keep_title=False)))
        if with_train:
            prefix = f"{hf.lang_names.get('en', 'en')}-"
            jobs.append(_job(spec, "en", "train", Table("google/xtreme", cfg("en"), "train", QA_COLUMNS),
                             lambda p: _qa_builder(p["data"], version, prefix, keep_title=False)))
    elif task == "xcopa":
        repo = "cambridgeltl/xcopa"
        keys = (*COPA_KEYS, "changed")
        for lang in langs:
            jobs.append(_job(spec, lang, "dev", Table(repo, lang, "validation", keys),
                             lambda p: _xcopa_builder(p, False, keys)))
            jobs.append(_job(spec, lang, "test", Table(repo, lang, "test", keys),
                             lambda p: _xcopa_builder(p, True, keys)))
        if with_train:  # XTREME-R's download_xcopa: SuperGLUE's COPA/{train,val}.jsonl as {train,val}-en.jsonl
            for split, hub in (("train", "train"), ("dev", "validation")):
                paths = _paths(spec, "en", split)
                jobs.append(Job(task, "en", split, {"rows": Table("aps/super_glue", "copa", hub, COPA_KEYS)},
                                (paths["data"],), _xcopa_builder(paths, False, COPA_KEYS)))
    if task in ("xquad", "mlqa") and with_train:
        for split, hub, path in (("train", "train", spec.train_source.get("path", "squad/train-v1.1.json")),
                                 ("dev", "validation", "squad/dev-v1.1.json")):
            jobs.append(Job("squad", "en", split, {"rows": Table("rajpurkar/squad", "plain_text", hub, QA_COLUMNS)},
                            (path,),
                            _squad_builder(path)))
    return jobs


def plan(specs, version: str, languages: list[str] | None) -> tuple[list[Job], list[str]]:
    """Every job for the tasks and languages asked for, and one line per task that cannot be fetched."""
    jobs: list[Job] = []
    notes: list[str] = []
    seen: set[tuple[str, ...]] = set()
    asked = set(languages or ())
    known: set[str] = set()
    for spec in specs:
        task_langs = list(spec.languages(version) or spec.all_languages())
        known.update(task_langs)
        langs = [lang for lang in task_langs if languages is None or lang in asked]
        if spec.task in UNAVAILABLE:
            notes.append(f"{spec.task}: {UNAVAILABLE[spec.task]}; nothing written")
            continue
        with_train = languages is None or "en" in asked
        for job in plan_task(spec, langs, with_train):
            if job.outputs not in seen:  # squad serves both xquad and mlqa
                seen.add(job.outputs)
                jobs.append(job)
    unknown = sorted(asked - known - {"en"})
    if unknown:
        raise UserError(f"language(s) {', '.join(unknown)} are in none of the chosen tasks' language lists "
                        f"({version})")
    return jobs, notes


# --- the hub -------------------------------------------------------------------------------------

def _hub_error(exc: Exception, repo: str, revision: str | None, cache_dir: str | None = None) -> UserError:
    name = type(exc).__name__
    rev = revision or "main"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name in ("RepositoryNotFoundError", "GatedRepoError"):
        return UserError(f"{repo}: dataset repository not found on the hub (or gated): {clip(first, 200)}")
    if name == "RevisionNotFoundError":
        return UserError(f"{repo}: revision '{rev}' not found on the hub")
    if name in ("LocalEntryNotFoundError", "IncompleteSnapshotError", "OfflineModeIsEnabled"):
        from huggingface_hub import constants

        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        cache = cache_dir or constants.HF_HUB_CACHE
        return UserError(f"{repo} at revision '{rev}' is not in the local hub cache ({cache}) "
                         f"and the hub cannot be reached{offline}")
    return UserError(f"{repo}: cannot fetch revision '{rev}' ({name}: {clip(first, 200)})")


def fetch(repo: str, revision: str | None, patterns: Sequence[str], progress: bool,
          cache_dir: str | None = None) -> tuple[Path, str]:
    """The snapshot folder holding the files that match ``patterns`` and the commit it resolved to."""
    from huggingface_hub import snapshot_download

    if not progress:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    try:
        folder = snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=sorted(patterns),
                                   cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - every hub failure is the user's environment, said in one line
        if type(exc).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")) or \
                isinstance(exc, (ConnectionError, TimeoutError)):
            raise _hub_error(exc, repo, revision, cache_dir) from None
        raise
    return Path(folder), Path(folder).name


def _snapshot_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            out.append(Path(root, name).relative_to(folder).as_posix())
    return sorted(out)


def _match(table: Table, files: Sequence[str]) -> list[str]:
    pats = table.patterns()
    return [f for f in files if any(fnmatch.fnmatchcase(f, p) for p in pats)]


def _classnames(features: Any) -> dict[str, list[str]]:
    """ClassLabel names per column from the ``huggingface`` schema metadata datasets writes into parquet."""
    def names(feat: Any) -> list[str] | None:
        if isinstance(feat, dict):
            if isinstance(feat.get("names"), list) and feat.get("_type", "ClassLabel") == "ClassLabel":
                return [str(n) for n in feat["names"]]
            if "feature" in feat:
                return names(feat["feature"])
        if isinstance(feat, list) and len(feat) == 1:
            return names(feat[0])
        return None

    if not isinstance(features, dict):
        return {}
    return {col: found for col, feat in features.items() if (found := names(feat))}


def read_rows(table: Table, folder: Path, files: Sequence[str]) -> Rows:
    import pyarrow.parquet as pq

    rows: list[dict] = []
    classnames: dict[str, list[str]] = {}
    for rel in files:
        try:
            columns = None
            if table.columns is not None:  # only what the converter reads (MultiNLI's parses are large)
                have = pq.read_schema(folder / rel).names
                columns = [c for c in table.columns if c in have]
            t = pq.read_table(folder / rel, columns=columns)
        except OSError as exc:
            raise UserError(f"cannot read {table.repo}/{rel} from the hub cache ({clip(str(exc), 200)}); delete it "
                            "from the cache and download again", folder / rel) from None
        except Exception as exc:  # noqa: BLE001 - pyarrow's own errors (ArrowInvalid ...): a damaged file
            raise UserError(f"cannot read {table.repo}/{rel} as parquet ({type(exc).__name__}: "
                            f"{clip(str(exc), 200)}); delete it from the hub cache and download again",
                            folder / rel) from None
        meta = (t.schema.metadata or {}).get(b"huggingface")
        if meta:
            try:
                info = json.loads(meta)
                classnames.update(_classnames((info.get("info") or {}).get("features")))
            except (ValueError, AttributeError):
                pass
        rows.extend(t.to_pylist())
    return Rows(table, rows, list(files), classnames)


# --- MANIFEST.json -------------------------------------------------------------------------------

_ENTRY_KEYS = {"path": str, "repo": str, "config": str, "split": str, "source_files": list, "revision": str,
               "sha256": str, "bytes": int}


def sha256_of(path: str | os.PathLike) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


def _safe_rel(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and rel == p.as_posix()


def load_manifest(dest: Path, required: bool = False) -> dict[str, dict]:
    """The manifest's entries by path ({} when there is none and it is not required)."""
    path = dest / MANIFEST
    if not os.path.lexists(path):
        if required:
            raise UserError(f"no {MANIFEST} here; 'xtreme-data download' writes it (hand-copied data has none: "
                            "'xtreme-data list' shows what is present)", dest)
        return {}
    data = parse_json(read_text(path, "manifest"), path, "manifest")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("files"), list):
        raise UserError(f"not an xtreme-data manifest (expected an object with \"schema\": \"{SCHEMA}\" and a "
                        "'files' list); move it away to start a new download here", path)
    entries: dict[str, dict] = {}
    for i, entry in enumerate(data["files"], 1):
        bad = [k for k, typ in _ENTRY_KEYS.items() if not isinstance(entry, dict) or type(entry.get(k)) is not typ]
        if bad or not _safe_rel(entry["path"]) or entry["path"] in entries:
            what = f"lacks or mistypes {', '.join(bad)}" if bad else "has a path outside the folder or twice"
            raise UserError(f"entry {i} of 'files' {what}; expected {', '.join(_ENTRY_KEYS)}", path)
        entries[entry["path"]] = entry
    return entries


def save_manifest(dest: Path, entries: dict[str, dict]) -> None:
    atomic_write_json(dest / MANIFEST, {
        "schema": SCHEMA, "harness_version": __version__,
        "updated": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "files": [entries[p] for p in sorted(entries)]})


def _on_disk(dest: Path, entry: dict) -> bool:
    """Whether the file is there, a regular file, and has the recorded size and sha256."""
    path = dest / entry["path"]
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != entry["bytes"]:
        return False
    return sha256_of(path)[0] == entry["sha256"]


# --- download ------------------------------------------------------------------------------------

@dataclass
class Report:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[UserError] = field(default_factory=list)
    revisions: dict[str, str] = field(default_factory=dict)


def parse_revisions(values: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or ():
        repo, sep, rev = value.partition("=")
        repo, rev = repo.strip(), rev.strip()
        if not sep or not repo or not rev:
            raise UserError(f"--revision '{clip(value)}' is not REPO=SHA (e.g. google/xtreme=<40-hex commit>)")
        if repo not in REPOS:
            raise UserError(f"--revision names '{clip(repo)}', which xtreme-data does not download from "
                            f"(it uses: {', '.join(REPOS)})")
        if not re.fullmatch(r"[0-9a-f]{40}", rev) and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", rev)
                                                        or ".." in rev):
            raise UserError(f"--revision {repo}='{clip(rev)}' is neither a commit sha (40 hex digits) nor a "
                            "branch or tag name")
        if out.get(repo, rev) != rev:
            raise UserError(f"--revision pins {repo} twice ({out[repo]} and {rev})")
        out[repo] = rev
    return out


def parse_languages(value: str | None) -> list[str] | None:
    if value is None or value.strip() == "all":
        return None
    langs = [v.strip() for v in value.split(",") if v.strip()]
    if not langs:
        raise UserError("--languages is empty (expected 'all' or a comma-separated list of ISO 639-1 codes)")
    for lang in langs:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", lang):
            raise UserError(f"--languages: '{clip(lang)}' is not a language code")
    return langs


def download(dest: str | os.PathLike = "download", tasks: str = "all", version: str = "xtreme",
             languages: str | None = None, revisions: Sequence[str] | None = None, progress: bool = True,
             force: bool = False, cache_dir: str | None = None,
             say: Callable[[str], None] = print, note: Callable[[str], None] | None = None) -> Report:
    """Fetch and convert; see the module docstring. Raises :class:`UserError` when nothing could be done or
    some repository failed (after writing, and recording, everything else)."""
    from .tasks.registry import resolve_tasks

    note = note or (lambda m: print(f"xtreme-data: note: {m}", file=sys.stderr))
    pins = parse_revisions(revisions)
    langs = parse_languages(languages)
    root = output_path(dest, "--dest", folder=True)
    jobs, notes = plan(resolve_tasks(tasks, version), version, langs)
    if not jobs:
        raise UserError("nothing to download: " + (" | ".join(notes) or f"the chosen tasks have none of the "
                                                   f"languages {languages} in {version}"))
    report = Report(notes=list(notes))
    for n in notes:
        note(n)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, root, "--dest") from None
    with folder_lock(root, "downloading into", "--dest"):
        remove_stale_temps(root)
        entries = load_manifest(root)
        by_repo: dict[str, list[Job]] = {}
        for job in jobs:
            by_repo.setdefault(job.repo, []).append(job)
        for repo, rjobs in by_repo.items():
            _download_repo(root, repo, rjobs, pins.get(repo), entries, report, progress, force, cache_dir, say,
                           note)
    if report.errors:
        for later in report.errors[1:]:  # the first is the error line itself
            note(f"also: {later}")
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more problem(s))" if len(report.errors) > 1 else ""
        raise UserError(f"{first.message}{more}; {len(report.written)} file(s) written, {len(report.kept)} kept, "
                        f"all recorded in {MANIFEST}", first.path, first.line)
    return report


def _download_repo(root: Path, repo: str, jobs: list[Job], pin: str | None, entries: dict[str, dict],
                   report: Report, progress: bool, force: bool, cache_dir: str | None, say, note) -> None:
    patterns = sorted({p for job in jobs for t in job.tables.values() for p in t.patterns()})
    try:
        folder, sha = fetch(repo, pin, patterns, progress, cache_dir)
    except UserError as exc:
        # Offline, with the cache gone: what the manifest already describes is still complete.
        done = [job for job in jobs if _complete(root, job, entries, pin)]
        report.kept.extend(p for job in done for p in job.outputs)
        if len(done) < len(jobs):
            report.errors.append(exc)
        else:
            note(f"{exc.message}; the files from it are already here as {MANIFEST} records them")
        return
    report.revisions[repo] = sha
    say(f"{repo} @ {sha}")
    files = _snapshot_files(folder)
    if not any(f.endswith(".parquet") for f in files):
        msg = (f"{repo} has no parquet files for these tasks at {sha[:12]} (a repository with only a loading "
               f"script?); try --revision {repo}=refs/convert/parquet")
        report.notes.append(msg)
        note(msg)
        return
    missing: dict[str, dict[str, list[str]]] = {}
    cache: dict[Table, Rows] = {}
    for job in jobs:
        if _complete(root, job, entries, sha):
            report.kept.extend(job.outputs)
            continue
        if not force:
            foreign = [p for p in job.outputs if os.path.lexists(root / p) and p not in entries]
            if foreign:
                msg = (f"{job.label()}: {foreign[0]} is present but not recorded in {MANIFEST} (hand-copied?); "
                       "left as it is (pass --force to replace it)")
                report.notes.append(msg)
                note(msg)
                continue
        sources = {}
        for role, table in job.tables.items():
            matched = _match(table, files)
            if not matched:
                break
            sources[role] = table, matched
        else:
            if _run_job(root, job, sources, folder, sha, entries, report, cache, say):
                continue
        missing.setdefault(job.task, {}).setdefault(job.lang, []).append(job.split)
    for task, langs in missing.items():
        splits = {lang: [j.split for j in jobs if j.task == task and j.lang == lang] for lang in langs}
        which = [lang if sorted(langs[lang]) == sorted(splits[lang]) else f"{lang} {'/'.join(langs[lang])}"
                 for lang in langs]
        msg = (f"{task}: {repo} has no files at {sha[:12]} for {', '.join(which)}; nothing written for "
               f"{'them' if len(which) > 1 else 'it'}")
        report.notes.append(msg)
        note(msg)


def _complete(root: Path, job: Job, entries: dict[str, dict], revision: str | None) -> bool:
    """Every output of the job on disk as the manifest records it, from this repository and config (and, when
    ``revision`` is given, from that commit)."""
    tables = {(t.repo, t.config, t.split) for t in job.tables.values()}
    for rel in job.outputs:
        entry = entries.get(rel)
        if entry is None or (entry["repo"], entry["config"], entry["split"]) not in tables:
            return False
        if revision is not None and entry["revision"] != revision:
            return False
        if not _on_disk(root, entry):
            return False
    return True


def _run_job(root: Path, job: Job, sources: dict, folder: Path, sha: str, entries: dict[str, dict],
             report: Report, cache: dict, say) -> bool:
    """Convert and write one job's files; False when its table holds nothing for the job's language."""
    try:
        loaded = {}
        for role, (table, matched) in sources.items():
            if table not in cache:
                cache.clear()  # one table at a time in memory (tydiqa's languages share theirs)
                cache[table] = read_rows(table, folder, matched)
            loaded[role] = cache[table]
        outputs, note_text = job.build(loaded)
    except NoRows:
        return False
    except UserError as exc:
        report.errors.append(UserError(f"{job.label()}: {exc.message}", exc.path, exc.line))
        return True
    assert set(outputs) == set(job.outputs), (job.label(), sorted(outputs), job.outputs)
    (table, matched), = sources.values()
    changed = False
    try:
        for rel in job.outputs:
            data = outputs[rel]
            if entries.pop(rel, None) is not None:
                changed = True  # the old record no longer describes what is about to be there
            atomic_write_bytes(root / rel, data)
            entry = {"path": rel, "task": job.task, "lang": job.lang, "repo": table.repo, "config": table.config,
                     "split": table.split, "source_files": list(matched), "revision": sha,
                     "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            if note_text:
                entry["note"] = note_text
            entries[rel] = entry
            changed = True
            report.written.append(rel)
    finally:
        if changed:
            save_manifest(root, entries)
    say(f"  {job.label()}: wrote {', '.join(job.outputs)}" + (f" ({note_text})" if note_text else ""))
    return True


# --- verify and list ------------------------------------------------------------------------------

def verify(dest: str | os.PathLike = "download") -> tuple[int, int, list[tuple[str, str]]]:
    """(files checked, bytes, problems as (path, what is wrong)) for every file the manifest lists."""
    root = Path(dest)
    if not root.is_dir():
        raise UserError("--dest is not a folder" if root.exists() else "--dest not found", root)
    entries = load_manifest(root, required=True)
    problems: list[tuple[str, str]] = []
    total = 0
    for rel, entry in sorted(entries.items()):
        path = root / rel
        try:
            st = os.stat(path)
        except FileNotFoundError:
            problems.append((rel, "missing"))
            continue
        except OSError as exc:
            problems.append((rel, os_error(exc, path).message))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append((rel, "not a regular file"))
            continue
        try:
            digest, size = sha256_of(path)
        except OSError as exc:
            problems.append((rel, os_error(exc, path).message))
            continue
        total += size
        if size != entry["bytes"] or digest != entry["sha256"]:
            problems.append((rel, f"changed since download ({size} bytes, sha256 {digest[:12]}; {MANIFEST} records "
                                  f"{entry['bytes']} bytes, sha256 {entry['sha256'][:12]})"))
    return len(entries), total, problems


def listing(dest: str | os.PathLike = "download", version: str = "xtreme", tasks: str = "all",
            languages: str | None = None) -> str:
    """Per task and language, which split files the specs name are present (hand-copied files count)."""
    from .tasks.data import split_files
    from .tasks.registry import resolve_tasks

    root = Path(dest)
    if root.exists() and not root.is_dir():
        raise UserError("--dest is not a folder", root)
    langs = parse_languages(languages)
    try:
        recorded = len(load_manifest(root)) if root.is_dir() else 0
        manifest_note = f"{MANIFEST}: {recorded} files" if os.path.lexists(root / MANIFEST) else f"no {MANIFEST}"
    except UserError as exc:
        manifest_note = f"{MANIFEST} unreadable: {exc.message}"
    lines = [f"{root} ({'folder not found' if not root.exists() else manifest_note})",
             f"{'task':<9} {'lang':<5} {'train':<8} {'dev':<8} {'test':<8} gold"]
    summary = []
    for spec in resolve_tasks(tasks, version):
        task_langs = [lang for lang in (spec.languages(version) or spec.all_languages())
                      if langs is None or lang in langs]
        train_langs = [lang for lang in (spec.splits["train"].languages or ()) if langs is None or lang in langs] \
            if "train" in spec.splits else []
        complete = 0
        for lang in sorted(set(task_langs) | set(train_langs), key=lambda x: (x not in task_langs, x)):
            cells = {}
            gold = "-"
            for split in ("train", "dev", "test"):
                s = spec.splits.get(split)
                if split == "train" and s is None and spec.train_source.get("path") and lang == "en":
                    # QA tasks train on SQuAD: the spec names the file in its train_source
                    cells[split] = "ok" if os.path.lexists(root / spec.train_source["path"]) else "missing"
                    continue
                if s is None or (s.languages and lang not in s.languages) or \
                        (split != "train" and lang not in task_langs):
                    cells[split] = "-"
                    continue
                files = split_files(spec, root, lang, split)
                need = [p for role, p in files.items() if role != "gold" and not role.startswith("pool:")]
                have = [p for p in need if os.path.lexists(p)]
                cells[split] = "ok" if len(have) == len(need) else "partial" if have else "missing"
                if split == "test" and "gold" in files:
                    gold = "yes" if os.path.lexists(files["gold"]) else "no"
            if cells.get("test") == "ok":
                complete += 1
            lines.append(f"{spec.task:<9} {lang:<5} {cells['train']:<8} {cells['dev']:<8} {cells['test']:<8} {gold}")
        extra = f"; {UNAVAILABLE[spec.task].split(';')[0]}" if spec.task in UNAVAILABLE else ""
        summary.append(f"{spec.task}: test files for {complete} of {len(task_langs)} languages{extra}")
    return "\n".join(lines + [""] + summary)


# --- command line --------------------------------------------------------------------------------

class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(versions_line(parser.prog))
        parser.exit()


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
                 prog: str = "xtreme-data") -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = parser_class(prog=prog, formatter_class=fmt,
                     description="XTREME's download/ folder from public Hugging Face hub datasets: download, "
                                 "verify and list it.")
    p.add_argument("--version", action=_VersionAction,
                   help="print the versions of xtreme-harness, torch, transformers, datasets, lm-eval and "
                        "huggingface_hub, and exit")
    sub = p.add_subparsers(dest="command", metavar="{download,verify,list}", parser_class=parser_class)
    sub.required = True

    d = sub.add_parser("download", formatter_class=fmt, help="fetch from the hub and write the download/ layout",
                       description="Fetch public hub datasets (through the hub cache, HF_HUB_OFFLINE honoured) and "
                                   "write the files xtreme-eval --data-dir reads, with MANIFEST.json.")
    d.add_argument("--tasks", default="all", help="'all' (the benchmark's tasks) or a comma-separated list")
    d.add_argument("--version", default="xtreme", choices=VERSIONS, help="benchmark version: its tasks and languages")
    d.add_argument("--languages", default="all",
                   help="'all' or ISO 639-1 codes (the English training files come with 'en')")
    d.add_argument("--dest", default="download", help="the data folder to write (xtreme-eval's default --data-dir)")
    d.add_argument("--revision", action="append", default=argparse.SUPPRESS, metavar="REPO=SHA",
                   help="pin a repository to a commit (or a branch or tag); repeatable (default: each "
                        "repository's main branch)")
    d.add_argument("--force", action="store_true",
                   help="replace files present but not written by xtreme-data (hand-copied ones are kept otherwise)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")

    v = sub.add_parser("verify", formatter_class=fmt, help="re-hash every file MANIFEST.json lists",
                       description="Re-hash every file MANIFEST.json lists; exit 2 naming the first bad one.")
    v.add_argument("--dest", default="download", help="the data folder")

    ls = sub.add_parser("list", formatter_class=fmt, help="show per task and language what is present",
                        description="Per task and language, the split files the task specs name: present or "
                                    "missing (hand-copied data counts).")
    ls.add_argument("--dest", default="download", help="the data folder")
    ls.add_argument("--version", default="xtreme", choices=VERSIONS, help="benchmark version")
    ls.add_argument("--tasks", default="all", help="'all' or a comma-separated list")
    ls.add_argument("--languages", default="all", help="'all' or a comma-separated list")
    return p


def run_command(args: argparse.Namespace) -> int:
    if args.command == "download":
        report = download(args.dest, args.tasks, args.version, args.languages, getattr(args, "revision", []),
                          progress=not args.no_progress, force=args.force)
        print(f"xtreme-data: {len(report.written)} file(s) written, {len(report.kept)} already here, in {args.dest} "
              f"(see {MANIFEST})")
        return 0
    if args.command == "verify":
        n, size, problems = verify(args.dest)
        for rel, what in problems:
            print(f"BAD {rel}: {what}")
        if problems:
            rel, what = problems[0]
            counts = f"{sum(w == 'missing' for _, w in problems)} missing"
            raise UserError(f"{what}; {len(problems)} of {n} files listed in {MANIFEST} fail verification "
                            f"({counts}, {len(problems) - sum(w == 'missing' for _, w in problems)} changed or "
                            "unreadable)", Path(args.dest) / rel)
        print(f"xtreme-data: {n} file(s), {size / 2**20:.1f} MiB, match {Path(args.dest) / MANIFEST}")
        return 0
    print(listing(args.dest, args.version, args.tasks, args.languages))
    return 0
