"""Waiting for receipts (bus.receipts): a partner reads what became of the entries it wrote.

The partner's Redis user may read ``<prefix>:receipt:<partner>`` (and no other partner's). A receipt is
written after its entry, on the same Redis and its clock, so the receipts of a set of entries all have ids
after the smallest of theirs: reading starts just before it and goes forward (``XREAD``, blocking), keeping
the receipts whose ``entry_id`` was asked for. Receipts are kept for ``keep.receipts`` (retention.yaml):
ask within that time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import redis.asyncio as aredis

from bus.errors import ReceiptsMissing
from bus.ids import id_key, predecessor
from bus.keys import Keys
from bus.receipts import Receipt
from bus.transport import translate_errors, xread_parts

log = logging.getLogger(__name__)

PAGE = 1_000  # receipts per read
MAX_BLOCK_MS = 1_000  # the longest one blocking read waits (well inside redis-py's default socket timeout)


async def wait_for_receipts(client: aredis.Redis, keys: Keys, partner: str, entry_ids: Iterable[str],
                            timeout: float = 30.0) -> dict[str, Receipt]:
    """The receipt of every entry in ``entry_ids`` of ``partner``'s ingress (entry id -> receipt, in the order
    asked), waiting up to ``timeout`` seconds for those not written yet; ``ReceiptsMissing`` (with those that
    came) if some did not come in time."""
    stream = keys.receipts(partner)
    wanted = list(dict.fromkeys(entry_ids))
    if not wanted:
        return {}
    waiting = set(wanted)
    found: dict[str, Receipt] = {}
    cursor = predecessor(min(wanted, key=id_key))
    deadline = time.monotonic() + timeout
    while waiting:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            missing = [entry_id for entry_id in wanted if entry_id in waiting]
            raise ReceiptsMissing(
                f"{len(missing)} of {len(wanted)} entries on {keys.ingress(partner)} have no "
                f"receipt after {timeout:g} s (first: {missing[0]}): is the router running, and has it caught up? "
                "(intelbus status)", found, missing)
        async with translate_errors(f"reading receipts from {stream}"):
            reply = await client.xread({stream: cursor}, count=PAGE, block=min(left_ms, MAX_BLOCK_MS))
        for _, entries in xread_parts(reply):
            for receipt_id, fields in entries:
                cursor = receipt_id.decode() if isinstance(receipt_id, bytes) else receipt_id
                receipt = Receipt.from_entry(receipt_id, fields)
                if receipt is None:
                    log.warning("%s %s is not a receipt (ignored): %s", stream, cursor, sorted(fields)[:8])
                elif receipt.entry_id in waiting:
                    waiting.discard(receipt.entry_id)
                    found[receipt.entry_id] = receipt
    return {entry_id: found[entry_id] for entry_id in wanted}
