"""The partner client: publish submissions to ``intel:ingress:<partner>``, validated before they leave.

What goes on the wire (SUBMISSIONS.md) is one stream entry per submission with exactly one field:

* ``payload``: the submission as UTF-8 JSON, at most 256 KiB, sent byte for byte as given (bytes are
  not re-encoded; dicts and models are encoded once with orjson).

Every submission is checked locally with :func:`schemas.parse.parse_submission` and against the client's
own partner id *before anything is sent*, so a partner sees the same sentence the bus would have put in
quarantine, at once, instead of finding it in the quarantine stream later.

What became of each entry (routed, quarantined with its reason, or a duplicate) is on the partner's receipt
stream, ``intel:receipt:<partner>``, which only it may read: :meth:`PartnerClient.wait_for_receipts` takes
the entry ids ``publish`` returned and waits for their receipts (bus.receipts).

Retrying is safe. The router deduplicates by ``submission_id`` (per partner), so a submission published
twice is routed once: after a :class:`~bus.errors.TransportError` the caller may simply publish again,
whether or not the first attempt reached Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import orjson
import redis.asyncio as aredis

from bus.errors import NotReplicatedError, SubmissionRejected, TransportError
from bus.keys import Keys
from bus.receipts import Receipt
from bus.replicas import NO_WAIT, Durability, Waiter
from bus.transport import text
from producers.receipts import wait_for_receipts
from schemas.common import SubmissionBase
from schemas.parse import parse_submission

log = logging.getLogger(__name__)

T = TypeVar("T")
SubmissionLike = dict[str, Any] | bytes | str | SubmissionBase
"""What ``publish`` accepts: a JSON-ready dict, the exact JSON bytes (or text), or a parsed model."""

PAYLOAD_FIELD = "payload"
DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY = 0.2
DEFAULT_KEYS = Keys()


async def retry_transport(coro_factory: Callable[[], Awaitable[T]], attempts: int = DEFAULT_ATTEMPTS,
                          base_delay: float = DEFAULT_BASE_DELAY) -> T:
    """Await ``coro_factory()``; on :class:`TransportError` wait ``base_delay * 2**n`` and try again.

    Gives up after ``attempts`` tries and raises the last error. Only use it for idempotent work:
    publishing qualifies, because the bus deduplicates submissions by ``submission_id``.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts):
        try:
            return await coro_factory()
        except TransportError as exc:
            if attempt == attempts - 1:
                raise
            delay = base_delay * 2**attempt
            log.warning("transport error (attempt %d of %d), retrying in %.2f s: %s", attempt + 1, attempts,
                        delay, exc)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def encode_submission(submission: SubmissionLike) -> bytes:
    """The exact bytes to send: bytes unchanged, text as UTF-8, dicts and models through orjson."""
    if isinstance(submission, bytes):
        return submission
    if isinstance(submission, str):
        return submission.encode()
    if isinstance(submission, SubmissionBase):
        return orjson.dumps(submission.model_dump(mode="json", exclude_unset=True))
    if isinstance(submission, dict):
        try:
            return orjson.dumps(submission)
        except TypeError as exc:
            raise SubmissionRejected(f"submission is not JSON-serialisable: {exc}",
                                     _maybe_id(submission)) from None
    raise SubmissionRejected(f"cannot publish a {type(submission).__name__}; give a dict, bytes or Submission")


def _maybe_id(data: dict[str, Any]) -> str | None:
    value = data.get("submission_id")
    return value if isinstance(value, str) else None


