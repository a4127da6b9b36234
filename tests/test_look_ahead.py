"""The run loop reads and featurises the next (task, language) in a thread while the model runs on the current
one: the features predict uses for every language after the first were made ahead, the files are the same
as without looking ahead, a featurisation that fails ahead is done again (and reported) in its place, a bad
data file of a later language is the same one-line error after the earlier languages are written, and a
resumed language is not featurised at all."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tiny import build_suite
from xtreme_harness.cli import eval_main
from xtreme_harness.families import classification, tagging
from xtreme_harness.producers.native import CheckpointProducer

XNLI = ("Der Hund läuft schnell.\tEin Tier bewegt sich.\tentailment\n"
        "Es regnet.\tDie Sonne scheint.\tcontradiction\n"
        "Sie liest ein Buch.\tJemand liest.\tneutral\n")
UDPOS = "Der\tDET\nHund\tNOUN\nläuft\tVERB\n.\tPUNCT\n\nEs\tPRON\nregnet\tVERB\n\n"
LANGS = ("de", "es", "fr")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("ahead") / "suite", tasks={"xnli", "udpos"})


def _data(root: Path) -> Path:
    for lang in LANGS:
        (root / "xnli").mkdir(parents=True, exist_ok=True)
        (root / "xnli" / f"dev-{lang}.tsv").write_text(XNLI, encoding="utf-8")
        (root / "udpos").mkdir(exist_ok=True)
        (root / "udpos" / f"dev-{lang}.tsv").write_text(UDPOS, encoding="utf-8")
    return root


@pytest.fixture
def threads(monkeypatch):
    """The thread each featurisation ran in, in order: (family, thread name)."""
    seen: list[tuple[str, str]] = []
    for name, mod in (("classification", classification), ("tagging", tagging)):
        real = mod.featurize_rows

        def wrapped(*args, _real=real, _name=name, **kwargs):
            seen.append((_name, threading.current_thread().name))
            return _real(*args, **kwargs)

        monkeypatch.setattr(mod, "featurize_rows", wrapped)
    return seen


def _run(model, data, out, *extra) -> int:
    return eval_main(["--model", str(model), "--tasks", "xnli,udpos", "--languages", ",".join(LANGS),
                      "--data-dir", str(data), "--output", str(out), "--split", "dev", "--no-progress",
                      "--device", "cpu", "--no-feature-cache", *extra])


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] in ("predictions", "labels", "records")}


def test_later_languages_are_featurised_ahead_with_the_same_files(suite, tmp_path, threads, monkeypatch):
    data = _data(tmp_path / "data")
    assert _run(suite, data, tmp_path / "ahead") == 0
    # every unit featurised once: the first by the thread that read it too, each later one while the
    # model ran on the one before; none again in the main thread
    assert len(threads) == 2 * len(LANGS)
    assert all(name.startswith("xtreme-ahead-") for _, name in threads)
    assert [fam for fam, _ in threads] == ["classification"] * 3 + ["tagging"] * 3
    threads.clear()
    monkeypatch.setattr(CheckpointProducer, "prefetch", None)  # no look-ahead: predict featurises
    assert _run(suite, data, tmp_path / "plain") == 0
    assert all(name == "MainThread" for _, name in threads) and len(threads) == 6
    assert _files(tmp_path / "ahead") == _files(tmp_path / "plain")
    assert len(_files(tmp_path / "plain")) >= 12


def test_a_featurisation_that_fails_ahead_is_done_again_in_its_place(suite, tmp_path, monkeypatch):
    data = _data(tmp_path / "data")
    assert _run(suite, data, tmp_path / "want") == 0
    real = classification.featurize_rows

    def flaky(*args, **kwargs):
        if threading.current_thread().name.startswith("xtreme-ahead-"):
            raise RuntimeError("featurising ahead failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(classification, "featurize_rows", flaky)
    assert _run(suite, data, tmp_path / "got") == 0
    assert _files(tmp_path / "got") == _files(tmp_path / "want")


def test_a_bad_later_file_is_the_usual_error_after_the_earlier_languages(suite, tmp_path, capsys):
    data = _data(tmp_path / "data")
    (data / "xnli" / "dev-fr.tsv").write_text(XNLI + "only one column\n", encoding="utf-8")
    assert _run(suite, data, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "dev-fr.tsv" in err[-1] and ":4" in err[-1] and "Traceback" not in "\n".join(err)
    out = tmp_path / "out"
    assert (out / "predictions" / "xnli" / "test-de.tsv").is_file()
    assert (out / "predictions" / "xnli" / "test-es.tsv").is_file()
    assert not (out / "predictions" / "xnli" / "test-fr.tsv").exists()


def test_a_resumed_language_is_not_featurised_and_loads_no_model(suite, tmp_path, threads, monkeypatch):
    data = _data(tmp_path / "data")
    warmed = []
    real = CheckpointProducer.warm

    def warm(self, spec):
        warmed.append(spec.task)
        return real(self, spec)

    monkeypatch.setattr(CheckpointProducer, "warm", warm)
    assert _run(suite, data, tmp_path / "out") == 0
    assert warmed == ["xnli"] * 3 + ["udpos"] * 3  # the model loads while the first language is featurised
    threads.clear()
    warmed.clear()
    assert _run(suite, data, tmp_path / "out") == 0
    assert threads == [] and warmed == []


def test_without_a_thread_to_be_had_each_language_is_prepared_in_turn(suite, tmp_path, threads, monkeypatch):
    data = _data(tmp_path / "data")
    assert _run(suite, data, tmp_path / "want") == 0
    real_start = threading.Thread.start

    def refuse(self):
        if self.name.startswith("xtreme-ahead-"):
            raise RuntimeError("can't start new thread")
        return real_start(self)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    threads.clear()
    assert _run(suite, data, tmp_path / "got") == 0
    assert _files(tmp_path / "got") == _files(tmp_path / "want")
    assert len(threads) == 6 and all(name == "MainThread" for _, name in threads)


RACE = r"""
import sys, threading, time
from xtreme_harness.producers.checkpoints import _checkpoint
from xtreme_harness.producers.native import load_model, load_tokenizer

