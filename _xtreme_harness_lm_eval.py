"""Lets the plain ``lm_eval`` command find the ``xtreme-encoder`` model.

lm-eval 0.4 has no plugin discovery: ``--model NAME`` is looked up in its
own registry, which only lm-eval's own imports fill, before any task code
runs. This module is imported at interpreter start-up by
``xtreme_harness_lm_eval.pth``, which installing xtreme-harness puts in
site-packages. It imports nothing: it waits on ``sys.meta_path`` until a
process imports ``lm_eval.api.registry``, then registers ``xtreme-encoder``
as a lazy entry (the model's module loads only when a run asks for it).
``XTREME_HARNESS_LM_EVAL_PLUGIN=0`` turns it off. Any failure here is
swallowed: it must never break Python or lm-eval.
"""

import os
import sys

REGISTRY = "lm_eval.api.registry"
MODEL = "xtreme-encoder"
TARGET = "xtreme_harness.lmeval.encoder:XtremeEncoderLM"


def register(registry_module) -> None:
    import lm_eval.models  # noqa: F401  (lm-eval's own models first: get_model fills only an empty registry)

    registry = registry_module.model_registry
    if MODEL not in registry:
        registry.register(MODEL, target=TARGET)
    _one_line_errors()


def _one_line_errors() -> None:
    """In an lm-eval process, a mistake the xtreme_* tasks or xtreme-encoder report (the harness's UserError: a
    missing data folder, a bad model argument) ends as in the harness's own commands: one line and exit 2."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if kind.__name__ == "UserError" and kind.__module__.startswith("xtreme_harness"):
            try:
                sys.stderr.write(f"lm_eval: error: {value}\n")
                sys.stderr.flush()
            finally:
                os._exit(2)
        previous(kind, value, tb)

    if getattr(sys.excepthook, "__name__", "") != "hook":
        sys.excepthook = hook


class _WatchRegistry:
    """A meta-path finder that only wraps the loading of lm-eval's registry module."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != REGISTRY:
            return None
        try:
            sys.meta_path.remove(cls)
            import importlib.util

            spec = importlib.util.find_spec(name)
            loader = getattr(spec, "loader", None)
            if loader is None or not hasattr(loader, "exec_module"):
                return spec
            run = loader.exec_module

            def exec_module(module):
                run(module)
                try:
                    register(module)
                except Exception:  # noqa: BLE001
                    pass

            loader.exec_module = exec_module
            return spec
        except Exception:  # noqa: BLE001
            return None


def install() -> None:
    if os.environ.get("XTREME_HARNESS_LM_EVAL_PLUGIN", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if REGISTRY in sys.modules:  # already imported (an unusual start-up): register now
        try:
            register(sys.modules[REGISTRY])
        except Exception:  # noqa: BLE001
            pass
        return
    if _WatchRegistry not in sys.meta_path:
        sys.meta_path.insert(0, _WatchRegistry)


install()
