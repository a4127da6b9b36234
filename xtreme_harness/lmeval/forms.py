"""How a task family is asked of an lm-eval model: the one place where lm-eval's request types meet our families.

A form turns a family's examples into lm-eval docs, writes the task template
(output type, prompt, hooks, metrics), and turns lm-eval's logged samples back
into the family's :class:`~xtreme_harness.families.Predictions`, which are then
scored and written like every other producer's. Families without a form have
no lm-eval tasks.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..errors import UserError
from ..families import Predictions

HOOKS = "xtreme_harness.lmeval.utils"
# Prompts are English instructions around the untouched example text (PAWS-X keeps its
# original sentence pair, never rewritten into one sentence), ending where the answer begins.
PROMPTS = {
    "xnli": ("Premise: {{text_a}}\nHypothesis: {{text_b}}\n"
             "Question: Does the premise entail the hypothesis, contradict it, or neither (neutral)?\nAnswer:"),
    "pawsx": ("Sentence 1: {{text_a}}\nSentence 2: {{text_b}}\n"
              "Question: Do Sentence 1 and Sentence 2 mean the same thing? Yes or No?\nAnswer:"),
}
GENERIC_PAIR_PROMPT = ("Text 1: {{text_a}}\nText 2: {{text_b}}\n"
                       "Question: Which label fits this pair: {labels}?\nAnswer:")
QA_PROMPT = "Context: {{context}}\nQuestion: {{question}}\nAnswer:"
# How a label is spoken in a prompt, where its name is not a word (PAWS-X's 0/1).
VERBALIZERS: dict[str, dict[str, str]] = {"pawsx": {"0": "No", "1": "Yes"}}
MAX_GEN_TOKS = 64


def yaml_quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(yaml_quote(v) for v in values) + "]"


def choices(spec) -> list[str]:
    verbal = VERBALIZERS.get(spec.task, {})
    return [verbal.get(label, label) for label in spec.labels or ()]


class Form:
    generative = False  # answered by generation (an encoder's classification head cannot)
    metrics: tuple[str, ...] = ()

    def rows(self, spec, examples, lang: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def template(self, spec) -> list[str]:
        raise NotImplementedError

    def predictions(self, spec, lang: str, examples: list, samples: list[dict], stats: dict) -> Predictions:
        raise NotImplementedError


class PairChoice(Form):
    """Sentence-pair classification as multiple choice over the label verbalisations."""

    metrics = ("accuracy",)

    def rows(self, spec, examples, lang):
        labels = list(spec.labels or ())
        if any(ex.label is None for ex in examples):
            raise UserError(f"{spec.task}/{lang}: no gold labels (lm-eval needs them to score); expected them in the "
                            "data file or in the labels file the task spec names")
        return [{"id": ex.id, "lang": lang, "text_a": ex.text_a, "text_b": ex.text_b, "label": ex.label,
                 "label_index": labels.index(ex.label), "labels": labels} for ex in examples]

    def template(self, spec):
        prompt = PROMPTS.get(spec.task) or GENERIC_PAIR_PROMPT.replace("{labels}", ", ".join(choices(spec)))
        return ["output_type: multiple_choice",
                f"doc_to_text: {yaml_quote(prompt)}",
                "doc_to_target: label_index",
                f"doc_to_choice: {_flow(choices(spec))}",
                f"process_results: !function {HOOKS}.process_classification",
                "metric_list:",
                "  - metric: accuracy",
                f"    aggregation: !function {HOOKS}.accuracy_percent",
                "    higher_is_better: true",
                "  - metric: macro_f1",
                f"    aggregation: !function {HOOKS}.macro_f1_percent",
                "    higher_is_better: true"]

    def predictions(self, spec, lang, examples, samples, stats):
        from .utils import predicted_index

        output = [s["doc"]["labels"][predicted_index(s["filtered_resps"])] for s in samples]
        extra = [{"loglikelihoods": [float(r[0]) for r in s["filtered_resps"]]} for s in samples]
        return Predictions(spec.task, lang, examples, output, stats, extra=extra)


class SpanGeneration(Form):
    """Extractive QA as generation; the first line of the answer is the prediction."""

    generative = True
    metrics = ("exact_match", "f1")

    def rows(self, spec, examples, lang):
        if any(not ex.answers for ex in examples):
            raise UserError(f"{spec.task}/{lang}: some questions have no gold answer (lm-eval needs them to score)")
        return [{"id": ex.id, "lang": lang, "title": ex.title, "context": ex.context, "question": ex.question,
                 "answers": [a.text for a in ex.answers], "answer_starts": [a.start for a in ex.answers]}
                for ex in examples]

    def template(self, spec):
        hook = "process_mlqa" if spec.metrics.official == "mlqa" else "process_squad"
        lines = ["output_type: generate_until",
                 f"doc_to_text: {yaml_quote(QA_PROMPT)}",
                 f"doc_to_target: !function {HOOKS}.qa_target",
                 "generation_kwargs:",
                 "  until: " + _flow(["\n"]),
                 "  do_sample: false",
                 "  temperature: 0.0",
                 f"  max_gen_toks: {MAX_GEN_TOKS}",
                 f"process_results: !function {HOOKS}.{hook}",
                 "metric_list:"]
        for metric in self.metrics:
            lines += [f"  - metric: {metric}",
                      f"    aggregation: !function {HOOKS}.qa_percent",
                      "    higher_is_better: true"]
        return lines

    def predictions(self, spec, lang, examples, samples, stats):
        from .utils import answer_text

        raw = [s["filtered_resps"][0] for s in samples]
        output = {ex.id: answer_text(r) for ex, r in zip(examples, raw)}
        extra = [{"generation": r if isinstance(r, str) else str(r)} for r in raw]
        return Predictions(spec.task, lang, examples, output, stats, extra=extra)


FORMS: dict[str, Form] = {"classification": PairChoice(), "qa": SpanGeneration()}


def form_of(spec) -> Form | None:
    return FORMS.get(spec.family)
