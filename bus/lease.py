"""A lease one router holds at a time (the audit checkpointer's, retention's): SET NX PX, renewed by its holder.

Renewal is GET then PEXPIRE, not atomic: when a lease lapses exactly then, two holders can overlap for a
moment. For the checkpointer that is harmless (what it signs depends only on the logs). A retention run
renews its lease before each stream and each archive segment and stops as soon as it finds the lease gone
to another run, so two runs overlap only if one stalls for longer than its lease (a minute at least)
between two renewals; each trim and its record are one call that counts what Redis removed, so even then
nothing is lost or counted twice from Redis, and the archive is each router's own folder (the README says
not to share one: two writers could name a segment the same).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bus.transport import text, translate_errors


async def hold(client: aioredis.Redis, key: str, owner: str, ttl_ms: int) -> bool:
    """Whether ``owner`` holds ``key`` now (taking it if free, renewing it if already its own)."""
    async with translate_errors(f"taking the lease {key}"):
        if await client.set(key, owner, nx=True, px=ttl_ms):
            return True
        holder = await client.get(key)
        if holder is None or text(holder) != owner:
            return False
        await client.pexpire(key, ttl_ms)
    return True
