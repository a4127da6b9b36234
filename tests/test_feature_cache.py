"""The on-disk feature cache: a second run over the same data and tokenizer skips tokenisation and gives the
same features and the same files; a changed data file or tokenizer file is a miss; ``--no-feature-cache``
writes nothing; entries survive concurrent writers and damaged files, and the folder stays within its bound."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tiny import build_suite
from xtreme_harness.cli import eval_main
from xtreme_harness.families import classification, qa, tagging
from xtreme_harness.io.featcache import SUFFIX, FeatureCache, parse_size

XNLI = "Der Hund läuft schnell.\tEin Tier bewegt sich.\tentailment\nEs regnet.\tDie Sonne scheint.\tcontradiction\n" \
       "Sie liest ein Buch.\tJemand liest.\tneutral\n"
UDPOS = "Der\tDET\nHund\tNOUN\nläuft\tVERB\n.\tPUNCT\n\nEs\tPRON\nregnet\tVERB\n\n"
XQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
    {"context": "Der Hund läuft schnell durch den Park in Berlin.",
     "qas": [{"id": "q1", "question": "Wo läuft der Hund?", "answers": [{"text": "Park", "answer_start": 33}]},
             {"id": "q2", "question": "Wer läuft?", "answers": [{"text": "Der Hund", "answer_start": 0}]}]}]}]}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("fc") / "suite", tasks={"xnli", "udpos", "xquad"})


def _data(root: Path) -> Path:
    (root / "xnli").mkdir(parents=True, exist_ok=True)
    (root / "xnli" / "dev-de.tsv").write_text(XNLI, encoding="utf-8")
    (root / "udpos").mkdir(exist_ok=True)
    (root / "udpos" / "dev-de.tsv").write_text(UDPOS, encoding="utf-8")
    (root / "xquad").mkdir(exist_ok=True)
    (root / "xquad" / "xquad.de.json").write_text(json.dumps(XQUAD), encoding="utf-8")
    return root


@pytest.fixture
def counted(monkeypatch):
    """How often each family tokenised (its featuriser ran) during a run."""
    calls = {"classification": 0, "tagging": 0, "qa": 0}
    for name, mod in (("classification", classification), ("tagging", tagging), ("qa", qa)):
        real = mod.featurize_rows

        def wrapped(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(mod, "featurize_rows", wrapped)
    return calls


def _run(model, data, out, cache, *extra, tasks="xnli,udpos,xquad", split="dev", monkeypatch=None):
    monkeypatch.setenv("XTREME_FEATURE_CACHE", str(cache))
    args = ["--model", str(model), "--tasks", tasks, "--languages", "de", "--data-dir", str(data),
            "--output", str(out), "--no-progress", "--device", "cpu", *extra]
    assert eval_main(args + ["--split", split]) == 0


def _files(out: Path) -> dict[str, bytes]:
    """Predictions, labels and records (states and results hold times and paths of their own)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] in ("predictions", "labels", "records")}


def test_second_run_skips_tokenisation_with_the_same_outputs(suite, tmp_path, counted, monkeypatch):
    data, cache = _data(tmp_path / "data"), tmp_path / "cache"
    _run(suite, data, tmp_path / "a", cache, tasks="xnli,udpos", monkeypatch=monkeypatch)
    assert counted == {"classification": 1, "tagging": 1, "qa": 0}
    entries = sorted(cache.glob(f"*{SUFFIX}"))
    assert len(entries) >= 2
    _run(suite, data, tmp_path / "b", cache, tasks="xnli,udpos", monkeypatch=monkeypatch)
    assert counted == {"classification": 1, "tagging": 1, "qa": 0}  # both from the cache
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    ra, rb = (json.loads((tmp_path / x / "results.json").read_text()) for x in "ab")
    assert ra["tasks"] == rb["tasks"]


def test_cached_features_equal_fresh_ones(suite, tmp_path, monkeypatch):
    """The Rows read back are the Rows stored: every array and the counts."""
    from xtreme_harness.families.base import cached_rows
    from xtreme_harness.io import featcache
    from xtreme_harness.producers.native import load_tokenizer
    from xtreme_harness.producers.checkpoints import _checkpoint
    from xtreme_harness.formats.examples import QAExample

    tok = load_tokenizer(_checkpoint(str(suite / "xquad"), False, False))
    para = XQUAD["data"][0]["paragraphs"][0]
    examples = [QAExample(id=q["id"], question=q["question"], context=para["context"] * 30) for q in para["qas"]]

    class Model:
        feature_cache = FeatureCache(tmp_path / "c")
        tokenizer_key = "tok"

    def build():
        return qa.featurize_rows(examples, tok, max_length=64, doc_stride=16)

    with featcache.inputs("data-1"):
        first = cached_rows(Model, "qa", {"m": 64}, build)
        again = cached_rows(Model, "qa", {"m": 64}, lambda: pytest.fail("tokenised again"))
    assert Model.feature_cache.hits == 1
    fresh, got = first.arrays(), again.arrays()
    assert fresh.keys() == got.keys() and again.stats == first.stats and first.stats["windowed"] == 2
    for k in fresh:
        assert fresh[k].dtype == got[k].dtype
        np.testing.assert_array_equal(fresh[k], got[k])
    with featcache.inputs("data-2"):  # other data, other key
        cached_rows(Model, "qa", {"m": 64}, build)
    assert Model.feature_cache.misses == 2


