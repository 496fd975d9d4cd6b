"""A lease one router holds at a time (the audit checkpointer's, retention's): SET NX PX, renewed by its holder.

Renewal is GET then PEXPIRE, not atomic: when a lease lapses exactly then (a run longer than its lease, at
least a minute), two holders can overlap for a moment. For the checkpointer that is harmless (what it signs
depends only on the logs). For retention it loses nothing and counts nothing twice (each trim and its record
are one call that counts what Redis removed), but two runs writing one archive folder at once can leave a
manifest that no longer follows: removal of that stream then stops, named, until an operator mends it.
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
