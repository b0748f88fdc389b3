"""Progress of the long stages of one recording, for whoever asked to see it.

The stages call :func:`report` with the seconds of audio done so far; nothing happens
unless a caller installed a callback with :func:`reporting` (the command line does, to draw
progress bars on long files). A context variable carries the callback, so the stages need
no extra argument and a library user sees nothing by default.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar

#: ``callback(stage, done, total)``: ``done`` of ``total`` seconds of audio through ``stage``.
Callback = Callable[[str, float, float], None]

_callback: ContextVar[Callback | None] = ContextVar("diarize_progress", default=None)


@contextlib.contextmanager
def reporting(callback: Callback | None) -> Iterator[None]:
    """Send the progress reports made inside the ``with`` block to ``callback``."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


def report(stage: str, done: float, total: float) -> None:
    """``done`` of ``total`` seconds of audio have been through ``stage``."""
    callback = _callback.get()
    if callback is not None:
        callback(stage, done, total)


class StageBars:
    """A tqdm bar per stage (seconds of audio on stderr), for recordings of at least
    ``min_seconds``; bars are drawn only when stderr is a terminal and vanish when done."""

    def __init__(self, name: str, min_seconds: float = 600.0):
        self.name = name
        self.min_seconds = min_seconds
        self._stage: str | None = None
        self._bar = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if total < self.min_seconds:
            return
        if stage != self._stage:
            from tqdm import tqdm

            self.close()
            self._stage = stage
            self._bar = tqdm(
                total=int(round(total)),
                desc=f"{self.name}: {stage}",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s of audio "
                "[{elapsed}<{remaining}]",
                leave=False,
                disable=None,  # not on a pipe or a file
                file=sys.stderr,
                dynamic_ncols=True,
            )
        if self._bar is not None:
            self._bar.n = int(round(min(done, total)))
            self._bar.refresh()

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._stage = None