ck = _checkpoint(sys.argv[1], False, False)
got = {}
thread = threading.Thread(target=lambda: got.setdefault("tokenizer", load_tokenizer(ck)))
thread.start()  # the look-ahead's first transformers import ...
time.sleep(0.05)
model = load_model(ck, "classification", "cpu", "float32")  # ... while the main thread loads the model
thread.join()
print(type(model).__name__, type(got["tokenizer"]).__name__)
"""


def test_model_and_tokenizer_load_in_two_threads_from_a_cold_interpreter(suite):
    """transformers replaces itself in sys.modules at the end of its import, and CPython hands a second thread
    importing it meanwhile the half-made module, on which every lazy name is missing: the look-ahead's
    tokenizer load and the main thread's model load, both the process's first use of transformers, must
    both work (this failed whenever the main thread reached the model a moment after the thread began)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RACE, str(suite / "xnli")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    model, tokenizer = done.stdout.split()
    assert model == "XLMRobertaForSequenceClassification" and tokenizer, done.stdout


def test_every_tokenizer_call_takes_its_turn(tmp_path, monkeypatch):
    """transformers' ``__call__`` sets the backend's truncation for its call, as :func:`tokens.encode` does; with
    the next language featurised in a thread, a call outside the turn-taking lock could change the other
    thread's truncation between its set-up and its encoding (wrong features, silently) or meet its borrow
    ("Already borrowed"). Every featuriser, for prediction and for training, calls under the lock."""
    from transformers import PreTrainedTokenizerBase

    from tiny import build_tokenizer
    from xtreme_harness.families import multiple_choice, qa, tokens
    from xtreme_harness.formats.examples import ChoiceExample, PairExample, QAExample, TaggingExample
    from xtreme_harness.train.formats import mlm_features

    tok = build_tokenizer(tmp_path / "tok")
    real, unlocked = PreTrainedTokenizerBase.__call__, []

    def watched(self, *args, **kwargs):
        if not tokens._ENCODING.locked():
            unlocked.append(args[:1])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", watched)
    long_text = " ".join(["der hund läuft schnell über die straße"] * 40)
    pairs = [PairExample("1", "Der Hund läuft.", "Ein Tier.", "entailment"), PairExample("2", long_text, long_text)]
    tagged = [TaggingExample("1", ["Der", "Hund", "läuft"], ["DET", "NOUN", "VERB"]),
              TaggingExample("2", long_text.split(), None)]
    questions = [QAExample("1", "Wer läuft " * 30, long_text), QAExample("2", "Was?", "Der Hund läuft.")]
    choices = [ChoiceExample("1", "Der Hund läuft.", "cause", ["Er hat Hunger.", "Es regnet."], 0)]
    classification.featurize(pairs, tok, max_length=32)
    classification.featurize_rows(pairs, tok, max_length=32)
    tagging.featurize(tagged, tok, max_length=16)
    tagging.featurize_rows(tagged, tok, max_length=16)
    qa.featurize(questions, tok, max_length=64, doc_stride=16, max_query_length=8)
    qa.featurize_rows(questions, tok, max_length=64, doc_stride=16, max_query_length=8)
    multiple_choice.featurize(choices, tok, max_length=16)
    multiple_choice.featurize_rows(choices, tok, max_length=16)
    mlm_features([long_text, "Der Hund."], tok, 16)
    assert real is not watched and unlocked == []
