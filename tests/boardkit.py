"""Builders for leaderboard fixtures: trainer runs across seeds (results.json with ``model.training`` and per-example
records, as ``xtreme-eval`` writes them) and lm-eval results files in the shape ``lm_eval --output_path`` writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from test_leaderboard import results_doc, scored_from, write_json, write_records
from xtreme_harness.spec import benchmark
from xtreme_harness.tasks.registry import registry

BASE = "xlm-roberta-large"
SHA = "1e1b6f4a5c0e7d5b2f3a4c6d8e9f0a1b2c3d4e5f"
FINGERPRINT = "9c4f2a0d77e1b3c5"
PARAMS = 560_000_000


def training(seed, intermediate=(), mlm=None, base=BASE, params=PARAMS, target=None, fingerprint=FINGERPRINT):
    """``model.training`` exactly as the contract gives it."""
    return {"seed": seed, "intermediate": list(intermediate), "mlm": mlm, "base_model": base,
            "base_model_revision": SHA, "base_model_fingerprint": fingerprint, "parameters": params,
            "target": target if target is not None else
            {"xnli": {"learning_rate": 1e-05, "batch_size": 32, "epochs": 2, "max_length": 256},
             "pawsx": {"learning_rate": 1e-05, "batch_size": 32, "epochs": 5, "max_length": 256}}}


def flags(n: int, right: int, offset: int = 0) -> list[int]:
    """``n`` 0/1 correctness flags with ``right`` ones, starting at ``offset`` (wrapping)."""
    out = [0] * n
    for i in range(right):
        out[(offset + i) % n] = 1
    return out


def trainer_run(root: Path, folder: str, seed: int, intermediate=(), mlm=None, *, xnli: dict[str, list[int]],
                pawsx: dict[str, float] | None = None, extra: dict | None = None, split: str = "test",
                name: str | None = None, **kw) -> Path:
    """One (run, seed) output folder: XNLI from per-example correctness flags (records written), PAW-X figures
    without records, any other tasks from ``extra`` ({task: {lang: {figure: value}}}) without records."""
    run = root / folder
    per_task: dict = {"xnli": {}}
    for lang, fl in xnli.items():
        recs = [{"id": f"{lang}-{i}", "pred": "entailment", "gold": "entailment" if c else "neutral", "correct": c}
                for i, c in enumerate(fl)]
        write_records(run, "xnli", lang, recs)
        per_task["xnli"][lang] = {"accuracy": 100.0 * sum(fl) / len(fl)}
    if pawsx:
        per_task["pawsx"] = {lang: {"accuracy": v} for lang, v in pawsx.items()}
    custom = {}
    for task, by_lang in (extra or {}).items():
        if task in registry():
            per_task[task] = by_lang
        else:
            custom[task] = by_lang
    doc = results_doc(scored_from(per_task), name=name or folder, intermediate=list(intermediate),
                      base_model=BASE if intermediate or mlm else None, path=f"sweep/{folder}")
    doc["model"]["training"] = training(seed, intermediate, mlm, **kw)
    for task, by_lang in custom.items():
        doc["tasks"][task] = custom_task_scores(by_lang)
        doc["coverage"][task] = {"complete": True, "languages": list(by_lang), "missing": []}
    for t in doc["tasks"].values():
        t["split"] = split
    return write_json(run / "results.json", doc)


def custom_task_scores(by_lang: dict[str, dict[str, float]], primary=None) -> dict:
    """A --task-dir task's block as xtreme-eval writes it: every figure averaged; avg_metric over the primary."""
    figs = {}
    for lang, values in by_lang.items():
        for k, v in values.items():
            figs.setdefault(k, {})[lang] = v
    block: dict = dict(figs)
    for k, per in figs.items():
        block[f"avg_{k}"] = sum(per.values()) / len(per)
    primary = primary or list(figs)
    block["avg_metric"] = sum(block[f"avg_{k}"] for k in primary) / len(primary)
    block["n"] = {lang: 10 for lang in by_lang}
    return block


def xnli_langs() -> list[str]:
    return list(registry()["xnli"].languages("xtreme"))


def full(task: str, value: float) -> dict:
    spec = registry()[task]
    return {lang: {k: value for k in spec.metrics.primary} for lang in spec.languages("xtreme")}


def complete_doc(name: str, version: str = "xtreme", value: float = 60.0, step: float = 0.0, parameters=None,
                  **model) -> dict:
    """A complete run of ``version``: every task in every language (LAReQA's whole language list for XTREME-R,
    as the harness scores it), figures ``value`` (+ ``step`` per language, so English differs from the rest)."""
    from test_leaderboard import results_doc
    from xtreme_harness.tasks.scoring import aggregate_task, overall_scores

    tasks, coverage = {}, {}
    for task in benchmark(version)["tasks"]:
        spec = registry()[task]
        langs = list(spec.languages(version) or spec.all_languages())
        per_lang = {lang: {k: min(100.0, value + step * i) for k in spec.metrics.primary}
                    for i, lang in enumerate(langs)}
        tasks[task] = aggregate_task(spec, per_lang, None, langs, langs)
        coverage[task] = {"complete": True, "languages": langs, "missing": []}
    official, secondary = overall_scores(tasks, set(tasks), version)
    scored = {"overall": official, "tasks": tasks, "coverage": coverage, "partial": False, "version": version}
    doc = results_doc(scored, name=name, **model)
    if secondary:
        doc["overall_secondary"] = secondary
    if parameters is not None:
        doc["model"]["parameters"] = parameters
    return doc


