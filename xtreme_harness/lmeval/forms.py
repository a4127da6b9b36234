"""How a task family is asked of an lm-eval model: the one place where lm-eval's request types meet our families.

A form turns a family's examples into lm-eval docs (and back), writes the task
template (output type, prompt, filters, metric hooks), turns lm-eval's logged
samples into the family's :class:`~xtreme_harness.families.Predictions`, and
says how a fine-tuned head answers the form's requests (``respond``), so that
``xtreme-encoder`` goes through the same prompts, filters and aggregations as
a prompted LLM. Families without a form have no lm-eval tasks.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..families import Predictions
from ..formats.examples import Answer, PairExample, QAExample, TaggingExample
from ..io.errors import UserError
from .answers import fallback_tag, predicted_index

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
TAG_PROMPTS = {
    "udpos": "its Universal Dependencies part-of-speech tag",
    "panx": "its named-entity tag in the BIO scheme (B- begins an entity, I- continues it, O is no entity)",
}
# The instruction is the task description (said once, before any few-shot examples).
TAG_INSTRUCTION = ("Tag every word of the sentence with {what}. Tags: {tags}.\n"
                   "Answer with one word/TAG pair per word, in order, separated by spaces.\n\n")
TAG_PROMPT = "Sentence: {{tokens | join(' ')}}\nAnswer:"
# How a label is spoken in a prompt, where its name is not a word (PAWS-X's 0/1).
VERBALIZERS: dict[str, dict[str, str]] = {"pawsx": {"0": "No", "1": "Yes"}}
MAX_GEN_TOKS = {"qa": 64, "tagging": 512}


def yaml_quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(yaml_quote(v) for v in values) + "]"


def choices(spec) -> list[str]:
    verbal = VERBALIZERS.get(spec.task, {})
    return [verbal.get(label, label) for label in spec.labels or ()]


def _metric(name: str, aggregation: str, higher: bool = True) -> list[str]:
    return [f"  - metric: {name}", f"    aggregation: !function {HOOKS}.{aggregation}",
            f"    higher_is_better: {'true' if higher else 'false'}"]


def _generation(max_toks: int) -> list[str]:
    return ["generation_kwargs:", "  until: " + _flow(["\n"]), "  do_sample: false", "  temperature: 0.0",
            f"  max_gen_toks: {max_toks}"]


def _filter(name: str, cls: str) -> list[str]:
    """One filter pipeline: our parser, then lm-eval's take_first; logged samples show what it returns."""
    return ["filter_list:", f"  - name: {name}", "    filter:", f"      - function: !function {HOOKS}.{cls}",
            "      - function: take_first"]


class Form:
    generative = False  # answered by generation (requests of type generate_until)
    metrics: tuple[str, ...] = ()  # the figures lm-eval reports that are official XTREME figures
    filter_name = "none"  # the filter key of lm-eval's figures ("f1,answer")

    def rows(self, spec, examples, lang: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def blank(self, spec) -> Any:
        """One example of the right shape, for a task whose data is missing (lm-eval renders one doc at load)."""
        raise NotImplementedError

    def examples(self, spec, docs: Sequence[dict]) -> list:
        """The docs back as the family's examples (what a fine-tuned head is run on)."""
        raise NotImplementedError

    def template(self, spec) -> list[str]:
        raise NotImplementedError

    def predictions(self, spec, lang: str, examples: list, samples: list[dict], stats: dict) -> Predictions:
        raise NotImplementedError

    def respond(self, spec, predictions: Predictions) -> list[str]:
        """A head's predictions as generations the form's filter reads back unchanged (generative forms)."""
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
                 "label_index": labels.index(ex.label), "labels": labels, "choices": choices(spec)}
                for ex in examples]

    def blank(self, spec):
        return PairExample(id="", text_a="", text_b="", label=spec.labels[0])

    def examples(self, spec, docs):
        return [PairExample(id=d["id"], text_a=d["text_a"], text_b=d["text_b"], label=d["label"]) for d in docs]

    def template(self, spec):
        prompt = PROMPTS.get(spec.task) or GENERIC_PAIR_PROMPT.replace("{labels}", ", ".join(choices(spec)))
        return ["output_type: multiple_choice",
                f"doc_to_text: {yaml_quote(prompt)}",
                "doc_to_target: label_index",
                "doc_to_choice: choices",
                f"process_results: !function {HOOKS}.process_classification",
                "metric_list:",
                *_metric("accuracy", "percent"),
                *_metric("acc_norm", "percent"),
                *_metric("macro_f1", "macro_f1_percent")]

    def predictions(self, spec, lang, examples, samples, stats):
        output = [s["doc"]["labels"][predicted_index(s["filtered_resps"])] for s in samples]
        extra = [{"loglikelihoods": [float(r[0]) for r in s["filtered_resps"]]} for s in samples]
        return Predictions(spec.task, lang, examples, output, stats, extra=extra)


