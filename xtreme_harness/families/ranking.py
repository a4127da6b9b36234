"""Ranked retrieval (LAReQA, Mewsli-X): the top ``k`` candidates of every query from a shared pool.

``pool: languages`` pools the candidates of every language of the task
(LAReQA: each answer sentence with its paragraph, as ``evaluate_retrieval.py``
builds them); ``pool: file`` reads a candidate file (Mewsli-X's
``candidate_set_entities.jsonl``). Queries and candidates have their own
lengths (``query_max_length``, ``candidate_max_length``), which
``--max-length`` replaces. Predictions are ``{query id: [candidate ids]}``.
"""

from __future__ import annotations

from .. import mining
from ..io import progress
from ..formats.rankings import entry_line, read_mewslix, read_ranking_json
from ..formats.xquad_r import read_lareqa
from ..io.errors import UserError
from ..io.files import atomic_write_json
from ..io.messages import show
from .base import Predictions
from .retrieval_base import Retrieval


class Ranking(Retrieval):
    name = "ranking"
    formats = ("lareqa", "mewslix")
    submissions = ("ranking_json",)
    defaults = {"max_length": 512, "k": 20}
    protocol_schema = ({"pool": (str, False), "query_max_length": (int, False), "candidate_max_length": (int, False)},
                       {"pool": ("languages", "file")})

    def files(self, spec, root, lang, split):
        s = spec.splits[split]
        out = {"data": root / s.path.format(lang=lang)}
        if spec.retrieval.get("pool") == "languages":
            for other in spec.all_languages():
                if other != lang:
                    out[f"pool:{other}"] = root / s.path.format(lang=other)
        if s.candidates:
            out["candidates"] = root / s.candidates
        if s.gold:
            out["gold"] = root / s.gold.format(lang=lang)
        return out

    def read(self, spec, paths, lang, limit):
        reader = {"lareqa": read_lareqa, "mewslix": read_mewslix}
        return reader[spec.format](paths, lang, limit)

    def settings(self, spec, overrides=None):
        """Queries and candidates have the spec's own lengths, which ``--max-length`` replaces."""
        settings = super().settings(spec, overrides)
        cap = (overrides or {}).get("max_length")
        for key in ("query_max_length", "candidate_max_length"):
            settings.values[key] = cap if cap is not None else spec.retrieval.get(key, settings["max_length"])
        return settings

    def gold(self, spec, examples):
        if examples.relevant is None:
            return None
        return {q: list(r) for q, r in zip(examples.query_ids, examples.relevant)}

    def predict(self, spec, examples, settings, model, lang=""):
        rset, k = examples, int(settings["k"])
        q = model.encode(rset.queries, settings["query_max_length"], f"{spec.task}/{lang} queries")
        c = model.encode(rset.candidates, settings["candidate_max_length"], f"{spec.task} candidates")
        progress.status(f"ranking {len(rset.candidates):,} candidates for {len(rset.queries):,} queries")
        _, idx = mining.knn(mining.normalize(q), mining.normalize(c), k)
        ids = rset.candidate_ids
        output = {qid: [ids[j] for j in row if j >= 0] for qid, row in zip(rset.query_ids, idx.tolist())}
        stats = {**self.stats(model), "queries": len(rset.queries), "candidates": len(rset.candidates), "k": k}
        return Predictions(spec.task, lang, rset, output, stats)

    def units(self, spec, predictions, gold):
        return [(qid, ranked, gold[qid] if gold is not None else None) for qid, ranked in predictions.output.items()]

    def write_output(self, spec, path, output):
        atomic_write_json(path, output, indent=None)

    def read_pair(self, spec, pred_path, label_path):
        labels = read_ranking_json(label_path, "labels file")
        if not labels:
            raise UserError("labels file has no gold labels; expected {query id: [relevant ids]}", label_path)
        blank = next((q for q, rel in labels.items() if not any(r.strip() for r in rel)), None)
        if blank is not None:  # a query without gold would score 0 (or divide by zero) without a word
            raise UserError(f"query {show(blank)} has no gold id (an empty or blanked list, as XTREME-R's "
                            "preprocessing leaves test labels); expected {query id: [relevant ids]}", label_path,
                            entry_line(label_path, blank))
        preds = read_ranking_json(pred_path, "prediction file")
        unknown = [q for q in preds if q not in labels]
        if unknown:
            raise UserError(f"query id {show(unknown[0])} is not in the labels file {label_path}"
                            f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}", pred_path,
                            entry_line(pred_path, unknown[0]))
        return labels, preds

    def read_output(self, spec, path):
        return len(read_ranking_json(path, "prediction file"))
