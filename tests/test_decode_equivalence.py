"""The vectorised decoders choose exactly what the plain loops of XTREME's reference code choose.

``_reference_qa`` transcribes ``compute_predictions_logits`` (transformers' ``squad_metrics.py``, which
XTREME's ``run_squad.py`` calls): top-n starts and ends per feature, the filters, a stable sort by summed
logits, distinct texts. Random logits, with ties, over random features.
"""

from __future__ import annotations

import numpy as np
import pytest

from xtreme_harness.families.qa import QAExample, decode


def _reference_qa(examples, features, starts, ends, n_best, max_answer_length):
    def top(logits, n):
        return [int(i) for i in np.argsort(-logits, kind="stable")[:n]]

    by_example = {}
    for j, f in enumerate(features):
        by_example.setdefault(f["example_index"], []).append(j)
    answers, nbest = {}, {}
    for i, ex in enumerate(examples):
        prelim = []
        for j in by_example.get(i, []):
            f = features[j]
            offsets, is_max = f["offset_mapping"], f["token_is_max_context"]
            size = len(offsets)
            sl, el = np.asarray(starts[j], np.float64), np.asarray(ends[j], np.float64)
            for s in top(sl, n_best):
                if s >= size or offsets[s] is None or not is_max[s]:
                    continue
                for e in top(el, n_best):
                    if e >= size or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                        continue
                    prelim.append((sl[s] + el[e], offsets[s][0], offsets[e][1]))
        prelim.sort(key=lambda x: x[0], reverse=True)
        seen, best = set(), []
        for score, a, b in prelim:
            if len(best) >= n_best:
                break
            while a < b and ex.context[a].isspace():
                a += 1
            while b > a and ex.context[b - 1].isspace():
                b -= 1
            text = ex.context[a:b]
            if not text or text in seen:
                continue
            seen.add(text)
            best.append((text, float(score)))
        answers[ex.id] = best[0][0] if best else ""
        nbest[ex.id] = best
    return answers, nbest


def _case(seed: int):
    rng = np.random.default_rng(seed)
    examples, features, starts, ends = [], [], [], []
    for i in range(30):
        words = [f"w{k}" for k in range(int(rng.integers(5, 40)))]
        context = " ".join(words)
        examples.append(QAExample(id=f"q{i}", question="q?", context=context, answers=[]))
        pos, spans = 0, []
        for w in words:
            spans.append((pos, pos + len(w)))
            pos += len(w) + 1
        for _ in range(int(rng.integers(1, 4))):
            length = int(rng.integers(8, 48))
            n_ctx = min(len(spans), length - 4)
            first = int(rng.integers(0, len(spans) - n_ctx + 1))
            offsets = [None] * 3 + spans[first:first + n_ctx] + [None]
            size = len(offsets)
            features.append({"example_index": i, "offset_mapping": offsets,
                             "token_is_max_context": [bool(rng.random() < 0.8) for _ in range(size)],
                             "input_ids": [5] * size})
            padded = size + int(rng.integers(0, 10))
            starts.append(np.round(rng.normal(size=padded), 1).astype(np.float32))  # rounding makes ties
            ends.append(np.round(rng.normal(size=padded), 1).astype(np.float32))
    return examples, features, starts, ends


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_best,max_len", [(20, 30), (3, 2), (1, 1)])
def test_qa_decode_matches_the_reference_loop(seed, n_best, max_len):
    examples, features, starts, ends = _case(seed)
    ref_answers, ref_nbest = _reference_qa(examples, features, starts, ends, n_best, max_len)
    answers, nbest = decode(examples, features, starts, ends, n_best=n_best, max_answer_length=max_len)
    assert answers == ref_answers
    assert {k: [(c["text"], c["score"]) for c in v] for k, v in nbest.items()} == ref_nbest
    short, top = decode(examples, features, starts, ends, n_best=n_best, max_answer_length=max_len, full=False)
    assert short == ref_answers
    assert all(v == nbest[k][:1] or (v and v[0]["text"] == nbest[k][0]["text"]) for k, v in top.items())