class SpanGeneration(Form):
    """Extractive QA as generation; the filter keeps the first line of the answer, which is scored."""

    generative = True
    metrics = ("exact_match", "f1")
    filter_name = "answer"

    def rows(self, spec, examples, lang):
        if any(not ex.answers for ex in examples):
            raise UserError(f"{spec.task}/{lang}: some questions have no gold answer (lm-eval needs them to score)")
        return [{"id": ex.id, "lang": lang, "title": ex.title, "context": ex.context, "question": ex.question,
                 "answers": [a.text for a in ex.answers], "answer_starts": [a.start for a in ex.answers]}
                for ex in examples]

    def blank(self, spec):
        return QAExample(id="", question="", context="", answers=[Answer(text="", start=0)])

    def examples(self, spec, docs):
        return [QAExample(id=d["id"], question=d["question"], context=d["context"], title=d["title"],
                          answers=[Answer(text=t, start=s) for t, s in zip(d["answers"], d["answer_starts"])])
                for d in docs]

    def template(self, spec):
        hook = "process_mlqa" if spec.metrics.official == "mlqa" else "process_squad"
        return ["output_type: generate_until",
                f"doc_to_text: {yaml_quote(QA_PROMPT)}",
                f"doc_to_target: !function {HOOKS}.qa_target",
                *_generation(MAX_GEN_TOKS["qa"]),
                *_filter(self.filter_name, "AnswerFilter"),
                f"process_results: !function {HOOKS}.{hook}",
                "metric_list:",
                *_metric("exact_match", "qa_percent"),
                *_metric("f1", "qa_percent")]

    def predictions(self, spec, lang, examples, samples, stats):
        output = {ex.id: s["filtered_resps"][0] for ex, s in zip(examples, samples)}
        extra = [{"generation": str(s["resps"][0][0])} for s in samples]
        return Predictions(spec.task, lang, examples, output, stats, extra=extra)

    def respond(self, spec, predictions):
        # A span may hold a line break, which the filter would cut; whitespace never changes EM/F1.
        return [" ".join(predictions.output[ex.id].split("\n")) for ex in predictions.examples]


class TagGeneration(Form):
    """Sequence tagging as generation: one word/TAG pair per word; the filter parses the tags and counts misfits."""

    generative = True
    filter_name = "tags"

    metrics = ("f1",)

    def rows(self, spec, examples, lang):
        if any(ex.tags is None for ex in examples):
            raise UserError(f"{spec.task}/{lang}: no gold tags (lm-eval needs them to score); expected them in the "
                            "data file or in the labels file the task spec names")
        tag_set = list(spec.labels)
        return [{"id": ex.id, "lang": lang, "tokens": list(ex.tokens), "tags": list(ex.tags), "tag_set": tag_set}
                for ex in examples]

    def blank(self, spec):
        return TaggingExample(id="", tokens=[""], tags=[fallback_tag(spec.labels)])

    def examples(self, spec, docs):
        return [TaggingExample(id=d["id"], tokens=list(d["tokens"]), tags=list(d["tags"])) for d in docs]

    def template(self, spec):
        what = TAG_PROMPTS.get(spec.task, "its tag")
        instruction = TAG_INSTRUCTION.format(what=what, tags=", ".join(spec.labels))
        official = "pos_chunk_f1" if spec.metrics.official == "pos_chunk_f1" else "seqeval_f1"
        return ["output_type: generate_until",
                f"description: {yaml_quote(instruction)}",
                f"doc_to_text: {yaml_quote(TAG_PROMPT)}",
                f"doc_to_target: !function {HOOKS}.tag_target",
                *_generation(MAX_GEN_TOKS["tagging"]),
                *_filter(self.filter_name, "TagFilter"),
                f"process_results: !function {HOOKS}.process_tagging",
                "metric_list:",
                *_metric("f1", official),
                *_metric("token_accuracy", "token_accuracy"),
                *_metric("length_mismatch", "percent", higher=False),
                *_metric("invalid_tags", "percent", higher=False)]

    def predictions(self, spec, lang, examples, samples, stats):
        output = [list(s["filtered_resps"][0]) for s in samples]
        extra = [{"generation": str(s["resps"][0][0]), "parsed_tags": s["filtered_resps"][0].parsed,
                  "invalid_tags": s["filtered_resps"][0].invalid} for s in samples]
        return Predictions(spec.task, lang, examples, output, stats, extra=extra)

    def respond(self, spec, predictions):
        # Bare tags, one per word: the parser's unambiguous form (words may hold spaces or slashes).
        return [" ".join(tags) for tags in predictions.output]


FORMS: dict[str, Form] = {"classification": PairChoice(), "qa": SpanGeneration(), "tagging": TagGeneration()}


def form_of(spec) -> Form | None:
    return FORMS.get(spec.family)
