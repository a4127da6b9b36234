"""What fault cases are made of: clean inputs, the ``Case`` record and one builder per command line.

``test_faults.py`` runs every case; the case lists live there and in ``faults_*.py`` beside it, one per area.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

QA_TASKS = {"xquad", "mlqa", "tydiqa"}
MODEL = {"xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "xquad", "mlqa": "xquad",
         "tydiqa": "xquad", "tatoeba": "encoder", "bucc2018": "encoder", "lareqa": "encoder", "mewslix": "encoder",
         "xcopa": "xcopa"}
DATA = {"mlqa": "mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json",
        "tydiqa": "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json",
        "xquad": "xquad/xquad.{lang}.json"}


# --- clean inputs the faults are made from -------------------------------------------------------

XNLI = "Der Hund läuft.\tEin Tier bewegt sich.\tentailment\nEs regnet.\tDie Sonne scheint.\tcontradiction\n"
XNLI_TEST = "Der Hund läuft.\tEin Tier bewegt sich.\nEs regnet.\tDie Sonne scheint.\nEs ist kalt.\tEs friert.\n"
PAWSX = "Der Hund läuft.\tDer Hund rennt.\t1\nEs regnet.\tDie Sonne scheint.\t0\n"
UD = "Der\tDET\nHund\tNOUN\nläuft\tVERB\n\nEs\tPRON\nregnet\tVERB\n"
UD_TEST = "Der\nHund\nläuft\n\nEs\nregnet\n"
NER = "Ada\tB-PER\nlebt\tO\nin\tO\nParis\tB-LOC\n\nHallo\tO\n"
CTX = "Paris liegt in Frankreich."
Q1 = {"id": "q1", "question": "Wo liegt Paris?", "answers": [{"text": "Frankreich", "answer_start": 15}]}
Q2 = {"id": "q2", "question": "Was liegt in Frankreich?", "answers": [{"text": "Paris", "answer_start": 0}]}
SRC, TGT = "Der Hund läuft.\nEs regnet.\n", "It is raining.\nThe dog runs.\n"
BUCC_DE, BUCC_EN = "de-1\tDer Hund läuft.\nde-2\tEs regnet.\n", "en-1\tIt is raining.\nen-2\tThe dog runs.\n"
SPEC = """\
task: xnli_news
name: XNLI (news)
family: classification
format: tsv_pair
benchmarks:
  custom: {category: classification, languages: [de, tr]}
splits:
  test: {path: "news/test-{lang}.tsv"}
labels: [contradiction, entailment, neutral]
metrics: {official: accuracy, primary: [accuracy]}
submission: {ext: tsv, format: labels}
"""
RECIPE = """\
base_model: FacebookAI/xlm-roberta-base
output: runs/x
intermediate:
  tasks: [mnli]
  hyperparameters: {lr: 1.0e-5, epochs: 2}
