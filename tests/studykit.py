"""Fixtures of a STILTs study at toy scale: local copies of the intermediate tasks' hub repositories, in the
hub's own format (a README ``configs:`` block and parquet files, as tests/test_readers.py's ``_hf_repo``), the
demo's data, base encoder and demo_nli intermediate spec."""

from __future__ import annotations

import random
from pathlib import Path

NLI = ["entailment", "neutral", "contradiction"]
WORDS = ("the a cat dog house tree car river city book runs eats sees takes makes finds holds reads big small red "
         "old new near far").split()


def _sent(rng: random.Random, n: int = 6) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + " ."


def hub_repo(root: Path, repo: str, configs: dict[str, dict[str, dict]], features: dict[str, object] | None = None
             ) -> Path:
    """A local copy of a hub dataset repository: ``configs[name][split] = columns`` (a dict of lists);
    ``features[name]`` the datasets.Features of a config (else inferred). Config ``default`` is the one
    ``load_dataset(path)`` reads without a config name."""
    import datasets

    datasets.disable_progress_bars()
    folder = root / repo
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines.append(f"- config_name: {name}")
        lines.append("  data_files:")
        for split, columns in splits.items():
            ds = datasets.Dataset.from_dict(columns, features=(features or {}).get(name))
            rel = f"{name}/{split}-00000-of-00001.parquet"
            (folder / name).mkdir(parents=True, exist_ok=True)
            ds.to_parquet(str(folder / rel))
            lines += [f"  - split: {split}", f"    path: {rel}"]
    lines.append("---")
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _nli_features(*extra: str):
    import datasets

    cols = {"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=NLI)}
    cols.update({c: datasets.Value("string") for c in extra})
    return datasets.Features(cols)


def _nli(rng: random.Random, n: int, uid: bool = False, unlabelled: int = 0) -> dict:
    out = {"premise": [_sent(rng) for _ in range(n)], "hypothesis": [_sent(rng, 4) for _ in range(n)],
           "label": [rng.randrange(3) for _ in range(n)]}
    for i in range(unlabelled):
        out["label"][i] = -1  # SNLI's items without a gold label
    if uid:
        out["uid"] = [f"u{rng.randrange(10**6)}-{i}" for i in range(n)]
    return out


def _squad(rng: random.Random, n: int, impossible: int = 0) -> dict:
    rows: dict[str, list] = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    for i in range(n):
        context = " ".join(_sent(rng, 8) for _ in range(2))
        words = context.split()
        answer = words[3]
        start = context.index(answer)
        rows["id"].append(f"q{i}")
        rows["title"].append(f"Article {i // 3}")
        rows["context"].append(context)
        rows["question"].append("What is " + " ".join(words[:2]) + " ?")
        empty = i < impossible
        rows["answers"].append({"text": [] if empty else [answer], "answer_start": [] if empty else [start]})
    return rows


def intermediate_hub(root: Path, n: int = 12, seed: int = 0) -> Path:
    """Local copies of every hub repository the built-in intermediate specs read, with ``n`` rows per split."""
    import datasets

    rng = random.Random(seed)
    anli = {}
    for r in (1, 2, 3):
        anli[f"train_r{r}"] = {**_nli(rng, n, uid=True), "reason": [""] * n}
        anli[f"dev_r{r}"] = {**_nli(rng, n, uid=True), "reason": [""] * n}
    hub_repo(root, "facebook/anli", {"default": anli}, {"default": _nli_features("uid", "reason")})
    glue_qqp = datasets.Features({"question1": datasets.Value("string"), "question2": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["not_duplicate", "duplicate"]),
                                  "idx": datasets.Value("int32")})
    qqp = {s: {"question1": [_sent(rng) + "\tand a tab" if i == 0 else _sent(rng) for i in range(n)],
               "question2": [_sent(rng) + "\nwith a line break" if i == 1 else _sent(rng) for i in range(n)],
               "label": [rng.randrange(2) for _ in range(n)], "idx": list(range(n))} for s in ("train", "validation")}
    mnli = {s: {**_nli(rng, n), "idx": list(range(n))} for s in ("train", "validation_matched")}
    mnli_features = datasets.Features({**_nli_features(), "idx": datasets.Value("int32")})
    hub_repo(root, "nyu-mll/glue", {"mnli": mnli, "qqp": qqp}, {"mnli": mnli_features, "qqp": glue_qqp})
    hub_repo(root, "stanfordnlp/snli", {"default": {"train": _nli(rng, n, unlabelled=2)}},
             {"default": _nli_features()})
    hub_repo(root, "rajpurkar/squad", {"plain_text": {"train": _squad(rng, n), "validation": _squad(rng, n)}})
    hub_repo(root, "rajpurkar/squad_v2", {"squad_v2": {"train": _squad(rng, n, impossible=3),
                                                       "validation": _squad(rng, n, impossible=3)}})
    hub_repo(root, "Rowan/hellaswag", {"default": {s: {
        "ind": list(range(n)), "ctx": [_sent(rng) for _ in range(n)],
        "endings": [[_sent(rng, 3) for _ in range(4)] for _ in range(n)],
        "label": [str(rng.randrange(4)) for _ in range(n)]} for s in ("train", "validation")}})
    hub_repo(root, "allenai/cosmos_qa", {"default": {s: {
        "id": [f"c{s}{i}" for i in range(n)], "context": [" " + _sent(rng, 10) if i == 0 else _sent(rng, 10)
                                                          for i in range(n)],
        "question": [_sent(rng, 4) for _ in range(n)],
        **{f"answer{k}": [_sent(rng, 3) + (", with a comma" if k == 0 else "") for _ in range(n)]
           for k in range(4)},
        "label": [rng.randrange(4) for _ in range(n)]} for s in ("train", "validation")}})
    letters = list("ABCDE")
    hub_repo(root, "tau/commonsense_qa", {"default": {s: {
        "id": [f"k{s}{i}" for i in range(n)], "question": [_sent(rng, 5) for _ in range(n)],
        "question_concept": ["thing"] * n,
        "choices": [{"label": letters, "text": [rng.choice(WORDS) for _ in letters]} for _ in range(n)],
        "answerKey": [rng.choice(letters) for _ in range(n)]} for s in ("train", "validation")}})
    return root


def demo_study_inputs(root: Path, hidden: int = 32, layers: int = 2, size: str = "tiny",
                      languages: tuple[str, ...] = ("en", "de")) -> dict[str, Path]:
    """The demo's data, a tiny base encoder built with the demo's builders, and the demo_nli intermediate spec
    the demo writes."""
    from xtreme_harness.demo import (
        DEMO_NLI_SPEC,
        build_encoder,
        build_tokenizer,
        demo_corpus,
    )
    from xtreme_harness.demo_data import write_demo_data

    data = write_demo_data(root / "download", list(languages), seed=0, size=size)
    tok = build_tokenizer(demo_corpus(data, list(languages)), None)
    base = build_encoder(root / "base", tok, hidden=hidden, layers=layers, heads=2, seed=0)
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    (specs / "demo_nli.yaml").write_text(DEMO_NLI_SPEC.format(
        train=(data / "xnli" / "train-en.tsv").resolve().as_posix(),
        dev=(data / "xnli" / "dev-en.tsv").resolve().as_posix()), encoding="utf-8")
    return {"data": data, "base": base, "specs": specs}
