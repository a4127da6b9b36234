"""sentence-transformers models as producers for the retrieval tasks: the model's own modules make the embedding.

A folder with ``modules.json`` is a sentence-transformers model (how MTEB users
hold their encoders): its modules (the transformer, its pooling, and any Dense
and Normalize layers) embed each text exactly as ``SentenceTransformer.encode``
does, so XTREME's hidden-layer protocol (``--retrieval-layer``, ``--pooling``)
does not apply; a run that sets either says so, and ``results.json`` records
the modules that embedded. Texts are cut to the task's length, or to the
model's own ``max_seq_length`` where that is shorter. The model has no task
head: tasks that need one are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..families import family_of
from ..io.errors import UserError
from ..io.jsonfile import read_json
from ..io.reads import folder_fingerprint
from ..options import EvalOptions
from .distributed import is_main
from .embedding import CachedEncoder

MODULES = "modules.json"
IGNORED = ("retrieval_layer", "pooling")  # XTREME's hidden-layer protocol: the model's own modules replace it


def is_sentence_transformers(model: str) -> bool:
    return (Path(model).expanduser() / MODULES).is_file()


class SentenceTransformersEncoder:
    """``SentenceTransformer.encode``, as an :class:`~xtreme_harness.families.Encoder`."""

    def __init__(self, model, modules: list[str], batch_size: int, progress: bool):
        self.model, self.modules, self.batch_size, self.progress = model, modules, batch_size, progress

    def describe(self) -> dict[str, Any]:
        return {"encoder": "sentence-transformers", "modules": list(self.modules),
                "max_seq_length": self.model.max_seq_length}

    def encode(self, texts, max_length: int, desc: str = "") -> np.ndarray:
        own = self.model.max_seq_length
        length = min(max_length, own) if own else max_length
        with _max_seq_length(self.model, length):
            emb = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    show_progress_bar=self.progress and sys.stderr.isatty())
        return np.asarray(emb, dtype=np.float32).reshape(len(texts), -1)


@contextlib.contextmanager
def _max_seq_length(model, length: int):
    old = model.max_seq_length
    model.max_seq_length = length
    try:
        yield
    finally:
        model.max_seq_length = old


class SentenceTransformersProducer:
    """Retrieval predictions of a sentence-transformers folder (see the module docstring)."""

    needs_gold = False

    def __init__(self, options: EvalOptions):
        self.options = options
        self.path = Path(options.model).expanduser()
        self.modules = self._modules()
        self._encoder: CachedEncoder | None = None
        self.ignored = [name for name in IGNORED if getattr(options, name) != EvalOptions.__dataclass_fields__[
            name].default]
        for name in self.ignored:
            flag = "--" + name.replace("_", "-")
            print(f"xtreme-eval: {flag} does not apply to a sentence-transformers model, which embeds with its own "
                  "modules (recorded in results.json)", file=sys.stderr)

    def _modules(self) -> list[dict[str, Any]]:
        data = read_json(self.path / MODULES, "sentence-transformers modules.json")
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("type"), str)
                                                 for m in data):
            raise UserError("expected a list of modules, each with a 'type' (a sentence-transformers model)",
                            self.path / MODULES, 1)
        for m in data:
            sub = self.path / str(m.get("path") or "")
            if not sub.is_dir():
                raise UserError(f"module {m['type']} names the folder '{m.get('path')}', which is missing",
                                self.path / MODULES)
        return data

    def prepare(self, specs):
        skipped = {}
        for spec in specs:
            fam = family_of(spec)
            if not fam.needs_encoder:
                skipped[spec.task] = (f"{self.options.model} is a sentence-transformers model without task heads; "
                                      f"{spec.task} needs a {spec.family} head (*{fam.head})")
        return skipped

    def defaults(self):
        return {}

    def model_info(self) -> dict[str, Any]:
        return {"name": self.path.name, "path": self.options.model, "revision": None, "kind": "sentence-transformers",
                "protocol": "sentence embeddings (the model's own modules)",
                "modules": [m["type"].rsplit(".", 1)[-1] for m in self.modules],
                "ignored_options": list(self.ignored), "intermediate": None, "base_model": None}

    def identity(self, spec) -> dict[str, Any]:
        return {"sentence_transformers": str(self.path.resolve()),
                "files": {str(m.get("path") or "."): folder_fingerprint(self.path / str(m.get("path") or ""))
                          for m in self.modules}}

    def encoder(self) -> CachedEncoder:
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            from .engine import AUTO_BATCH, load_kwargs, resolve_device

            o = self.options
            device = resolve_device(o.device)
            kwargs = {k: v for k, v in load_kwargs(device, o.dtype).items() if k != "attn_implementation"}
            from .native import quiet_transformers

            try:
                with quiet_transformers():
                    model = SentenceTransformer(str(self.path), device=str(device),
                                                trust_remote_code=o.trust_remote_code, model_kwargs=kwargs,
                                                local_files_only=True)
            except (OSError, ValueError, KeyError) as exc:
                raise UserError(f"cannot load the sentence-transformers model: {str(exc).splitlines()[0][:240]}",
                                self.path) from None
            model.eval()
            batch = AUTO_BATCH.get(device.type, AUTO_BATCH["cpu"])[0] if o.batch_size == "auto" else int(o.batch_size)
            names = [m["type"].rsplit(".", 1)[-1] for m in self.modules]
            inner = SentenceTransformersEncoder(model, names, batch, o.progress and is_main())
            self._encoder = CachedEncoder(inner, self.identity(None), o.embedding_cache)
        return self._encoder

    def predict(self, spec, lang, examples, settings):
        return family_of(spec).predict(spec, examples, settings, self.encoder(), lang)

    def close(self) -> None:
        self._encoder = None
