"""Tasks: the registry of task specs (the YAML files beside this module), reading a task's data, scoring it.

This layer joins specs to their families: :mod:`.registry` validates each spec
against the family it names, :mod:`.data` reads one (task, language, split)
from a folder in XTREME's layout or from the hub, :mod:`.sources` reads the
intermediate tasks' sources, :mod:`.scoring` computes the official figures
of a language and aggregates them as ``evaluate.py`` does, and :mod:`.results`
writes and reads the files every producer's predictions end in.
"""
