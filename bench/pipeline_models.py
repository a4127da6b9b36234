"""Checkpoint suites for bench_pipeline.py: one checkpoint per task head, laid out as ``xtreme-eval`` reads a suite.

``tiny``: random weights, 1 layer, hidden 32, but the real XLM-R vocabulary and
tokenizer (the 250002-id tokenizer.json of me5-small), so that tokenisation,
featurisation, decoding and I/O cost what they cost with a real model while the
forward pass is nearly free: the run measures the harness's overhead.

``me5``: the real multilingual-e5-small encoder (BERT, 12 layers, hidden 384)
with a random task head per task (``from_pretrained(num_labels=...)``, fixed
seed): the run measures real compute.

Suites are built once into a cache folder and reused; a ``.complete`` marker
in each checkpoint folder says it was written to the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
NER = "O B-PER I-PER B-ORG I-ORG B-LOC I-LOC".split()

# suite folder -> (head, labels); the retrieval tasks use suite/encoder
HEADS = {
    "xnli": ("SequenceClassification", ["contradiction", "entailment", "neutral"]),
    "pawsx": ("SequenceClassification", ["0", "1"]),
    "udpos": ("TokenClassification", UPOS),
    "panx": ("TokenClassification", NER),
    "xquad": ("QuestionAnswering", None),
    "mlqa": ("QuestionAnswering", None),
    "tydiqa": ("QuestionAnswering", None),
    "encoder": ("Model", None),
    "xcopa": ("MultipleChoice", None),
}
RETRIEVAL = ("bucc2018", "tatoeba")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
HERE = Path(__file__).resolve().parent
SHARED_TOOL = HERE.parent.parent / "shared" / "tools" / "build-me5-small"


def suite_folder(task: str) -> str:
    """The suite sub-folder that serves a task."""
    return "encoder" if task in RETRIEVAL else task


def ensure_me5(cache: Path) -> Path:
    """The real me5-small checkpoint, built with the shared tool on first use (about 10 s plus a download)."""
    out = cache / "me5-small"
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    if not SHARED_TOOL.is_file():
        raise SystemExit(f"cannot build me5-small: {SHARED_TOOL} is missing")
    env = dict(os.environ)
    venv_bin = HERE.parent / ".venv" / "bin"
    if venv_bin.is_dir():  # the tool's python3 is then this project's, which has numpy and safetensors
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run(["bash", str(SHARED_TOOL), str(out)], check=True, env=env)
    return out


def _copy_tokenizer(src: Path, dst: Path) -> None:
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def _done(folder: Path) -> bool:
    return (folder / ".complete").is_file() and (folder / "config.json").is_file()


def _finish(folder: Path, tmp: Path) -> None:
    (tmp / ".complete").write_text("ok\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _labels_kwargs(labels):
    if not labels:
        return {}
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)}}


def build_tiny(root: Path, tokenizer_dir: Path, folders, seed: int = 0) -> Path:
    """Random 1-layer, hidden-32 XLM-R checkpoints with the real XLM-R tokenizer, one per suite folder."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(sorted(set(folders))):
        folder = root / name
        if _done(folder):
            continue
        head, labels = HEADS[name]
        torch.manual_seed(seed + i)
        cfg = transformers.XLMRobertaConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=514, type_vocab_size=1, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, **_labels_kwargs(labels))
        model = getattr(transformers, f"XLMRoberta{'Model' if head == 'Model' else 'For' + head}")(cfg)
        _save(model, tokenizer_dir, root, name)
    return root


def _save(model, tokenizer_dir: Path, root: Path, name: str) -> None:
    """Write one suite checkpoint whole: into a temp folder, with its tokenizer, then into place."""
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    _copy_tokenizer(tokenizer_dir, tmp)
    _finish(root / name, tmp)


def build_me5(root: Path, me5_dir: Path, folders, seed: int = 0) -> Path:
    """me5-small with a random head per suite folder (``encoder``: the bare encoder)."""
    import torch
    import transformers

    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(sorted(set(folders))):
        folder = root / name
        if _done(folder):
            continue
        head, labels = HEADS[name]
        torch.manual_seed(seed + i)
        cls = getattr(transformers, "AutoModel" if head == "Model" else f"AutoModelFor{head}")
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # "newly initialized" heads are the point here
        try:
            model = cls.from_pretrained(str(me5_dir), **_labels_kwargs(labels))
        finally:
            transformers.logging.set_verbosity(verbosity)
        _save(model, me5_dir, root, name)
    return root


def ensure_suite(kind: str, cache: Path, tasks, seed: int = 0) -> Path:
    """The suite folder for ``kind`` ('tiny' or 'me5'), with the checkpoints ``tasks`` need."""
    folders = [suite_folder(t) for t in tasks]
    me5 = ensure_me5(cache)
    if kind == "tiny":
        return build_tiny(cache / "suite-tiny", me5, folders, seed)
    if kind == "me5":
        return build_me5(cache / "suite-me5", me5, folders, seed)
    raise ValueError(f"unknown model kind {kind!r}")
