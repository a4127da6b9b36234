"""Tiny random-weight checkpoints built inside the tests (fast tier): real transformers classes, tiny shapes."""

from __future__ import annotations

from pathlib import Path

UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
NER = "O B-PER I-PER B-ORG I-ORG B-LOC I-LOC".split()
HEADS = {
    "xnli": ("XLMRobertaForSequenceClassification", ["contradiction", "entailment", "neutral"]),
    "pawsx": ("XLMRobertaForSequenceClassification", ["0", "1"]),
    "udpos": ("XLMRobertaForTokenClassification", UPOS),
    "panx": ("XLMRobertaForTokenClassification", NER),
    "xquad": ("XLMRobertaForQuestionAnswering", None),
    "mlqa": ("XLMRobertaForQuestionAnswering", None),
    "tydiqa": ("XLMRobertaForQuestionAnswering", None),
    "encoder": ("XLMRobertaModel", None),
    "xcopa": ("XLMRobertaForMultipleChoice", None),
}

CORPUS = [
    "The cat sat on the mat in Paris .", "Die Katze saß auf der Matte in Berlin .",
    "El gato se sentó en la alfombra en Madrid .", "猫坐在北京的垫子上。", "แมวนั่งบนเสื่อในกรุงเทพ",
    "القطة جلست على الحصيرة في القاهرة", "猫がマットの上に座った。", "Кошка сидела на коврике в Москве .",
]


def build_tokenizer(out: Path):
    """A WordPiece tokenizer trained on a few multilingual lines, saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(CORPUS * 3, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(str(out))
    return fast


def build_checkpoint(out: Path, cls_name: str, labels=None, layers: int = 2, seed: int = 0, tokenizer=None):
    import torch
    import transformers

    torch.manual_seed(seed)
    tok = tokenizer or build_tokenizer(out)
    cfg = transformers.XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=layers,
                                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=520,
                                        pad_token_id=tok.pad_token_id, type_vocab_size=2)
    if labels:
        cfg.id2label = {i: l for i, l in enumerate(labels)}
        cfg.label2id = {l: i for i, l in enumerate(labels)}
    model = getattr(transformers, cls_name)(cfg)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def build_suite(root: Path, tasks=None, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(root / "_tokenizer")
    for i, (task, (cls_name, labels)) in enumerate(HEADS.items()):
        if tasks is None or task in tasks:
            build_checkpoint(root / task, cls_name, labels, seed=seed + i, tokenizer=tok)
    return root


def build_causal_lm(out: Path, texts, seed: int = 0) -> Path:
    """A one-layer GPT-2 with a word-level tokenizer trained on ``texts``: a real causal LM for lm-eval's hf model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    words = [*texts, "Answer : Question : Context : Sentence : entailment neutral contradiction Yes No"]
    tok.train_from_iterator(words, trainers.WordLevelTrainer(vocab_size=500, special_tokens=["[UNK]", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<eos>", bos_token="<eos>",
                                   pad_token="<eos>")
    fast.save_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=1024, n_embd=32, n_layer=1, n_head=2,
                     bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(str(out))
    return out
