"""Waiting for receipts (bus.receipts): a partner reads what became of the entries it wrote.

The partner's Redis user may read ``<prefix>:receipt:<partner>`` (and no other partner's). A receipt is
written after its entry, on the same Redis and its clock, so the receipts of a set of entries all have ids
after the smallest of theirs: reading starts just before it and goes forward (``XREAD``, blocking), keeping
the receipts whose ``entry_id`` was asked for. That holds while the Redis clock only moves forward and the
partner lets Redis choose its entry ids (``XADD ... *``, as every client here does): an entry written with
an explicit id ahead of the clock has receipts with smaller ids, which this does not find. Receipts are
kept for ``keep.receipts`` (retention.yaml): ask within that time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aredis

from bus.errors import ReceiptsMissing
from bus.ids import ENTRY_ID, id_key, predecessor
from bus.keys import Keys
from bus.receipts import Receipt
from bus.transport import text, translate_errors, xread_parts

log = logging.getLogger(__name__)

PAGE = 1_000  # receipts per read
MAX_BLOCK_MS = 1_000  # the longest one blocking read waits (well inside redis-py's default socket timeout)


async def wait_for_receipts(client: aredis.Redis, keys: Keys, partner: str, entry_ids: Iterable[str],
                            timeout: float = 30.0) -> dict[str, Receipt]:
    """The receipt of every entry in ``entry_ids`` of ``partner``'s ingress (entry id -> receipt, in the order
    asked), waiting up to ``timeout`` seconds for those not written yet; ``ReceiptsMissing`` (with those that
    came) if some did not come in time."""
    stream = keys.receipts(partner)
    wanted = list(dict.fromkeys(text(entry_id) for entry_id in entry_ids))
    if not wanted:
        return {}
    bad = next((entry_id for entry_id in wanted if not ENTRY_ID.match(entry_id)), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not a stream entry id (what publish returned: <ms>-<seq>)")
    asked, found = set(wanted), dict[str, Receipt]()
    cursor = predecessor(min(wanted, key=id_key))
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted):
        left_ms = int((deadline - time.monotonic()) * 1000)
        reply = await _read(client, stream, cursor, left_ms)
        for _, entries in xread_parts(reply):
            cursor = _take(stream, entries, asked, found) or cursor
        if len(found) < len(wanted) and left_ms <= 0 and not reply:  # time is up, nothing more is there already
            missing = [entry_id for entry_id in wanted if entry_id not in found]
            raise ReceiptsMissing(
                f"{len(missing)} of {len(wanted)} entries on {keys.ingress(partner)} have no "
                f"receipt after {timeout:g} s (first: {missing[0]}): is the router running, and has it caught up? "
                "(intelbus status)", found, missing)
    return {entry_id: found[entry_id] for entry_id in wanted}


def _take(stream: str, entries: list[Any], wanted: set[str], found: dict[str, Receipt]) -> str | None:
    """Keep in ``found`` the first receipt of each wanted entry among ``entries``; the last receipt id read."""
    last = None
    for receipt_id, fields in entries:
        last = text(receipt_id)
        receipt = Receipt.from_entry(receipt_id, fields)
        if receipt is None:
            log.warning("%s %s is not a receipt (ignored)", stream, last)
        elif receipt.entry_id in wanted and receipt.entry_id not in found:
            found[receipt.entry_id] = receipt
    return last


async def _read(client: aredis.Redis, stream: str, cursor: str, left_ms: int) -> Any:
    """One page of receipts after ``cursor``: blocking while time is left, else only what is already there."""
    async with translate_errors(f"reading receipts from {stream}"):
        if left_ms > 0:
            return await client.xread({stream: cursor}, count=PAGE, block=min(left_ms, MAX_BLOCK_MS))
        return await client.xread({stream: cursor}, count=PAGE)
