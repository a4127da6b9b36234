"""Producers: whatever turns examples into predictions, behind one protocol (:mod:`.base`).

Transformers checkpoints with task heads (:mod:`.native`, resolved by
:mod:`.checkpoints` and :mod:`.manifest`), sentence-transformers models for the
retrieval tasks (:mod:`.sentence_transformers`), and what they share: the
batched inference engine (:mod:`.engine`, :mod:`.distributed`) and sentence
embeddings (:mod:`.embedding`). lm-eval models are producers too
(:mod:`xtreme_harness.lmeval.producer`).
"""
