"""BUCC and Tatoeba through xtreme-eval: tiny encoders on real data, and a real encoder well above chance."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tiny import build_suite
from xtreme_harness.evaluation import evaluate
from xtreme_harness.scoring import score_folders


@pytest.fixture(scope="module")
def encoder_suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("enc") / "suite", tasks={"encoder"})


def test_tiny_encoder_on_real_tatoeba_and_bucc(encoder_suite, shared_data, tmp_path):
    out = tmp_path / "out"
    cache = tmp_path / "emb"
    res = evaluate(str(encoder_suite), tasks="tatoeba,bucc2018", languages="zh", data_dir=str(shared_data),
                   split="dev", output=str(out), limit=300, progress=False, embedding_cache=str(cache))
    # Tatoeba has only a test split; BUCC zh dev is scored with a threshold chosen on dev itself.
    assert res["skipped"]["tatoeba"].startswith("tatoeba has no dev split")
    bucc = res["tasks"]["bucc2018"]
    assert bucc["n"] == {"zh": 300}
    assert "f1" in bucc and bucc["stats"]["zh"]["threshold_from"] == "dev"
    pairs = (out / "predictions/bucc2018/test-zh.tsv").read_text().splitlines()
    assert all(p.startswith("zh-") and "\ten-" in p for p in pairs)
    res = evaluate(str(encoder_suite), tasks="tatoeba", languages="de,ja", data_dir=str(shared_data),
                   split="test", output=str(out), limit=300, progress=False, embedding_cache=str(cache))
    tat = res["tasks"]["tatoeba"]
    assert set(tat["accuracy"]) == {"de", "ja"}
    preds = (out / "predictions/tatoeba/test-de.tsv").read_text().splitlines()
    assert len(preds) == 300 and all(0 <= int(p) < 1000 for p in preds)
    sec = tat["secondary"]
    assert sec["accuracy_xx2en"]["de"] == pytest.approx(tat["accuracy"]["de"])
    assert sec["avg_accuracy_mean"] == pytest.approx((sec["avg_accuracy_xx2en"] + sec["avg_accuracy_en2xx"]) / 2)
    assert tat["stats"]["de"]["layer"] == 1  # two-layer encoder: two thirds of the depth, rounded
    # xtreme-score agrees with results.json
    scored = score_folders(out / "predictions", out / "labels", tasks=["tatoeba", "bucc2018"])
    assert scored["tasks"]["tatoeba"]["avg_accuracy"] == pytest.approx(tat["avg_accuracy"], abs=1e-9)
    assert scored["tasks"]["bucc2018"]["avg_f1"] == pytest.approx(bucc["avg_f1"], abs=1e-9)
    assert list(cache.glob("*.npy"))  # the embedding cache was filled (and is plain .npy)


def _me5(tmp_path_factory) -> Path:
    tool = Path(__file__).resolve().parents[2] / "shared/tools/build-me5-small"
    cached = Path.home() / ".cache/xtreme-shared/me5-small"
    if (cached / "model.safetensors").is_file():
        return cached
    if not tool.is_file():
        pytest.skip("../shared/tools/build-me5-small is not available")
    proc = subprocess.run(["bash", str(tool), str(cached)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"could not build the real encoder: {proc.stderr[-300:]}")
    return cached


@pytest.mark.slow
def test_real_encoder_tatoeba_well_above_chance(shared_data, tmp_path, tmp_path_factory):
    me5 = _me5(tmp_path_factory)
    res = evaluate(str(me5), tasks="tatoeba", languages="de,fr,es", data_dir=str(shared_data), output=str(tmp_path),
                   limit=150, retrieval_layer=12, progress=False)
    acc = res["tasks"]["tatoeba"]["accuracy"]
    assert set(acc) == {"de", "fr", "es"}
    for lang, value in acc.items():
        assert value > 50, (lang, value)  # chance is 0.1% (1000 candidates)
