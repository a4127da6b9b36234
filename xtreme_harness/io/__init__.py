"""The leaf layer: errors, files, strict JSON and YAML, the record of what a run read, option declarations.

Nothing here knows a task, a family or a model; every layer above reads and
writes through it, so that BOMs, line ends, size caps, atomic writes, umask,
duplicate keys and one-line errors are handled once.
"""
