"""Progress on long commands, and reading a JSON-lines input (a path, ``-`` for stdin, or a file object)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import BinaryIO, TextIO

from bus.errors import BusError

BAR_WIDTH = 30


class Progress:
    """Progress on ``err``: a ``\\r`` bar on a terminal, else a line every 10 % and at the end."""

    def __init__(self, total: int, err: TextIO, verb: str) -> None:
        self.total = total
        self.verb = verb
        self.err = err
        self.done = 0
        self.started = time.perf_counter()
        self.tty = _isatty(err)
        self.next_decile = 1

    def advance(self, n: int) -> None:
        self.done += n
        if self.tty:
            self.err.write("\r" + self._bar())
        else:
            reached = self.done * 10 // self.total if self.total else 0
            if self.next_decile <= reached < 10:  # one line however many tenths a step crossed; 100 % by finish()
                self.err.write(self._line() + "\n")
            self.next_decile = max(self.next_decile, reached + 1)
        self.err.flush()

    def finish(self) -> None:
        self.err.write(("\r" + self._bar() + "\n") if self.tty else (self._line() + "\n"))
        self.err.flush()

    def _rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _percent(self) -> int:
        return 100 if not self.total else self.done * 100 // self.total

    def _bar(self) -> str:
        filled = BAR_WIDTH * self._percent() // 100
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"[{bar}] {self.done}/{self.total} {self._percent():3d}% {self._rate():,.0f}/s"

    def _line(self) -> str:
        return f"{self.verb} {self.done}/{self.total} ({self._percent()}%), {self._rate():,.0f}/s"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_lines(path_or_stdin: str | Path | BinaryIO) -> list[bytes]:
    if isinstance(path_or_stdin, (str, Path)):
        if str(path_or_stdin) == "-":
            return sys.stdin.buffer.read().splitlines()
        try:
            return Path(path_or_stdin).read_bytes().splitlines()
        except OSError as exc:
            raise BusError(f"cannot read {path_or_stdin}: {exc.strerror}") from None
    return path_or_stdin.read().splitlines()
