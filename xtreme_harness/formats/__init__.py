"""The file formats of XTREME and XTREME-R, read strictly and written exactly, knowing no task family.

Each reader returns typed examples (:mod:`.examples`) or the scorer's values,
and every problem is a one-line :class:`~xtreme_harness.io.errors.UserError`
naming the file and the line. ``xtreme-eval`` reads data and gold files and
``xtreme-score`` reads prediction and labels files through the same readers,
so the same file gets the same verdict from both commands.
"""
