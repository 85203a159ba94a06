"""Progress bars that read well in a terminal and in a log file.

On a terminal, `progress_bar` is tqdm as usual. Anywhere else (a file, a pipe, CI) tqdm
would redraw one line with carriage returns, which a log keeps as one line thousands of
characters long; there, each redraw becomes its own short line, at most one every
`LOG_INTERVAL_S` seconds, plain ASCII, 100 columns.
"""

from __future__ import annotations

import io
import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 10.0
LOG_COLUMNS = 100


class _Lines(io.TextIOBase):
    """Turns tqdm's carriage-return redraws into whole lines on the wrapped stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""  # tqdm redraws the final state on close: written once, not twice

    def write(self, text: str) -> int:
        lines = [line.rstrip() for line in text.replace("\r", "\n").split("\n")]
        kept = []
        for line in lines:
            if line and line != self.last:
                kept.append(line)
                self.last = line
        if kept:
            self.stream.write("\n".join(kept) + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """tqdm(*args, **kwargs), made log-friendly when its stream is not a terminal."""
    stream = kwargs.get("file") or sys.stderr
    if stream.isatty():
        return tqdm(*args, **kwargs)
    kwargs.update(
        file=_Lines(stream),
        mininterval=max(kwargs.get("mininterval", 0.1), LOG_INTERVAL_S),
        ncols=LOG_COLUMNS,
        ascii=True,
        dynamic_ncols=False,
    )
    return tqdm(*args, **kwargs)
