"""Where a run is: one overall line over its (task, language) units, and what a long step that is no batch does.

On a terminal, the overall line (``xnli/de  3/18 task-languages, 2 of 9 tasks, 0:12 elapsed, ETA 0:40 · running
the model``) stays above the engine's per-language bars; a step that has no bar of its own (reading data,
loading a model, tokenising, mining) names itself on it. Without a terminal (a log file, a cluster job)
each finished unit's line carries the same count and ETA, and only steps that take long whatever the data
(loading a model, mining) are announced. The ETA counts only units computed in this run: reused ones cost
nothing and would make it lie.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

_current: "Overall | None" = None


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Overall:
    """The overall line of one run (see the module docstring)."""

    def __init__(self, prog: str, units: int, tasks: int, enabled: bool):
        self.prog, self.units, self.tasks = prog, units, tasks
        self.enabled = enabled
        self.done = self.computed = self.tasks_done = 0
        self.compute_seconds = 0.0
        self.t0 = time.perf_counter()
        self.unit = ""
        self.step = ""
        self._unit_t0 = self.t0
        self.bar = None
        if enabled and _tty() and units > 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=units, position=0, leave=False, dynamic_ncols=True, bar_format="{desc}")
            self._draw()

    # --- what the line says ------------------------------------------------------------------------
    def eta(self) -> float | None:
        if not self.computed:
            return None
        return self.compute_seconds / self.computed * (self.units - self.done)

    def counts(self) -> str:
        eta = self.eta()
        return (f"{self.done}/{self.units} task-languages, {self.tasks_done} of {self.tasks} tasks, "
                f"{clock(time.perf_counter() - self.t0)} elapsed"
                + (f", ETA {clock(eta)}" if eta is not None and self.done < self.units else ""))

    def _draw(self) -> None:
        if self.bar is not None:
            text = f"{self.unit + '  ' if self.unit else ''}{self.counts()}{' · ' + self.step if self.step else ''}"
            self.bar.set_description_str(text, refresh=True)

    # --- events --------------------------------------------------------------------------------------
    def start(self, unit: str) -> None:
        self.unit, self.step, self._unit_t0 = unit, "", time.perf_counter()
        self._draw()

    def finish(self, computed: bool, last_of_task: bool) -> None:
        self.done += 1
        if computed:
            self.computed += 1
            self.compute_seconds += time.perf_counter() - self._unit_t0
        if last_of_task:
            self.tasks_done += 1
        self.step = ""
        if self.bar is not None:
            self.bar.update(1)
        self._draw()

    def status(self, text: str, announce: bool) -> None:
        self.step = text
        if self.bar is not None:
            self._draw()
        elif announce and self.enabled:
            self.say(f"{self.unit}: {text}" if self.unit else text)

    def say(self, line: str) -> None:
        text = f"{self.prog}: {line}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def overall(prog: str, units: int, tasks: int, enabled: bool) -> Iterator[Overall]:
    """The overall line of a run, for as long as the block lasts (one at a time: a nested run reuses it)."""
    global _current
    if _current is not None:
        yield _current
        return
    line = Overall(prog, units, tasks, enabled)
    _current = line
    try:
        yield line
    finally:
        _current = None
        line.close()


def status(text: str, announce: bool = False) -> None:
    """Name the step now running (``announce``: also as a line when there is no terminal, for steps that take
    long whatever the data). Nothing happens outside a run."""
    if _current is not None:
        _current.status(text, announce)


def say(prog: str, line: str) -> None:
    """A log line that does not tear the overall line."""
    if _current is not None:
        _current.say(line)
    else:
        print(f"{prog}: {line}", file=sys.stderr, flush=True)


__all__ = ["Overall", "clock", "overall", "say", "status"]
