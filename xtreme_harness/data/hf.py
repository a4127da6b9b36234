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


def class_names(ds, column: str):
    """ClassLabel names of a (sequence) column, to turn integer labels into the task's label strings."""
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return getattr(inner, "names", None)


def label_name(value, names, labels, where: str):
    """A row's label as a task label: a ClassLabel id (0 <= id < len(names); never a bool or a negative
    index from the end) or a label string."""
    from .submission import listing, show

    if type(value) is int and names is not None:
        if not 0 <= value < len(names):
            raise UserError(f"label id {value} is not one of the ClassLabel ids 0..{len(names) - 1}", where)
        value = names[value]
    elif type(value) is int:
        value = str(value)
    if not isinstance(value, str):
        raise UserError(f"label {show(value)} is not a label name", where)
    if labels and value not in labels:
        raise UserError(f"label {show(value)} is not in the label set ({listing(labels)})", where)
    return value


def read_hf(spec: TaskSpec, local: str | None, lang: str, split: str, limit: int | None = None):
    """One (task, language, split) from the hub (or a local copy), as the family's examples."""
    from ..families import family_of

    ds, config = _load(spec, local, lang, split)
    return family_of(spec).read_hf(spec, ds, lang, limit, f"{local or spec.hf.path}[{config}/{split}]")


def head(ds, limit: int | None):
    """The first ``limit`` rows (all of them without a limit)."""
    return ds if limit is None else ds.select(range(min(limit, len(ds))))