targets: [xnli, panx]
"""


def squad(*qas, context: str = CTX, para: dict | None = None) -> str:
    paragraph = para if para is not None else {"context": context, "qas": list(qas)}
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [paragraph]}]}, indent=1,
                      ensure_ascii=False)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    pos = -1
    for _ in range(nth):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def drop(d: dict, *keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# --- the cases ---------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    cli: str  # score | eval | train
    files: dict  # path under tmp -> text or bytes
    args: list  # {tmp} and {suite} are filled in
    at: str  # the offending file, under tmp
    line: int | None  # None: the fault has no line (an empty file, a missing sentence), so none is printed
    says: str  # what the line must say (the expectation)
    ckpt: tuple[str, Callable[[Path], None]] | None = None  # (suite checkpoint to copy to tmp/ck, damage)
    located: bool = True  # False: the file is named inside the message rather than as its location prefix
    marks: tuple = ()
    env: dict = field(default_factory=dict)  # extra environment of the command ({tmp} is filled in)


def score(name, task, lang, pred, gold, at, line, says, **kw) -> Case:
    from xtreme_harness.tasks.registry import registry

    spec = registry()[task]
    rel = f"{task}/test-{lang}.{spec.submission_ext}"
    version = ["--version", "xtreme-r"] if "xtreme" not in spec.benchmarks else []
    return Case(name, "score", {f"pred/{rel}": pred, f"gold/{rel}": gold},
                ["--predictions", "{tmp}/pred", "--labels", "{tmp}/gold", *version], f"{at}/{rel}", line, says, **kw)


def evaluate(name, task, lang, split, files, at, line, says, model=None, **kw) -> Case:
    args = ["--model", model or "{suite}/" + MODEL[task], "--tasks", task, "--languages", lang, "--split", split,
            "--data-dir", "{tmp}/data", "--output", "{tmp}/out", "--limit", "2", "--no-progress"]
    return Case(name, "eval", {f"data/{k}": v for k, v in files.items()}, args, f"data/{at}", line, says, **kw)


def checkpoint(name, damage, at, line, says, source="xnli", **kw) -> Case:
    case = evaluate(name, "xnli", "de", "dev", {"xnli/dev-de.tsv": XNLI}, "", line, says, model="{tmp}/ck", **kw)
    case.at, case.ckpt = at, (source, damage)
    return case


def spec_case(name, text, line, says, cli="score") -> Case:
    files = {"specs/news.yaml": text}
    if cli == "score":
        files.update({"pred/xnli/test-de.tsv": "neutral\n", "gold/xnli/test-de.tsv": "neutral\n"})
        args = ["--predictions", "{tmp}/pred", "--labels", "{tmp}/gold", "--task-dir", "{tmp}/specs"]
    else:
        files["data/news/test-de.tsv"] = XNLI
        args = ["--model", "{suite}/xnli", "--tasks", "xnli_news", "--task-dir", "{tmp}/specs", "--data-dir",
                "{tmp}/data", "--output", "{tmp}/out", "--limit", "2", "--no-progress"]
    return Case(name, cli, files, args, "specs/news.yaml", line, says)


def recipe(name, text, line, says, **kw) -> Case:
    return Case(name, "train", {"r.yaml": text}, ["check", "{tmp}/r.yaml"], "r.yaml", line, says, **kw)


def _config(**changes) -> Callable[[Path], None]:
    def damage(ck: Path) -> None:
        cfg = json.loads((ck / "config.json").read_text())
        cfg = {**changes, **{k: v for k, v in cfg.items() if k not in changes}}  # changed keys first: line 2
        (ck / "config.json").write_text(json.dumps(cfg, indent=2))
    return damage


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    return lambda ck: (ck / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def _unlink(name: str) -> Callable[[Path], None]:
    return lambda ck: (ck / name).unlink()


def _truncate(name: str, keep: int) -> Callable[[Path], None]:
    return lambda ck: (ck / name).write_bytes((ck / name).read_bytes()[:keep])


def _as_file(ck: Path) -> None:
    shutil.rmtree(ck)
    ck.write_text("not a folder\n")


GOLD_QA = squad(Q1, Q2)
XCOPA = "".join(json.dumps({"premise": p, "choice1": "a", "choice2": "b", "question": q, "label": y}) + "\n"
                for p, q, y in (("Es regnet.", "cause", 0), ("Der Hund läuft.", "effect", 1)))
MEWSLIX_ENTITY = json.dumps({"entity_id": "Q1", "description": "Paris is a city.",
                             "sentence_spans": [{"start": 0, "end": 16}]}) + "\n"
MEWSLIX = {"mewslix/candidate_set_entities.jsonl": MEWSLIX_ENTITY,
           "mewslix/wikinews_labels/test-en.json": json.dumps({"m1": ["Q1"]}),
           "mewslix/wikinews_mentions/test-en.jsonl": json.dumps({
               "context": {"text": CTX, "sentence_spans": [{"start": 0, "end": len(CTX)}]},
               "mentions": [{"example_id": "m1", "mention_span": {"start": 0, "end": 5, "text": "Paris"}}]}) + "\n"}
MEWSLIX_CROSSING = json.dumps({
    "context": {"text": CTX, "sentence_spans": [{"start": 0, "end": 10}, {"start": 11, "end": len(CTX)}]},
    "mentions": [{"example_id": "m1", "mention_span": {"start": 6, "end": 14, "text": CTX[6:14]}}]}) + "\n"
TRUNC_QA = GOLD_QA[:GOLD_QA.index("Wo liegt")]
DUP_QA = squad(Q1, dict(Q2, id="q1"))
MIXED_QA = squad(Q1, dict(Q2, answers=[]))
NO_CONTEXT = squad(para={"qas": [Q1]})
NO_ID = squad(Q1, drop(Q2, "id"))
NO_TEXT = squad(Q1, dict(Q2, answers=[{"answer_start": 0}]))
STR_START = squad(dict(Q1, answers=[{"text": "Frankreich", "answer_start": "15"}]))
BAD_OFFSET = squad(Q1, dict(Q2, answers=[{"text": "Paris", "answer_start": 3}]))
SPEC_BAD_LANG = SPEC.replace("[de, tr]", "[de, ../x]")
