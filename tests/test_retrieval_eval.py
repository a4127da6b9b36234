"""BUCC and Tatoeba through xtreme-eval: tiny encoders on real data, and a real encoder well above chance."""

from __future__ import annotations

import pytest

from tiny import build_suite
from xtreme_harness.run import evaluate
from xtreme_harness.tasks.scoring import score_folders


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
    scored = score_folders(out / "predictions", out / "labels", tasks=["bucc2018"])
    assert scored["tasks"]["bucc2018"]["avg_f1"] == pytest.approx(bucc["avg_f1"], abs=1e-9)
    out = tmp_path / "out-test"  # another split: another folder (one folder holds one set of settings)
    res = evaluate(str(encoder_suite), tasks="tatoeba", languages="de,ja", data_dir=str(shared_data),
                   split="test", output=str(out), limit=300, progress=False, embedding_cache=str(cache))
    tat = res["tasks"]["tatoeba"]
    assert set(tat["accuracy"]) == {"de", "ja"}
    preds = (out / "predictions/tatoeba/test-de.tsv").read_text().splitlines()
    assert len(preds) == 300 and all(0 <= int(p) < 1000 for p in preds)  # one line per (sorted) English query
    labels = (out / "labels/tatoeba/test-de.tsv").read_text().splitlines()
    gold = (shared_data / "tatoeba/labels/test-de.tsv").read_text().splitlines()
    assert labels == gold[:300]
    assert tat["accuracy"]["de"] == pytest.approx(100 * sum(p == g for p, g in zip(preds, labels)) / 300, abs=1e-9)
    sec = tat["secondary"]
    assert set(sec) >= {"accuracy_xx2en", "accuracy_mean", "avg_accuracy_xx2en", "avg_accuracy_mean"}
    assert sec["accuracy_mean"]["de"] == pytest.approx((tat["accuracy"]["de"] + sec["accuracy_xx2en"]["de"]) / 2)
    assert tat["n"] == {"de": 300, "ja": 300}
    assert tat["stats"]["de"]["layer"] == 1  # two-layer encoder: two thirds of the depth, rounded
    # xtreme-score agrees with results.json
    scored = score_folders(out / "predictions", out / "labels", tasks=["tatoeba"])
    assert scored["tasks"]["tatoeba"]["avg_accuracy"] == pytest.approx(tat["avg_accuracy"], abs=1e-9)
    assert list(cache.glob("*.npy"))  # the embedding cache was filled (and is plain .npy)


def _nearest(queries, pool):
    import numpy as np

    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    p = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    return (q @ p.T).argmax(axis=1)


@pytest.mark.slow
def test_real_encoder_tatoeba_en2xx(shared_data, tmp_path, me5):
    """me5-small: the official figure is English queries against the whole non-English side, checked by hand."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "out"
    res = evaluate(str(me5), tasks="tatoeba", languages="de,fr,es", data_dir=str(shared_data), output=str(out),
                   limit=150, retrieval_layer=12, progress=False)
    tat = res["tasks"]["tatoeba"]
    acc = tat["accuracy"]
    assert set(acc) == {"de", "fr", "es"}
    for lang, value in acc.items():
        assert value > 50, (lang, value)  # chance is 0.1% (1000 candidates)

    # An independent computation for German: plain transformers, mean of all positions, layer 12.
    tok = AutoTokenizer.from_pretrained(str(me5))
    model = AutoModel.from_pretrained(str(me5)).eval()

    def embed(lines):
        vecs = []
        for i in range(0, len(lines), 64):
            enc = tok(lines[i:i + 64], padding=True, truncation=True, max_length=512, return_tensors="pt")
            with torch.no_grad():
                h = model(**enc, output_hidden_states=True).hidden_states[12]
            m = enc["attention_mask"].unsqueeze(-1).float()
            vecs.append(((h * m).sum(1) / m.sum(1)).numpy())
        return np.concatenate(vecs)

    de = (shared_data / "tatoeba/de-en.de").read_text(encoding="utf-8").splitlines()
    en = (shared_data / "tatoeba/de-en.en").read_text(encoding="utf-8").splitlines()
    gold = [int(x) for x in (shared_data / "tatoeba/labels/test-de.tsv").read_text().splitlines()]
    x, y = embed(de), embed(en)
    en2xx = _nearest(y[:150], x)
    xx2en = _nearest(x[gold[:150]], y)
    want_en2xx = 100 * float(np.mean(en2xx == np.array(gold[:150])))
    want_xx2en = 100 * float(np.mean(xx2en == np.arange(150)))
    assert acc["de"] == pytest.approx(want_en2xx, abs=1e-9)
    assert tat["secondary"]["accuracy_xx2en"]["de"] == pytest.approx(want_xx2en, abs=1e-9)
    preds = [int(v) for v in (out / "predictions/tatoeba/test-de.tsv").read_text().splitlines()]
    assert (np.array(preds) == en2xx).mean() > 0.99  # the same neighbours up to float ties
    # The round trip through the submission files reproduces results.json.
    scored = score_folders(out / "predictions", out / "labels", tasks=["tatoeba"])
    assert scored["tasks"]["tatoeba"]["accuracy"] == pytest.approx(acc, abs=1e-9)
