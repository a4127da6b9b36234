"""Bitext mining (BUCC 2018): find the translation pairs between a non-English and an English corpus.

Ratio-margin mining as ``third_party/utils_retrieve.py`` (see
:mod:`xtreme_harness.mining`), the threshold chosen on ``threshold_split``
(the BUCC sample set, ``dev``, read beside the evaluated split as its
companion) and applied with ``>=``. Without that split's gold the threshold is
an oracle one, tuned on the evaluated split itself, and marked so. The
``search`` setting (``exact``, the official protocol and default; ``ivf`` or
``pca``) picks how the k-NN is searched, on both splits alike.
"""

from __future__ import annotations

from pathlib import Path

from .. import mining
from ..io import progress
from ..formats import lines
from ..formats.bitext import read_bucc
from ..formats.examples import RetrievalSet
from ..io.errors import UserError
from .base import Predictions
from .retrieval_base import Retrieval


class BitextMining(Retrieval):
    name = "bitext_mining"
    formats = ("bucc",)
    submissions = ("pairs",)
    # search: how the margin k-NN is searched (mining.SEARCHES); only "exact" is the official protocol
    defaults = {"max_length": 512}
    run_options = ("search",)
    protocol_schema = ({"threshold_split": (str, False)}, {"threshold_split": ("dev", "test")})

    def files(self, spec, root, lang, split):
        s = spec.splits[split]
        base = root / s.path.format(lang=lang)
        return {"data": Path(f"{base}.{lang}"), "english": Path(f"{base}.en"), "gold": Path(f"{base}.gold")}

    def read(self, spec, paths, lang, limit):
        return read_bucc(paths, lang, limit)

    def read_hf(self, spec, ds, lang, limit, where):
        cols = spec.hf.columns
        src = [row[cols["source"]] for row in ds]
        tgt = [row[cols["target"]] for row in ds]
        src_ids = [f"{lang}-{i:09d}" for i in range(len(src))]
        tgt_ids = [f"en-{i:09d}" for i in range(len(tgt))]
        pairs = list(zip(src_ids, tgt_ids))
        if limit is not None:
            src_ids, src, pairs = src_ids[:limit], src[:limit], pairs[:limit]
        return RetrievalSet(lang=lang, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids,
                            gold_pairs=pairs)

    def companion(self, spec, split):
        tsplit = spec.retrieval.get("threshold_split", "dev")
        return tsplit if split != tsplit and tsplit in spec.splits else None

    def complete(self, spec, examples, split, companion):
        examples.split = split
        if companion is not None and companion.gold_pairs:
            examples.threshold_set = companion

    def gold(self, spec, examples):
        return [f"{s}\t{t}" for s, t in examples.gold_pairs] if examples.gold_pairs else None

    def predict(self, spec, examples, settings, model, lang=""):
        rset, length = examples, settings["max_length"]
        src = model.encode(rset.source, length, f"{spec.task}/{lang} ({lang})")
        tgt = model.encode(rset.target, length, f"{spec.task}/{lang} (en)")
        stats = {**self.stats(model), "source": len(rset.source), "target": len(rset.target)}
        search = settings.get("search", mining.EXACT)  # the k-NN of both the mined split and the threshold split
        progress.status(f"mining {len(rset.source):,} x {len(rset.target):,} sentences (margin k-NN)", announce=True)
        cands = mining.mine_candidates(src, tgt, rset.source_ids, rset.target_ids, rset.source, rset.target,
                                       search=search)
        tsplit = spec.retrieval.get("threshold_split", "dev")
        dev = rset.threshold_set
        if dev is not None:
            d_src = model.encode(dev.source, length, f"{spec.task}/{lang} {tsplit} ({lang})")
            d_tgt = model.encode(dev.target, length, f"{spec.task}/{lang} {tsplit} (en)")
            d_cands = mining.mine_candidates(d_src, d_tgt, dev.source_ids, dev.target_ids, dev.source, dev.target,
                                             search=search)
            progress.status(f"choosing the threshold on {tsplit}")
            threshold, source = mining.best_threshold(d_cands, dev.gold_pairs)[0], tsplit
        else:
            if not rset.gold_pairs:
                raise UserError(f"{spec.task}/{lang}: no {tsplit} gold to choose the mining threshold on")
            threshold = mining.best_threshold(cands, rset.gold_pairs)[0]
            source = rset.split if rset.split == tsplit else f"{rset.split} (oracle: no {tsplit} set)"
        pairs = mining.apply_threshold(cands, threshold)
        stats.update(threshold=float(threshold), threshold_from=source, candidates=len(cands))
        if search != mining.EXACT:  # not the official protocol: say so beside the figures
            stats["search"] = search
        return Predictions(spec.task, lang, rset, [f"{s}\t{t}" for s, t in pairs], stats)

    def units(self, spec, predictions, gold):
        return None  # F1 over the set of mined pairs: no per-example records

    def read_pair(self, spec, pred_path, label_path):
        labels = lines.not_empty(lines.read_pairs(label_path, "labels file"), label_path,
                                 "'<xx-id><TAB><en-id>' lines")
        return labels, lines.read_pairs(pred_path, "prediction file")

    def read_output(self, spec, path):
        lines.read_pairs(path, "prediction file")
        return None
