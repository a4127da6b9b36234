"""Fault cases of ``xtreme-eval`` itself: damaged checkpoints, output paths, spec folders and output folders."""

from __future__ import annotations

import json
from pathlib import Path

from faultkit import XNLI, Case, _config, _write, checkpoint, spec_case, SPEC


def _drop_tensors(prefix: str):
    """Remove every tensor whose name starts with ``prefix`` from the checkpoint's safetensors."""
    def damage(ck: Path) -> None:
        from safetensors.numpy import load_file, save_file

        tensors = load_file(ck / "model.safetensors")
        save_file({k: v for k, v in tensors.items() if not k.startswith(prefix)}, ck / "model.safetensors",
                  metadata={"format": "pt"})
    return damage


def _more_layers(ck: Path) -> None:
    cfg = json.loads((ck / "config.json").read_text())
    _config(num_hidden_layers=cfg["num_hidden_layers"] + 1)(ck)


def _wider(ck: Path) -> None:
    cfg = json.loads((ck / "config.json").read_text())
    _config(hidden_size=cfg["hidden_size"] * 2, intermediate_size=cfg["intermediate_size"] * 2)(ck)


def _token_past_embeddings(ck: Path) -> None:
    tok = json.loads((ck / "tokenizer.json").read_text())
    tok["added_tokens"].append({"id": 100_000, "content": "<far>", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})
    (ck / "tokenizer.json").write_text(json.dumps(tok))


def _eval_into(name: str, output: str, at: str, says: str, files: dict | None = None, **kw) -> Case:
    """An otherwise clean run whose --output is ``output`` (under tmp)."""
    args = ["--model", "{suite}/xnli", "--tasks", "xnli", "--languages", "de", "--split", "dev", "--data-dir",
            "{tmp}/data", "--output", "{tmp}/" + output, "--limit", "2", "--no-progress"]
    return Case(name, "eval", {"data/xnli/dev-de.tsv": XNLI, **(files or {})}, args, at, None, says, **kw)


LABELS3 = {"0": "contradiction", "1": "entailment", "2": "neutral"}
SETTINGS_OTHER = json.dumps({"model": "another/model", "split": "dev"})
DEEP = "[" * 100_000 + "]" * 100_000
BOMB = SPEC + "".join(f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(9))
LANGS600 = SPEC.replace("[de, tr]", "[" + ", ".join(f"l{i}" for i in range(600)) + "]")

CASES = [
    # --- checkpoints whose weights do not match their config: never filled with random numbers ------------
    checkpoint("ckpt-missing-classifier-head", _drop_tensors("classifier."), "ck", None,
               "the checkpoint lacks the tensors classifier."),
    checkpoint("ckpt-config-more-layers-than-weights", _more_layers, "ck", None, "lacks the tensors "
               "roberta.encoder.layer.2"),
    checkpoint("ckpt-hidden-size-mismatch", _wider, "ck", None, "as a classification model", located=False),
    checkpoint("ckpt-id2label-gap", _config(id2label={"0": "contradiction", "1": "entailment", "3": "neutral"}),
               "ck/config.json", 2, "without gaps"),
    checkpoint("ckpt-id2label-duplicate-name", _config(id2label={**LABELS3, "2": "Entailment"}), "ck/config.json",
               2, "twice"),
    checkpoint("ckpt-config-deeply-nested", _write("config.json", DEEP), "ck/config.json", None,
               "nested too deeply"),
    checkpoint("ckpt-tokenizer-json-is-a-list", _write("tokenizer.json", "[]"), "ck", None,
               "cannot load the tokenizer", located=False),
    checkpoint("ckpt-tokenizer-ids-past-embeddings", _token_past_embeddings, "ck", None, "embedding matrix has"),
    # --- output paths: checked before any work ------------------------------------------------------------
    _eval_into("output-is-a-file", "taken", "taken", "--output must be a folder", {"taken": "x\n"}),
    _eval_into("output-under-a-file", "taken/out", "taken/out", "a component of the path is a file",
               {"taken": "x\n"}),
    _eval_into("output-component-too-long", "o" * 300, "o" * 300, "longer than the file system allows"),
    _eval_into("output-holds-other-settings", "out", "out", "holds results of other settings",
               {"out/settings.json": SETTINGS_OTHER}),
    # --- spec folders --------------------------------------------------------------------------------------
    spec_case("spec-shadows-a-builtin-task", SPEC.replace("task: xnli_news", "task: xnli"), 1, "is a built-in task",
              cli="eval"),
    spec_case("spec-replaces-builtin-that-does-not-exist", SPEC + "replaces_builtin: true\n",
              SPEC.count("\n") + 1, "no built-in task 'xnli_news'", cli="eval"),
    spec_case("spec-yaml-alias-bomb", BOMB, 1, "aliases expand to more than", cli="eval"),
    spec_case("spec-too-many-languages", LANGS600, 6, "expected at most 500", cli="eval"),
    spec_case("spec-features-n-best-zero", SPEC + "features: {n_best: 0}\n", SPEC.count("\n") + 1,
              "'features.n_best' must be between 1 and", cli="eval"),
]
