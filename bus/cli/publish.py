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

from bus.cli.progress import Progress, read_lines
from bus.errors import SubmissionRejected
from bus.keys import Keys
from producers.client import PartnerClient


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
    for number, line in enumerate(read_lines(path_or_stdin), start=1):
        if not line.strip():
            continue
        try:
            valid.append(client.prepare(line))
        except SubmissionRejected as exc:
            rejections.append((number, exc.reason))
            err.write(f"line {number}: {exc.reason}\n")
    progress = Progress(len(valid), err, "published")
    ids = await client.send_prepared(valid, chunk, on_chunk=progress.advance)
    progress.finish()
    summary = PublishSummary(len(ids), len(rejections), time.perf_counter() - started, ids, rejections)
    out.write(summary.describe() + "\n")
    out.flush()
    return summary
