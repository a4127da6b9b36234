"""A sentence-transformers folder on the retrieval tasks: embedded by its own modules, as SentenceTransformer.encode.

me5-small is wrapped as a sentence-transformers model with a seeded Dense and a
Normalize layer (so the embedding is not a plain hidden-state mean, and would
differ from XTREME's hidden-layer protocol), and ``xtreme-eval`` on real shared
Tatoeba and BUCC data must predict exactly what ``SentenceTransformer.encode``
plus a nearest-neighbour search written here predict.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA, need
from xtreme_harness.cli import eval_main

pytestmark = [pytest.mark.slow, pytest.mark.shared]

LIMIT = 40


@pytest.fixture(scope="module")
def st_folder(tmp_path_factory, me5):
    from sentence_transformers import SentenceTransformer, models

    word = models.Transformer(str(me5), max_seq_length=96)
    dim = (getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension)()
    pool = models.Pooling(dim, "mean")
    torch.manual_seed(7)
    dense = models.Dense(dim, 48, activation_function=torch.nn.Tanh())
    model = SentenceTransformer(modules=[word, pool, dense, models.Normalize()], device="cpu")
    out = tmp_path_factory.mktemp("st") / "me5-st"
    model.save(str(out))
    return out


def _reference(folder, sentences: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu").encode(sentences, convert_to_numpy=True)


def test_tatoeba_is_embedded_by_the_models_own_modules(st_folder, tmp_path, capsys):
    data = need(SHARED_DATA)
    out = tmp_path / "out"
    code = eval_main(["--model", str(st_folder), "--tasks", "tatoeba,xnli", "--languages", "de",
                      "--data-dir", str(data), "--limit", str(LIMIT), "--output", str(out), "--no-progress",
                      "--retrieval-layer", "3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--retrieval-layer does not apply to a sentence-transformers model" in err
    assert "skipping xnli:" in err and "without task heads" in err

    # XTREME's orientation: each of the first LIMIT sorted English lines queries the German side.
    german = (data / "tatoeba" / "de-en.de").read_text(encoding="utf-8").splitlines()
    english = (data / "tatoeba" / "de-en.en").read_text(encoding="utf-8").splitlines()
    src, queries = _reference(st_folder, german), _reference(st_folder, english[:LIMIT])
    src = src / np.linalg.norm(src, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    expected = [str(int(i)) for i in np.argmax(queries @ src.T, axis=1)]
    predicted = (out / "predictions" / "tatoeba" / "test-de.tsv").read_text().split()
    assert predicted == expected

    results = json.loads((out / "results.json").read_text())
    model = results["model"]
    assert model["kind"] == "sentence-transformers" and model["modules"] == ["Transformer", "Pooling", "Dense",
                                                                             "Normalize"]
    assert model["ignored_options"] == ["retrieval_layer"]
    stats = results["tasks"]["tatoeba"]["stats"]["de"]
    assert stats["encoder"] == "sentence-transformers" and stats["max_seq_length"] == 96
    assert results["skipped"]["xnli"].endswith("needs a classification head (*ForSequenceClassification)")
    gold = [int(x) for x in (data / "tatoeba" / "labels" / "test-de.tsv").read_text().split()[:LIMIT]]
    want = 100.0 * sum(int(p) == g for p, g in zip(expected, gold)) / LIMIT
    assert results["tasks"]["tatoeba"]["accuracy"]["de"] == pytest.approx(want, abs=1e-9)


def test_bucc_mines_with_the_models_own_embeddings(st_folder, tmp_path):
    """BUCC's margin mining on a slice of the real zh sample set: the first 150 Chinese sentences against their
    gold partners and 150 English distractors, with the threshold tuned on that split itself."""
    from xtreme_harness import mining
    from xtreme_harness.formats.bitext import read_bucc

    data = need(SHARED_DATA)
    src = data / "bucc2018" / "zh-en.dev"
    zh = (src.parent / f"{src.name}.zh").read_text(encoding="utf-8").splitlines()[:150]
    keep_zh = {line.split("\t", 1)[0] for line in zh}
    gold = [line for line in (src.parent / f"{src.name}.gold").read_text().splitlines()
            if line.split("\t")[0] in keep_zh]
    partners = {line.split("\t")[1] for line in gold}
    en = (src.parent / f"{src.name}.en").read_text(encoding="utf-8").splitlines()
    en = [line for line in en if line.split("\t", 1)[0] in partners] + \
        [line for line in en if line.split("\t", 1)[0] not in partners][:150]
    folder = tmp_path / "data" / "bucc2018"
    folder.mkdir(parents=True)
    for ext, lines in (("zh", zh), ("en", en), ("gold", gold)):
        (folder / f"zh-en.dev.{ext}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert eval_main(["--model", str(st_folder), "--tasks", "bucc2018", "--languages", "zh", "--split", "dev",
                      "--data-dir", str(tmp_path / "data"), "--output", str(out), "--no-progress"]) == 0
    base = folder / "zh-en.dev"
    rset = read_bucc({"data": f"{base}.zh", "english": f"{base}.en", "gold": f"{base}.gold"}, "zh")
    src_emb, tgt_emb = _reference(st_folder, rset.source), _reference(st_folder, rset.target)
    cands = mining.mine_candidates(src_emb, tgt_emb, rset.source_ids, rset.target_ids, rset.source, rset.target)
    threshold = mining.best_threshold(cands, rset.gold_pairs)[0]  # dev is the threshold split itself
    expected = sorted(f"{s}\t{t}" for s, t in mining.apply_threshold(cands, threshold))
    predicted = sorted((out / "predictions" / "bucc2018" / "test-zh.tsv").read_text().splitlines())
    assert predicted and predicted == expected
    stats = __import__("json").loads((out / "results.json").read_text())["tasks"]["bucc2018"]["stats"]["zh"]
    assert stats["threshold_from"] == "dev" and stats["modules"][-1] == "Normalize"
