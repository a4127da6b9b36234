"""Nearest-neighbour retrieval (Tatoeba): each query's nearest sentence on the other side, by cosine.

``queries: en`` is XTREME's direction: ``third_party/evaluate_retrieval.py``
calls ``similarity_search(x_src, y_en)``, indexing the non-English side and
searching it with the sorted English side; the reverse direction and the mean
of both are secondary figures. The submission holds, per sorted English line,
the 0-based index of the retrieved non-English line.
"""

from __future__ import annotations

from pathlib import Path

from .. import mining
from ..io import progress
from ..formats import lines
from ..formats.bitext import read_tatoeba
from ..formats.examples import RetrievalSet
from .base import Predictions
from .retrieval_base import Retrieval


class NearestNeighbour(Retrieval):
    name = "nearest_neighbour"
    formats = ("tatoeba",)
    submissions = ("indices",)
    protocol_schema = ({"queries": (str, False)}, {"queries": ("en", "xx")})

    def files(self, spec, root, lang, split):
        s = spec.splits[split]
        base = root / s.path.format(lang=lang)
        out = {"data": Path(f"{base}.{lang}"), "english": Path(f"{base}.en")}
        if s.gold:
            out["gold"] = root / s.gold.format(lang=lang)
        return out

    def read(self, spec, paths, lang, limit):
        return read_tatoeba(paths, lang, limit)

    def read_hf(self, spec, ds, lang, limit, where):
        cols = spec.hf.columns
        src = [row[cols["source"]] for row in ds]
        tgt = [row[cols["target"]] for row in ds]
        # XTREME's utils_preprocess.py (tatoeba_preprocess) strips and sorts the English side; the gold of
        # sorted line j is the original index of that line, i.e. the non-English line it translates.
        tgt = [t.strip() for t in tgt]
        order = sorted(range(len(tgt)), key=lambda i: tgt[i])
        target = [tgt[i] for i in order]
        queries = len(target) if limit is None else min(limit, len(target))
        return RetrievalSet(lang=lang, source=src, target=target, gold=order[:queries], queries=queries)

    def gold(self, spec, examples):
        return [str(g) for g in examples.gold] if examples.gold is not None else None

    def predict(self, spec, examples, settings, model, lang=""):
        rset = examples
        src = model.encode(rset.source, settings["max_length"], f"{spec.task}/{lang} ({lang})")
        tgt = model.encode(rset.target, settings["max_length"], f"{spec.task}/{lang} (en)")
        stats = {**self.stats(model), "source": len(rset.source), "target": len(rset.target)}
        n = rset.n
        progress.status("nearest-neighbour search")
        if spec.retrieval.get("queries", "en") == "en":  # XTREME: English queries, non-English index
            pred = [str(int(i)) for i in mining.tatoeba_predict(src, tgt[:n])]
        else:
            pred = [str(int(i)) for i in mining.tatoeba_predict(tgt, src[:n])]
        figures = {}
        if rset.gold is not None:
            both = mining.tatoeba_accuracy_both(src, tgt, rset.gold)
            # Secondary figures: the reverse direction (non-English queries) and the mean of both.
            figures = {"accuracy_xx2en": float(both["xx2en"]), "accuracy_mean": float(both["mean"])}
        return Predictions(spec.task, lang, rset, pred, stats, figures)

    def units(self, spec, predictions, gold):
        lang = predictions.lang
        golds = gold if gold is not None else [None] * len(predictions.output)
        return [(f"{lang}-{j}", p, g) for j, (p, g) in enumerate(zip(predictions.output, golds))]

    def read_pair(self, spec, pred_path, label_path):
        labels = lines.not_empty(lines.read_indices(label_path, "labels file"), label_path,
                                 "one 0-based line index per line")
        preds = lines.read_indices(pred_path, "prediction file")
        lines.same_length(pred_path, label_path, len(preds), len(labels), "lines")
        return labels, preds

    def read_output(self, spec, path):
        return len(lines.read_indices(path, "prediction file"))
