"""Task specs: the built-in nine, validation messages, and user spec folders."""

from __future__ import annotations

import pytest

from xtreme_harness.io.errors import UserError
from xtreme_harness.spec import benchmark_categories, benchmark_tasks
from xtreme_harness.tasks.registry import load_spec, registry, resolve_tasks

GOOD = """\
task: xnli_tr_news
name: XNLI (news domain)
family: classification
format: tsv_pair
benchmarks:
  custom: {category: classification, languages: [en, tr]}
splits:
  test: {path: "news/test-{lang}.tsv"}
labels: [contradiction, entailment, neutral]
metrics: {official: accuracy, primary: [accuracy]}
submission: {ext: tsv, format: labels}
"""


def test_builtin_specs_cover_xtreme():
    specs = registry()
    assert set(benchmark_tasks("xtreme")) <= set(specs)
    assert len(specs["panx"].languages("xtreme")) == 40
    assert len(specs["panx"].languages("xtreme-r")) == 48
    assert specs["udpos"].metrics.official == "pos_chunk_f1"
    assert specs["xquad"].metrics.primary == ("exact_match", "f1")
    assert specs["pawsx"].languages("xtreme-r") == ()
    assert benchmark_categories("xtreme")["qa"] == ["xquad", "mlqa", "tydiqa"]
    for spec in specs.values():
        assert spec.citation
        if spec.task in benchmark_tasks("xtreme"):
            assert spec.hf is not None
    assert [s.task for s in resolve_tasks("all")] == benchmark_tasks("xtreme")
    # XTREME-R: every task of evaluate.py has a spec; LAReQA keeps evaluate.py's empty language list
    assert set(benchmark_tasks("xtreme-r")) <= set(specs)
    assert [s.task for s in resolve_tasks("all", "xtreme-r")] == benchmark_tasks("xtreme-r")
    assert specs["lareqa"].languages("xtreme-r") == () and len(specs["lareqa"].all_languages()) == 11
    assert specs["xcopa"].family == "multiple_choice" and specs["mewslix"].metrics.official == "mewslix_map20"


def _write(tmp_path, text, name="t.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_user_spec_folder_adds_a_task(tmp_path):
    _write(tmp_path, GOOD)
    specs = registry([str(tmp_path)])
    assert "xnli_tr_news" in specs and "xnli" in specs
    assert resolve_tasks("xnli_tr_news", task_dirs=[str(tmp_path)])[0].languages("custom") == ("en", "tr")


@pytest.mark.parametrize("mutate, message, line", [
    (lambda t: t + "colour: blue\n", "unknown key 'colour'", 12),
    (lambda t: t.replace("official: accuracy", "official: bleu"), "unknown metric 'bleu'", 10),
    (lambda t: t.replace("labels: [contradiction, entailment, neutral]", "labels: contradiction"),
     "'labels' must be a list", 9),
    (lambda t: t.replace("family: classification", "family: sorting"), "unknown family 'sorting'", 3),
    (lambda t: t.replace("primary: [accuracy]", "primary: [f1]"), "primary figure 'f1'", 10),
    (lambda t: t.replace("task: xnli_tr_news", "task: ../evil"), "must be a plain name", 1),
    (lambda t: t.replace("  custom: {", "  custom: {bad: 1, "), "unknown key 'benchmarks.custom.bad'", 6),
])
def test_invalid_specs_name_file_line_and_problem(tmp_path, mutate, message, line):
    p = _write(tmp_path, mutate(GOOD))
    with pytest.raises(UserError) as err:
        load_spec(p)
    text = str(err.value)
    assert message in text
    assert text.startswith(f"{p}:{line}: "), text


def test_yaml_is_loaded_safely(tmp_path):
    p = _write(tmp_path, "task: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError, match="invalid YAML"):
        load_spec(p)
