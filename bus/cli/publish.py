"""``intelbus publish --partner P FILE|-``: publish a JSON-lines file of submissions.

Each non-blank line is one submission. Every line is validated first (schema, size, partner); invalid
lines are reported on ``err`` as ``line N: reason`` and never published. Valid lines are published in
input order in pipelined chunks (``PartnerClient.send_prepared``), with progress on ``err``: a single
``\\r`` progress bar when ``err`` is a terminal, otherwise one line per 10 % and one at the end. The
summary (published, rejected, elapsed, rate) goes to ``out``. Re-running the same file is safe: the bus
deduplicates by ``submission_id``.

With ``--wait SECONDS`` it then waits for the receipts (bus.receipts) of what it published: each line that
was not accepted (``line N: quarantined (class): reason``, or a duplicate) goes to ``out``, and the summary
gains the count of each outcome. Receipts that do not come in time are named (``ReceiptsMissing``) after
those that did and the summary are printed.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import redis.asyncio as aredis

from bus.cli.progress import Progress, read_lines
from bus.errors import ReceiptsMissing, SubmissionRejected
from bus.keys import Keys
from bus.receipts import OUTCOMES, Receipt
from bus.replicas import NO_WAIT, Durability
from producers.client import PartnerClient


@dataclass(frozen=True, slots=True)
class PublishSummary:
    """What one ``publish_file`` run did. ``rejections`` holds (line number, reason), 1-based."""

    published: int
    rejected: int
    elapsed: float
    entry_ids: list[str] = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)
    outcomes: dict[str, int] | None = None  # with --wait: how many were accepted, quarantined, duplicates

    @property
    def rate(self) -> float:
        """Published submissions per second."""
        return self.published / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        said = (f"published {self.published}, rejected {self.rejected}, in {self.elapsed:.2f} s "
                f"({self.rate:,.0f}/s)")
        if self.outcomes is None:
            return said
        return said + "; " + ", ".join(f"{outcome} {self.outcomes.get(outcome, 0)}" for outcome in OUTCOMES)


async def publish_file(redis: aredis.Redis, partner: str, path_or_stdin: str | Path | BinaryIO, keys: Keys,
                       out: TextIO = sys.stdout, err: TextIO = sys.stderr, chunk: int = 500,
                       wait: float | None = None, durability: Durability = NO_WAIT) -> PublishSummary:
    """Validate every line of ``path_or_stdin`` (a path, ``"-"`` for stdin, or a binary file object),
    report invalid ones on ``err``, publish the valid ones for ``partner``, and print the summary on ``out``;
    with ``wait``, first wait up to that many seconds for their receipts and print what was not accepted.
    ``durability``: the replicas each chunk waits for (``bus.replicas``; ``INTELBUS_REPLICAS``).

    Raises ``TransportError`` if Redis stays unreachable (after ``retry_transport``'s attempts); chunks
    already sent stay sent, and publishing the file again is safe (dedupe by ``submission_id``).
    """
    started = time.perf_counter()
    client = PartnerClient(redis, partner, keys, durability=durability)
    valid: list[bytes] = []
    numbers: list[int] = []  # the line number of each valid line
    rejections: list[tuple[int, str]] = []
    for number, line in enumerate(read_lines(path_or_stdin), start=1):
        if not line.strip():
            continue
        try:
            valid.append(client.prepare(line))
            numbers.append(number)
        except SubmissionRejected as exc:
            rejections.append((number, exc.reason))
            err.write(f"line {number}: {exc.reason}\n")
    progress = Progress(len(valid), err, "published")
    ids = await client.send_prepared(valid, chunk, on_chunk=progress.advance)
    progress.finish()
    outcomes = None
    try:
        if wait is not None:
            outcomes = await _outcomes(client, ids, numbers, wait, out)
    finally:
        summary = PublishSummary(len(ids), len(rejections), time.perf_counter() - started, ids, rejections,
                                 outcomes)
        out.write(summary.describe() + "\n")
        out.flush()
    return summary


async def _outcomes(client: PartnerClient, ids: Sequence[str], numbers: Sequence[int], wait: float,
                    out: TextIO) -> dict[str, int]:
    """Wait for the receipts of ``ids``; print each that was not accepted, by its line; count the outcomes."""
    line_of = dict(zip(ids, numbers, strict=True))
    try:
        receipts = await client.wait_for_receipts(ids, wait)
    except ReceiptsMissing as exc:
        _report(exc.received.values(), line_of, out)
        raise
    _report(receipts.values(), line_of, out)
    return dict(Counter(receipt.outcome for receipt in receipts.values()))


def _report(receipts: Iterable[Receipt], line_of: dict[str, int], out: TextIO) -> None:
    for receipt in sorted(receipts, key=lambda r: line_of[r.entry_id]):
        if receipt.outcome == "quarantined":
            out.write(f"line {line_of[receipt.entry_id]}: quarantined ({receipt.reason_class}): {receipt.reason} "
                      f"[decision {receipt.decision_id}]\n")
        elif receipt.outcome == "duplicate":
            out.write(f"line {line_of[receipt.entry_id]}: duplicate of decision {receipt.original_decision_id}, "
                      f"not routed again [decision {receipt.decision_id}]\n")
    out.flush()