# --- lm-eval ----------------------------------------------------------------------------------------------

FILTERS = {"xnli": "none", "pawsx": "none", "udpos": "tags", "panx": "tags", "xquad": "answer", "mlqa": "answer",
           "tydiqa": "answer"}
EXTRA = {"none": {"acc_norm": 0.0, "macro_f1": 0.0}, "tags": {"token_accuracy": 0.0, "length_mismatch": 0.0,
                                                             "invalid_tags": 0.0}, "answer": {}}


def lmeval_file(path: Path, figures: dict[str, dict[str, dict[str, float]]], *, model: str = "hf",
                model_args="pretrained=Qwen/Qwen2.5-0.5B-Instruct,dtype=bfloat16", model_name=None,
                n_shot: int = 0, split: str = "test", other_tasks: dict | None = None, limit=None) -> Path:
    """A results file in the shape lm-eval 0.4.13 writes (``results_<time>.json``): ``results`` (per-language
    tasks, groups and the umbrella group), ``groups``, ``group_subtasks``, ``configs`` with our metadata,
    ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config`` and the tracker's fields.
    ``figures``: {task: {lang: {metric: value}}}; every other XTREME language of the task is listed with
    ``sample_len: 0`` and no figures, as lm-eval lists a language it had no data for."""
    results, groups, subtasks, configs, versions, shots, hib, nsamples = {}, {}, {}, {}, {}, {}, {}, {}
    for task, by_lang in figures.items():
        spec = registry()[task]
        filt = FILTERS[task]
        group = f"xtreme_{task}"
        names = []
        for lang in spec.languages("xtreme"):
            name = f"{group}_{lang}"
            names.append(name)
            entry = {"name": name, "alias": name, "sample_len": 0}
            if lang in by_lang:
                entry["sample_len"] = 20
                for metric, v in by_lang[lang].items():
                    entry[f"{metric},{filt}"] = v
                    entry[f"{metric}_stderr,{filt}"] = "N/A"
                for metric, v in EXTRA[filt].items():
                    entry[f"{metric},{filt}"] = v
                    entry[f"{metric}_stderr,{filt}"] = "N/A"
            results[name] = entry
            configs[name] = {"task": name, "dataset_kwargs": {"xtreme_task": task, "xtreme_lang": lang},
                             "test_split": "test", "num_fewshot": n_shot,
                             "metadata": {"version": 1.0, "xtreme_task": task, "xtreme_lang": lang,
                                          "xtreme_split": split, "xtreme_data_dir": "/data/download",
                                          "xtreme_limit": limit, "xtreme_data_fingerprint": "24256ae956ccb31c",
                                          "xtreme_harness_version": "0.2.0"}}
            versions[name] = 1.0
            shots[name] = n_shot
            hib[name] = {m: True for m in spec.metrics.primary}
            nsamples[name] = {"original": 20 if lang in by_lang else 0, "effective": 20 if lang in by_lang else 0}
        g = {"alias": group, "name": group, "sample_len": 20 * len(by_lang)}
        for metric in spec.metrics.primary:
            vals = [by_lang[lang][metric] for lang in by_lang if metric in by_lang[lang]]
            if vals:
                g[f"{metric},{filt}"] = sum(vals) / len(vals)
                g[f"{metric}_stderr,{filt}"] = "N/A"
        g["sample_count"] = {f"{m},{filt}": 20 * len(by_lang) for m in spec.metrics.primary}
        results[group] = copy.deepcopy(g)
        groups[group] = g
        subtasks[group] = names
        versions[group] = "1.0"
        shots[group] = n_shot
    if len(figures) > 1:
        results["xtreme"] = {"alias": "xtreme", "name": "xtreme", "sample_len": sum(
            g["sample_len"] for g in groups.values())}
        subtasks["xtreme"] = list(groups)
    for name, entry in (other_tasks or {}).items():
        results[name] = entry
    doc = {"results": results, "groups": groups, "group_subtasks": subtasks, "configs": configs,
           "versions": versions, "n-shot": shots, "higher_is_better": hib, "n-samples": nsamples,
           "config": {"model": model, "model_args": model_args, "batch_size": 1, "batch_sizes": [],
                      "device": "cuda:0", "use_cache": None, "limit": limit, "bootstrap_iters": 100000,
                      "gen_kwargs": {}, "random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234,
                      "fewshot_seed": 1234},
           "git_hash": None, "date": 1796616385.323949, "pretty_env_info": "PyTorch version: 2.13.0+cpu",
           "transformers_version": "5.25.0", "lm_eval_version": "0.4.13", "upper_git_hash": None,
           "task_hashes": {}, "model_source": model,
           "model_name": model_name if model_name is not None else _pretrained(model_args),
           "model_name_sanitized": "model", "system_instruction": None, "system_instruction_sha": None,
           "fewshot_as_multiturn": False, "chat_template": None, "chat_template_sha": None,
           "start_time": 1.0, "end_time": 2.0, "total_evaluation_time_seconds": "34.9"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _pretrained(args) -> str:
    if isinstance(args, dict):
        return str(args.get("pretrained", ""))
    for part in str(args or "").split(","):
        if part.startswith("pretrained="):
            return part[len("pretrained="):]
    return ""