def test_a_changed_data_file_or_tokenizer_is_a_miss(suite, tmp_path, counted, monkeypatch):
    import shutil

    data, cache = _data(tmp_path / "data"), tmp_path / "cache"
    model = tmp_path / "xnli-model"
    shutil.copytree(suite / "xnli", model)
    _run(model, data, tmp_path / "a", cache, tasks="xnli", monkeypatch=monkeypatch)
    _run(model, data, tmp_path / "b", cache, tasks="xnli", monkeypatch=monkeypatch)
    assert counted["classification"] == 1
    (data / "xnli" / "dev-de.tsv").write_text(XNLI.replace("schnell", "langsam"), encoding="utf-8")
    _run(model, data, tmp_path / "c", cache, tasks="xnli", monkeypatch=monkeypatch)
    assert counted["classification"] == 2
    # the same tokenizer, written out again with one more (unused) setting: other bytes, so other features' key
    cfg = model / "tokenizer_config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "xtreme_note": 1}), encoding="utf-8")
    _run(model, data, tmp_path / "d", cache, tasks="xnli", monkeypatch=monkeypatch)
    assert counted["classification"] == 3
    _run(model, data, tmp_path / "e", cache, tasks="xnli", monkeypatch=monkeypatch)
    assert counted["classification"] == 3


def test_no_feature_cache_writes_nothing(suite, tmp_path, counted, monkeypatch):
    data, cache = _data(tmp_path / "data"), tmp_path / "cache"
    for out in ("a", "b"):
        _run(suite, data, tmp_path / out, cache, "--no-feature-cache", tasks="xnli", monkeypatch=monkeypatch)
    assert counted["classification"] == 2
    assert not cache.exists() or not any(cache.iterdir())
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert "feature_cache" not in results["config"]  # it changes no figure


def test_qa_from_the_cache_answers_the_same(suite, tmp_path, counted, monkeypatch):
    data, cache = _data(tmp_path / "data"), tmp_path / "cache"
    _run(suite, data, tmp_path / "a", cache, tasks="xquad", split="test", monkeypatch=monkeypatch)
    _run(suite, data, tmp_path / "b", cache, tasks="xquad", split="test", monkeypatch=monkeypatch)
    assert counted["qa"] == 1
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


# --- the store ------------------------------------------------------------------------------------------

def _arrays(seed: int, n: int = 1000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"ids": rng.integers(0, 250000, n).astype(np.int32), "starts": np.arange(0, n + 1, 10, dtype=np.int64),
            "token.is_max": rng.random(n) < 0.5, "empty": np.zeros((0, 3), np.float32)}


def test_store_round_trip_and_damaged_files(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save("k1", _arrays(0), {"stats": {"examples": 3}})
    arrays, meta = cache.load("k1")
    assert meta == {"stats": {"examples": 3}}
    for k, v in _arrays(0).items():
        assert arrays[k].dtype == v.dtype and arrays[k].shape == v.shape
        np.testing.assert_array_equal(arrays[k], v)
    arrays["ids"][0] = -1  # writable, and the file is untouched
    assert cache.load("k1")[0]["ids"][0] != -1
    path = cache.path("k1")
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # truncated
    assert cache.load("k1") is None
    path.write_bytes(b"not an entry at all")
    assert cache.load("k1") is None
    assert cache.load("absent") is None


def test_store_is_bounded_least_recently_used_first(tmp_path):
    import os
    import time

    probe = FeatureCache(tmp_path / "probe")
    probe.save("x", _arrays(0))
    one = probe.path("x").stat().st_size
    cache = FeatureCache(tmp_path, max_bytes=int(one * 3.5))
    for i in range(3):
        cache.save(f"k{i}", _arrays(i))
        os.utime(cache.path(f"k{i}"), (time.time() - 100 + i, time.time() - 100 + i))
    assert cache.load("k0") is not None  # used: now the most recent
    cache.save("k3", _arrays(3))
    left = sorted(p.stem for p in tmp_path.glob(f"*{SUFFIX}"))
    assert left == ["k0", "k2", "k3"] and cache.size() <= cache.max_bytes


def test_concurrent_writers_and_readers_see_whole_entries(tmp_path):
    cache = FeatureCache(tmp_path, max_bytes=10 * 2**20)
    errors = []

    def work(seed):
        try:
            for i in range(20):
                key = f"k{i % 4}"
                cache.save(key, _arrays(i % 4, 5000))
                got = cache.load(key)
                if got is not None:
                    np.testing.assert_array_equal(got[0]["ids"], _arrays(i % 4, 5000)["ids"])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not list(tmp_path.glob("*.tmp"))


def test_parse_size():
    assert parse_size("2G") == 2 * 2**30 and parse_size("500m") == 500 * 2**20 and parse_size("123") == 123
    assert parse_size(None) == parse_size("junk") == 2 * 2**30
