"""Intermediate-task data from the hub path, tested offline: the same load_dataset call on a local dataset copy."""

from __future__ import annotations

import dataclasses

from xtreme_harness.tasks.sources import read_intermediate
from xtreme_harness.tasks.registry import get_intermediate


def test_commonsenseqa_through_load_dataset(tmp_path, hf_cache):
    import datasets

    repo = tmp_path / "commonsense_qa"
    (repo / "data").mkdir(parents=True)
    ds = datasets.Dataset.from_dict({
        "id": ["q1", "q2"],
        "question": ["Where do you keep milk cold?", "What do you use to cut paper?"],
        "question_concept": ["milk", "paper"],
        "choices": [{"label": list("ABCDE"), "text": ["fridge", "oven", "desk", "car", "roof"]},
                    {"label": list("ABCDE"), "text": ["spoon", "scissors", "cup", "lamp", "shoe"]}],
        "answerKey": ["A", "B"]})
    ds.to_parquet(str(repo / "data" / "validation-00000.parquet"))
    (repo / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                    "  - split: validation\n    path: data/validation-*.parquet\n---\n")
    spec = get_intermediate("commonsenseqa")
    src = spec.sources[0]
    local_src = dataclasses.replace(src, hf=dict(src.hf, path=str(repo)))
    spec = dataclasses.replace(spec, sources=(local_src,) if isinstance(spec.sources, tuple) else [local_src])
    loaded = read_intermediate(spec, "dev", mode="hf")
    assert len(loaded.examples) == 2
    first = loaded.examples[0]
    assert first.choices[0] == "fridge" and first.label == 0
    assert loaded.examples[1].label == 1
