"""Options declared once: each with its help, default, range and where it may be given, in a dataclass field.

The way transformers' ``HfArgumentParser`` reads dataclass fields: a command's
flags, a manifest's ``defaults``, lm-eval ``model_args``, a recipe's
hyper-parameters, ``settings.json`` and ``results.json``'s config all derive
from one declaration, and one function (:func:`check`) validates a value
whichever way it arrived. A value that one path accepts can therefore never be
refused, silently replaced by a default, or let through out of range on
another; an unknown or repeated key is refused everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .errors import UserError, clip

FLAG, API, MANIFEST, MODEL_ARGS, RECIPE = "flag", "api", "manifest", "model_args", "recipe"
_NOT_SET = object()


@dataclass(frozen=True)
class Opt:
    """What an option is: the metadata of its dataclass field."""

    help: str
    kind: type = str  # int, float, bool, str or list (of strings)
    choices: tuple[str, ...] | None = None
    low: float | None = None  # inclusive, or exclusive with ``above``
    above: bool = False
    below: float | None = None  # exclusive
    high: float | None = None  # inclusive
    special: tuple[str, ...] = ()  # words accepted beside a number ('auto')
    nullable: bool = False  # None is a value (the task's own, the model's default ...)
    flag: str | bool | None = None  # the command-line flag (True: from the name); None: no flag
    store: str | None = None  # argparse action for flags that take no value: 'store_true' or 'store_false'
    metavar: str | None = None
    unit: str = ""  # appended to the range in messages ('sub-tokens')
    figures: bool = False  # the value changes the figures: an output folder holds the files of one such set
    official: Any = _NOT_SET  # the official protocol's value; any other is marked wherever figures are shown
    unofficial: str = ""  # what another value means, for the results and the leaderboard
    sources: frozenset[str] = frozenset({FLAG, API})  # where it may be given
    aliases: tuple[str, ...] = ()  # other keys naming it in manifests and model_args


def option(default: Any, help: str, *, kind: type | None = None, default_factory: Callable | None = None,
           **meta: Any) -> Any:
    """A dataclass field declaring one option (see :class:`Opt`); ``kind`` defaults to the default's type."""
    if kind is None:
        sample = default_factory() if default_factory is not None else default
        kind = type(sample) if sample is not None and not isinstance(sample, list) else (list if isinstance(
            sample, list) else str)
    if "sources" in meta:
        meta["sources"] = frozenset(meta["sources"])
    opt = Opt(help=help, kind=kind, **meta)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"opt": opt})
    return field(default=default, metadata={"opt": opt})


def declared(cls) -> dict[str, tuple[dataclasses.Field, Opt]]:
    """The options a dataclass declares, by name, in declaration order."""
    return {f.name: (f, f.metadata["opt"]) for f in dataclasses.fields(cls) if "opt" in f.metadata}


def default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None if f.default is dataclasses.MISSING else f.default


def _fmt(x: float) -> str:
    """A number for a message: floats short, and an absurd integer by its size rather than its digits."""
    if isinstance(x, float):
        return f"{x:g}"
    return str(x) if abs(x) < 10**30 else f"{'-' if x < 0 else ''}a {x.bit_length()}-bit integer"


