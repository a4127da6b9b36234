"""xtreme-train fault cases: recipe values out of range, output paths of the wrong kind, damaged run state.

Recipe cases run ``xtreme-train check``; the others run ``xtreme-train run`` on the suite's tiny encoder and
stop before any training step. Faults that need a real earlier run (a changed base model, a missing RNG
state, a pickle in optimizer.pt, an interrupt during a checkpoint write) are in test_train_reliability.py.
"""

from __future__ import annotations

from faultkit import NER, RECIPE, Case, line_of, recipe

BASE = "base_model: FacebookAI/xlm-roberta-base\n"


def _block(text: str) -> str:
    return BASE + text


def run_case(name, files, at, line, says, extra=(), out="{tmp}/out") -> Case:
    """``xtreme-train run`` of a PAN-X target from the tiny encoder, with ``files`` laid under tmp."""
    data = {"data/panx/train-en.tsv": NER, "data/panx/dev-en.tsv": NER}
    args = ["run", "--base", "{suite}/encoder", "--targets", "panx", "--data-dir", "{tmp}/data", "--out", out,
            "--max-steps", "2", "--batch-size", "2", "--max-length", "32", "--precision", "no", "--device", "cpu",
            "--no-progress", *extra]
    return Case(name, "train", {**data, **files}, args, at, line, says)


LR_NAN = _block("targets: [xnli]\nhyperparameters:\n  lr: .nan\n")
EPOCHS_INF = _block("targets: [panx]\ntarget_hyperparameters:\n  panx:\n    epochs: .inf\n")
SEED_NEG = _block("seed: -3\ntargets: [xnli]\n")
TEMP_NAN = _block("intermediate:\n  tasks: [mnli, qqp]\n  sampling: temperature\n  temperature: .nan\n")
MLM_LEN = _block("intermediate:\n  tasks: [mnli]\n  mlm: {files: [a.txt], weight: 0.2, max_length: 0}\n")
MLM_NAN = _block("intermediate:\n  tasks: [mnli]\n  mlm:\n    files: [a.txt]\n    weight: .nan\n")
PER_DEVICE = _block("targets: [xnli]\nhyperparameters:\n  batch_size: 32\n  per_device_batch_size: 5\n")

CASES = [
    # --- hyper-parameters and recipe numbers: finite, typed, in range --------------------------------
    recipe("recipe-lr-nan", LR_NAN, 4, "hyperparameters.lr must be a finite number, got nan"),
    recipe("recipe-lr-infinite-in-a-flow-mapping", RECIPE.replace("lr: 1.0e-5", "lr: .inf"),
           line_of(RECIPE, "lr: 1.0e-5"), "intermediate.hyperparameters.lr must be a finite number"),
    recipe("recipe-lr-zero", _block("hyperparameters: {lr: 0}\n"), 2, "lr must be greater than 0"),
    recipe("recipe-lr-a-word", _block("hyperparameters: {lr: fast}\n"), 2, "'hyperparameters.lr' must be a number"),
    recipe("recipe-epochs-infinite", EPOCHS_INF, 5, "target_hyperparameters.panx.epochs must be a finite number"),
    recipe("recipe-epochs-huge", _block("hyperparameters: {epochs: 1.0e+30}\n"), 2, "at most 100000"),
    recipe("recipe-epochs-zero-without-max-steps", _block("hyperparameters:\n  lr: 1.0e-5\n  epochs: 0\n"), 4,
           "epochs must be positive (0 only with max_steps)"),
    recipe("recipe-batch-size-zero", _block("hyperparameters:\n  batch_size: 0\n"), 3,
           "hyperparameters.batch_size must be at least 1"),
    recipe("recipe-batch-size-fraction", _block("hyperparameters:\n  batch_size: 2.5\n"), 3,
           "'hyperparameters.batch_size' must be an integer"),
    recipe("recipe-max-steps-boolean", _block("hyperparameters:\n  max_steps: true\n"), 3,
           "'hyperparameters.max_steps' must be an integer"),
    recipe("recipe-per-device-batch-not-dividing", PER_DEVICE, 5,
           "batch_size 32 is not a multiple of per_device_batch_size 5"),
    recipe("recipe-warmup-above-one", _block("hyperparameters:\n  warmup_ratio: 1.5\n"), 3,
           "warmup_ratio must be at least 0 and at most 1, got 1.5"),
    recipe("recipe-warmup-nan", _block("hyperparameters:\n  warmup_ratio: .nan\n"), 3,
           "warmup_ratio must be a finite number"),
    recipe("recipe-max-length-below-minimum", _block("hyperparameters:\n  max_length: 4\n"), 3,
           "max_length must be at least 8"),
    recipe("recipe-patience-negative", _block("hyperparameters:\n  patience: -1\n"), 3,
           "patience must be at least 1"),
    recipe("recipe-seed-negative", SEED_NEG, 2, "seed must be at least 0"),
    recipe("recipe-seed-too-large", _block("seed: 4294967296\n"), 2, "seed must be at least 0 and at most 4294967295"),
    recipe("recipe-seed-nan", _block("seed: .nan\n"), 2, "'seed' must be an integer"),
    recipe("recipe-temperature-nan", TEMP_NAN, 5, "intermediate.temperature must be a finite number"),
    recipe("recipe-temperature-zero", TEMP_NAN.replace(".nan", "0"), 5,
           "intermediate.temperature must be greater than 0"),
    recipe("recipe-mlm-max-length-zero", MLM_LEN, 4, "intermediate.mlm.max_length must be at least 8"),
    recipe("recipe-mlm-weight-nan", MLM_NAN, 6, "intermediate.mlm.weight must be a finite number"),
    recipe("recipe-precision-unknown", _block("precision: fp8\n"), 2, "precision 'fp8': expected one of auto"),
    recipe("recipe-output-in-a-system-folder", _block("output: /proc/xtreme-runs\n"), 2,
           "output lies in a system folder"),
    # --- output folders of the wrong kind: refused before any work ------------------------------------
    run_case("out-is-a-file", {"taken": "a file\n"}, "taken", None, "--out must be a folder; found a file",
             out="{tmp}/taken"),
    run_case("out-under-a-file", {"taken": "a file\n"}, "taken/run", None, "is a file, not a folder",
             out="{tmp}/taken/run"),
    # --- damaged state of an earlier run: one line naming the file ------------------------------------
    run_case("done-json-truncated", {"out/train/baseline/done.json": '{\n "fingerprint": "0123'},
             "out/train/baseline/done.json", 2, "malformed JSON"),
    run_case("done-json-not-an-object", {"out/train/baseline/done.json": "[1, 2]\n"},
             "out/train/baseline/done.json", None, "finished-phase record must be a JSON object"),
    run_case("done-json-without-fingerprint", {"out/train/baseline/done.json": '{"phase": "baseline"}\n'},
             "out/train/baseline/done.json", None, "lacks a valid 'fingerprint'"),
    run_case("state-json-truncated", {"out/train/panx/checkpoint-last/state.json": '{\n "step": 4,\n "best'},
             "out/train/panx/checkpoint-last/state.json", 3, "malformed JSON"),
    run_case("state-json-wrong-types", {"out/train/panx/checkpoint-last/state.json": '{"step": "4"}\n'},
             "out/train/panx/checkpoint-last/state.json", None, "saved training state lacks a valid 'step'"),
    run_case("state-json-missing-from-a-saved-state",
             {"out/train/panx/checkpoint-last/optimizer.pt": b"\x00" * 16},
             "out/train/panx/checkpoint-last/state.json", None,
             "the saved training state is missing, so the run cannot resume exactly; pass --restart-phase"),
]
