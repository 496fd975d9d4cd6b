"""``intelbus publish --partner P FILE|-``: publish a JSON-lines file of submissions.

Each non-blank line is one submission. Every line is validated first (schema, size, partner); invalid
lines are reported on ``err`` as ``line N: reason`` and never published. Valid lines are published in
input order in pipelined chunks (``PartnerClient.send_prepared``), with progress on ``err``: a single
``\\r`` progress bar when ``err`` is a terminal, otherwise one line per 10 % and one at the end. The
summary (published, rejected, elapsed, rate) goes to ``out``. Re-running the same file is safe: the bus
deduplicates by ``submission_id``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import redis.asyncio as aredis

from bus.errors import BusError, SubmissionRejected
from bus.keys import Keys
from producers.client import PartnerClient

BAR_WIDTH = 30


@dataclass(frozen=True, slots=True)
class PublishSummary:
    """What one ``publish_file`` run did. ``rejections`` holds (line number, reason), 1-based."""

    published: int
    rejected: int
    elapsed: float
    entry_ids: list[str] = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Published submissions per second."""
        return self.published / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        return (f"published {self.published}, rejected {self.rejected}, in {self.elapsed:.2f} s "
                f"({self.rate:,.0f}/s)")


class Progress:
    """Progress on ``err``: a ``\\r`` bar on a terminal, else a line every 10 % and at the end."""

    def __init__(self, total: int, err: TextIO) -> None:
        self.total = total
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
            while self.total and self.next_decile <= 10 and self.done * 10 >= self.next_decile * self.total:
                if self.next_decile < 10:  # 100 % is written by finish()
                    self.err.write(self._line() + "\n")
                self.next_decile += 1
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
        return f"published {self.done}/{self.total} ({self._percent()}%), {self._rate():,.0f}/s"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _read_lines(path_or_stdin: str | Path | BinaryIO) -> list[bytes]:
    if isinstance(path_or_stdin, (str, Path)):
        if str(path_or_stdin) == "-":
            return sys.stdin.buffer.read().splitlines()
        try:
            return Path(path_or_stdin).read_bytes().splitlines()
        except OSError as exc:
            raise BusError(f"cannot read {path_or_stdin}: {exc.strerror}") from None
    return path_or_stdin.read().splitlines()


async def publish_file(redis: aredis.Redis, partner: str, path_or_stdin: str | Path | BinaryIO, keys: Keys,
                       out: TextIO = sys.stdout, err: TextIO = sys.stderr, chunk: int = 500) -> PublishSummary:
    """Validate every line of ``path_or_stdin`` (a path, ``"-"`` for stdin, or a binary file object),
    report invalid ones on ``err``, publish the valid ones for ``partner``, and print the summary on ``out``.

    Raises ``TransportError`` if Redis stays unreachable (after ``retry_transport``'s attempts); chunks
    already sent stay sent, and publishing the file again is safe (dedupe by ``submission_id``).
    """
    started = time.perf_counter()
    client = PartnerClient(redis, partner, keys)
    valid: list[bytes] = []
    rejections: list[tuple[int, str]] = []
    for number, line in enumerate(_read_lines(path_or_stdin), start=1):
        if not line.strip():
            continue
        try:
            valid.append(client.prepare(line))
        except SubmissionRejected as exc:
            rejections.append((number, exc.reason))
            err.write(f"line {number}: {exc.reason}\n")
    progress = Progress(len(valid), err)
    ids = await client.send_prepared(valid, chunk, on_chunk=progress.advance)
    progress.finish()
    summary = PublishSummary(len(ids), len(rejections), time.perf_counter() - started, ids, rejections)
    out.write(summary.describe() + "\n")
    out.flush()
    return summary