class PartnerClient:
    """Publishes one partner's submissions to its ingress stream ``intel:ingress:<partner>``.

    ``redis`` is a ``redis.asyncio.Redis`` the caller owns (and closes). Each entry has one field,
    ``payload``, holding the submission JSON exactly as sent.

    Safe to retry: the bus deduplicates by ``submission_id``, so publishing the same submission again
    after an error (even one that happened after Redis stored it) routes it once.

    ``durability`` (``bus.replicas``): with ``replicas`` above 0, each publish also waits (WAIT, on the same
    connection) until that many replicas have the entries, or as many as the region's master has now (then
    ``degraded`` counts it); with ``strict`` it raises ``NotReplicatedError`` when fewer have them in time
    (the chunk methods retry it, as they retry any ``TransportError``).
    """

    def __init__(self, redis: aredis.Redis, partner: str, keys: Keys = DEFAULT_KEYS, *,
                 attempts: int = DEFAULT_ATTEMPTS, base_delay: float = DEFAULT_BASE_DELAY,
                 durability: Durability = NO_WAIT) -> None:
        self.redis = redis
        self.durability = durability
        self._waiter = Waiter(redis, durability)
        self.partner = partner
        self.keys = keys
        self.stream = keys.ingress(partner)
        self.attempts = attempts
        self.base_delay = base_delay

    def prepare(self, submission: SubmissionLike) -> bytes:
        """Encode and validate one submission; raise ``SubmissionRejected`` before anything is sent.

        Checks, in order: size (256 KiB), the schema (``parse_submission``), and that ``partner`` is this
        client's partner (anything else would be quarantined as spoofing).
        """
        data = encode_submission(submission)
        parsed = parse_submission(data)  # size first (MAX_PAYLOAD_BYTES), then JSON and schema
        if parsed.partner != self.partner:
            raise SubmissionRejected(
                f"partner is {parsed.partner!r} but this client publishes for {self.partner!r} to {self.stream}: "
                "the submission would be quarantined as spoofing", parsed.submission_id)
        return data

    async def publish(self, submission: SubmissionLike) -> str:
        """Validate and XADD one submission; returns its entry id. Raises ``SubmissionRejected`` or
        ``TransportError`` (no retry here; publishing again is safe, see the class docstring)."""
        return (await self._send_chunk([self.prepare(submission)]))[0]

    async def publish_many(self, items: Iterable[SubmissionLike], chunk: int = 500) -> list[str]:
        """Validate every item, then XADD them in pipelined (non-transactional) chunks of ``chunk``.

        Nothing is sent unless all items are valid; the ``SubmissionRejected`` names the failing item's
        index. Returns the entry ids in input order. A chunk that fails with ``TransportError`` is
        re-sent whole (``retry_transport``): entries of it that had already landed become duplicates,
        which are harmless because the router deduplicates by ``submission_id``.
        """
        payloads: list[bytes] = []
        for index, item in enumerate(items):
            try:
                payloads.append(self.prepare(item))
            except SubmissionRejected as exc:
                raise SubmissionRejected(f"item {index}: {exc.reason}", exc.submission_id) from None
        return await self.send_prepared(payloads, chunk)

    async def send_prepared(self, payloads: Sequence[bytes], chunk: int = 500,
                            on_chunk: Callable[[int], None] | None = None) -> list[str]:
        """Send already-validated payloads (from :meth:`prepare`) in chunks; ``on_chunk(n)`` after each."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        ids: list[str] = []
        for start in range(0, len(payloads), chunk):
            part = payloads[start:start + chunk]
            ids.extend(await retry_transport(partial(self._send_chunk, part), self.attempts, self.base_delay))
            if on_chunk is not None:
                on_chunk(len(part))
        return ids

    async def wait_for_receipts(self, entry_ids: Iterable[str], timeout: float = 30.0) -> dict[str, Receipt]:
        """The receipt of each entry id (as ``publish``/``publish_many`` returned them), entry id -> receipt
        in the order given; waits up to ``timeout`` seconds, then raises ``ReceiptsMissing`` carrying those
        that came. Needs the partner's read grant on its receipts (``intelbus acl generate``)."""
        return await wait_for_receipts(self.redis, self.keys, self.partner, entry_ids, timeout)

    async def _send_chunk(self, payloads: Sequence[bytes]) -> list[str]:
        action = f"publishing {len(payloads)} submissions to {self.stream}"

        def queue(pipe: Any) -> None:
            for data in payloads:
                pipe.xadd(self.stream, {PAYLOAD_FIELD: data})

        waited = await self._waiter.run(action, queue)
        ids = [text(entry_id) for entry_id in waited.replies]
        if waited.short and self.durability.strict:
            raise NotReplicatedError(f"{action}: stored, but on {waited.reached} of {self.durability.replicas} "
                                     f"replicas after {self.durability.timeout_ms} ms; a failover could lose them, "
                                     "so they count as not acknowledged (publishing again is safe)", ids)
        return ids

    @property
    def degraded(self) -> int:
        """Publishes acknowledged on fewer replicas than ``durability.replicas`` (``bus.replicas``)."""
        return self._waiter.tally.short