def number_problem(value: Any, kind: type, low: float | None = None, above: bool = False,
                   below: float | None = None, high: float | None = None) -> str | None:
    """What is wrong with ``value`` as a ``kind`` (int, float or bool) in its range, in words; None if nothing.

    NaN, infinities and booleans where numbers belong are refused here, once, for every caller."""
    if kind is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {clip(repr(value), 40)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
        return f"must be {'an integer' if kind is int else 'a number'}, got {clip(repr(value), 40)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    parts = []
    if low is not None:
        parts.append(f"greater than {_fmt(low)}" if above else f"at least {_fmt(low)}")
    if below is not None:
        parts.append(f"below {_fmt(below)}")
    if high is not None:
        parts.append(f"at most {_fmt(high)}")
    bad = (low is not None and (value < low or (above and value == low))) or \
        (below is not None and value >= below) or (high is not None and value > high)
    if bad:
        return f"must be {' and '.join(parts)}, got {_fmt(value)}"
    return None


def problem(opt: Opt, value: Any) -> str | None:
    """What is wrong with an already typed ``value`` for ``opt`` (None: fine)."""
    if value is None:
        return None if opt.nullable else "must be given"
    if isinstance(value, str) and value in opt.special:
        return None
    if opt.choices is not None:
        if value not in opt.choices:
            return f"must be {' or '.join(opt.choices)}, not {clip(repr(value), 60)}"
        return None
    if opt.kind in (int, float, bool):
        found = number_problem(value, opt.kind, opt.low, opt.above, opt.below, opt.high)
        if found and opt.special and opt.kind is not bool:
            return f"must be {' or '.join(repr(w) for w in opt.special)} or {found[len('must be '):]}"
        if found and opt.unit and "got" in found:
            head, _, tail = found.partition(", got")
            return f"{head} {opt.unit}, got{tail}"
        return found
    if opt.kind is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return None if ok else f"must be a list of strings, got {clip(repr(value), 60)}"
    return None if isinstance(value, str) else f"must be a string, got {clip(repr(value), 60)}"


def check(opt: Opt, value: Any, source: str, path: str | None = None, line: int | None = None) -> Any:
    """``value`` if it is one ``opt`` allows, else the one-line error naming ``source`` (a flag, a key, a file)."""
    found = problem(opt, value)
    if found:
        raise UserError(f"{source} {found}", path, line)
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def from_text(opt: Opt, text: Any, source: str, path: str | None = None, line: int | None = None) -> Any:
    """A value given as text (a flag, a ``key=value`` pair, an environment variable), typed and checked."""
    if not isinstance(text, str):
        return check(opt, text, source, path, line)
    raw = text.strip()
    if opt.nullable and raw.lower() in ("none", "null", ""):
        return None
    if raw in opt.special or raw.lower() in opt.special:
        return raw.lower() if raw.lower() in opt.special else raw
    value: Any = raw
    if opt.kind is bool:
        if raw.lower() in _TRUE:
            value = True
        elif raw.lower() in _FALSE:
            value = False
        else:
            raise UserError(f"{source} must be true or false, got {clip(repr(raw), 40)}", path, line)
    elif opt.kind in (int, float) and opt.choices is None:
        try:
            value = int(raw) if opt.kind is int and raw.lstrip("+-").isascii() and raw.lstrip("+-").isdigit() \
                else float(raw)
        except ValueError:
            value = raw  # not a number: check() says what was expected
    elif opt.kind is list:
        value = [v.strip() for v in raw.split(",") if v.strip()]
    return check(opt, value, source, path, line)


def from_mapping(cls, values: Mapping[str, Any], kind: str, label: str,
                 where: Callable[[str], tuple[str | None, int | None]] = lambda key: (None, None),
                 text: bool = False, name_of: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The options ``values`` gives (a manifest's ``defaults``, lm-eval ``model_args``), each validated.

    Keys may be an option's name or alias, among the options that may be
    given in ``kind`` (:data:`MANIFEST`, :data:`MODEL_ARGS`); any other key is
    refused with the list of keys that would have been taken. ``label`` names
    the source in messages (``name_of(key)`` one of its keys), ``where(key)`` is
    the (file, line) to name, and with ``text`` the values are strings to type first.
    """
    opts = declared(cls)
    names: dict[str, str] = {}
    for name, (_, opt) in opts.items():
        if kind in opt.sources:
            names[name] = name
            for alias in opt.aliases:
                names[alias] = name
    out: dict[str, Any] = {}
    for key, value in values.items():
        path, line = where(key)
        if key not in names:
            raise UserError(f"unknown key '{clip(key, 60)}' in {label} (expected one of: "
                            f"{', '.join(sorted(names))})", path, line)
        name = names[key]
        if name in out:
            raise UserError(f"'{key}' sets {name} again in {label}; give it once", path, line)
        opt = opts[name][1]
        source = name_of(key) if name_of else f"{label} {key}"
        out[name] = from_text(opt, value, source, path, line) if text else check(opt, value, source, path, line)
    return out


def parse_pairs(text: str | None, what: str, expected: str = "key=value pairs") -> dict[str, str]:
    """``key=value,key=value`` (lm-eval's ``model_args``, ``--label-map``) with repeated keys refused."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise UserError(f"{what}: expected {expected} separated by commas, got '{clip(part.strip(), 60)}'")
        key, value = (x.strip() for x in part.split("=", 1))
        if not key:
            raise UserError(f"{what}: '{clip(part.strip(), 60)}' has no key before '='")
        if key in out:
            raise UserError(f"{what}: '{clip(key, 60)}' is given twice ({clip(key, 40)}={clip(out[key], 40)} and "
                            f"{clip(key, 40)}={clip(value, 40)}); give each key once")
        out[key] = value
    return out


def flag_name(name: str, opt: Opt) -> str:
    """The option's flag: the one it declares, else its name (``flag=True``)."""
    return opt.flag if isinstance(opt.flag, str) else "--" + name.replace("_", "-")


def add_arguments(parser, cls, names: Iterable[str] | None = None, group: Any = None) -> None:
    """Add the flags of ``cls``'s options (those with a flag, or ``names``) to an argparse parser; every flag's
    help shows its default, and values stay strings (typed and checked later, by :func:`from_text`)."""
    target = group if group is not None else parser
    for name, (f, opt) in declared(cls).items():
        if (names is not None and name not in names) or (names is None and (opt.flag is None or FLAG not in
                                                                             opt.sources)):
            continue
        default = default_of(f)
        shown = opt.help
        if opt.store is None and default not in (None, [], "") and "(default" not in shown:
            shown += f" (default: {','.join(default) if isinstance(default, list) else default})"
        if opt.store:
            target.add_argument(flag_name(name, opt), dest=name, action=opt.store, default=default, help=shown)
        elif opt.kind is list:
            target.add_argument(flag_name(name, opt), dest=name, action="append", default=None,
                                metavar=opt.metavar, help=shown)
        else:
            metavar = opt.metavar or ("|".join(opt.choices) if opt.choices else None)
            target.add_argument(flag_name(name, opt), dest=name, default=argparse.SUPPRESS, metavar=metavar,
                                help=shown)


def given_flags(cls, args: argparse.Namespace) -> dict[str, Any]:
    """The options a parsed command line set, typed and checked (flags left out keep their defaults)."""
    out: dict[str, Any] = {}
    for name, (f, opt) in declared(cls).items():
        if not hasattr(args, name):
            continue
        value = getattr(args, name)
        if opt.store:
            if value != default_of(f):
                out[name] = value
        elif opt.kind is list:
            if value is not None:
                out[name] = list(value)
        else:
            out[name] = from_text(opt, value, flag_name(name, opt))
    return out


def unofficial(cls, values: Mapping[str, Any]) -> list[str]:
    """What ``values`` chose over the official protocol, one phrase each (empty: the official protocol)."""
    out = []
    for name, (_, opt) in declared(cls).items():
        if opt.official is not _NOT_SET and values.get(name, opt.official) != opt.official:
            out.append(opt.unofficial)
    return out
