"""The harness version, in the leaf layer so that every record can carry it, and the versions beside it."""

from __future__ import annotations

__version__ = "0.2.0"

# The libraries whose versions change figures or behaviour: what a bug report or a methods section needs.
LIBRARIES = ("torch", "transformers", "datasets", "lm-eval", "sentence-transformers", "faiss-cpu|faiss-gpu",
             "huggingface_hub")


def versions_line(prog: str) -> str:
    """``PROG 0.2.0 (torch 2.x, transformers 4.x, ...)``, read from the installed metadata (nothing imported)."""
    from importlib import metadata

    parts = []
    for names in LIBRARIES:
        for dist in names.split("|"):
            try:
                parts.append(f"{dist} {metadata.version(dist)}")
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            parts.append(f"{names.split('|')[0]} not installed")
    return f"{prog} {__version__} ({', '.join(parts)})"
