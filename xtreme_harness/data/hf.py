"""The ``hf`` data source: the same tasks read through ``datasets.load_dataset``.

``--data-dir hf`` reads the hub dataset the spec names (``google/xtreme``);
``--data-dir hf:/path`` reads a local copy of such a dataset repository (data
files plus a README whose ``configs`` metadata names the configs), through the
very same ``load_dataset`` call — which is how the tests exercise this path
offline. Column names and config names come from the spec's ``hf`` block.
"""

from __future__ import annotations

from ..errors import UserError
from ..spec import TaskSpec
from .examples import Answer, PairExample, QAExample, RetrievalSet, TaggingExample


def _load(spec: TaskSpec, local: str | None, lang: str, split: str):
    hf = spec.hf
    if hf is None:
        raise UserError(f"task {spec.task} has no 'hf' block in its spec, so it cannot be read with --data-dir hf")
    if split not in hf.splits:
        raise UserError(f"task {spec.task} has no '{split}' split on the hub (it has: {', '.join(hf.splits)})")
    lang_name = hf.lang_names.get(lang, lang)
    config = hf.config.format(lang=lang, lang_name=lang_name)
    path = local or hf.path
    try:
        import datasets

        datasets.disable_progress_bars()  # they would print on stderr even with --no-progress, around any error
        # datasets keys its cache of a local copy by path, not content: an edited copy would be read stale.
        fresh = {"download_mode": "force_redownload", "verification_mode": "no_checks"} if local else {}
        ds = datasets.load_dataset(path, config, split=hf.splits[split], **fresh)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"cannot load {path} config '{config}' split '{hf.splits[split]}': "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except Exception as exc:  # network failures and hub errors are user-environment problems
        if type(exc).__module__.startswith(("datasets", "huggingface_hub", "requests", "httpx", "fsspec")):
            raise UserError(f"cannot load {path} config '{config}': {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        raise
    if hf.filter:
        col = hf.filter["column"]
        if "equals" in hf.filter:
            want = hf.filter["equals"].format(lang=lang, lang_name=lang_name)
            ds = ds.filter(lambda v: v == want, input_columns=[col])
        elif "prefix" in hf.filter:
            want = hf.filter["prefix"].format(lang=lang, lang_name=lang_name)
            ds = ds.filter(lambda v: str(v).startswith(want), input_columns=[col])
    if len(ds) == 0:  # e.g. a language the filter column never names: an error, not an empty language
        raise UserError(f"{path} config '{config}' split '{hf.splits[split]}' has no examples for '{lang}'")
    missing = [c for c in hf.columns.values() if c not in ds.column_names]
    if missing:
        raise UserError(f"{path} config '{config}' lacks column(s) {', '.join(missing)} "
                        f"(it has: {', '.join(ds.column_names)})")
    return ds, config


def _names(ds, column: str):
    """ClassLabel names of a (sequence) column, to turn integer labels into the task's label strings."""
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return getattr(inner, "names", None)


def _label(value, names, labels, where: str):
    if isinstance(value, int) and names is not None:
        value = names[value]
    value = str(value)
    if labels and value not in labels:
        raise UserError(f"label '{value}' is not in the label set ({', '.join(labels)})", where)
    return value


def read_hf(spec: TaskSpec, local: str | None, lang: str, split: str, limit: int | None = None):
    ds, config = _load(spec, local, lang, split)
    cols = spec.hf.columns
    where = f"{local or spec.hf.path}[{config}/{split}]"
    if limit is not None and spec.family != "retrieval":
        ds = ds.select(range(min(limit, len(ds))))
    if spec.family == "classification":
        names = _names(ds, cols["label"]) if "label" in cols else None
        out = []
        for k, row in enumerate(ds):
            label = row.get(cols.get("label", ""), None)
            label = None if label in (None, "", -1) else _label(label, names, spec.labels, where)
            out.append(PairExample(id=f"{lang}-{k}", text_a=row[cols["text_a"]], text_b=row[cols["text_b"]],
                                   label=label))
        return out
    if spec.family == "tagging":
        names = _names(ds, cols["tags"])
        out = []
        for k, row in enumerate(ds):
            tags = [_label(t, names, spec.labels, where) for t in row[cols["tags"]]] if row[cols["tags"]] else None
            out.append(TaggingExample(id=f"{lang}-{k}", tokens=list(row[cols["tokens"]]), tags=tags))
        return out
    if spec.family == "qa":
        out = []
        for row in ds:
            ans = row[cols["answers"]] or {}
            context = row[cols["context"]]
            answers = []
            for text, start in zip(ans.get("text", []), ans.get("answer_start", [])):
                if context[start:start + len(text)] != text:
                    raise UserError(f"answer_start {start} of question '{row[cols['id']]}' does not point at "
                                    f"its answer text in the context", where)
                answers.append(Answer(text=text, start=int(start)))
            out.append(QAExample(id=str(row[cols["id"]]), question=row[cols["question"]], context=context,
                                 answers=answers, title=str(row.get(cols.get("title", ""), "") or "")))
        return out
    # retrieval: the hub holds aligned pairs only; rebuild the task from them.
    src = [row[cols["source"]] for row in ds]
    tgt = [row[cols["target"]] for row in ds]
    if spec.format == "tatoeba":
        # XTREME's utils_preprocess.py (tatoeba_preprocess) strips and sorts the English side; the gold of
        # sorted line j is the original index of that line, i.e. the non-English line it translates.
        tgt = [t.strip() for t in tgt]
        order = sorted(range(len(tgt)), key=lambda i: tgt[i])
        target = [tgt[i] for i in order]
        queries = len(target) if limit is None else min(limit, len(target))
        return RetrievalSet(lang=lang, source=src, target=target, gold=order[:queries], queries=queries)
    src_ids = [f"{lang}-{i:09d}" for i in range(len(src))]
    tgt_ids = [f"en-{i:09d}" for i in range(len(tgt))]
    pairs = list(zip(src_ids, tgt_ids))
    if limit is not None:
        src_ids, src, pairs = src_ids[:limit], src[:limit], pairs[:limit]
    return RetrievalSet(lang=lang, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids, gold_pairs=pairs)
