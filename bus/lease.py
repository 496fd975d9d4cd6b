"""A lease one router holds at a time (the audit checkpointer's, retention's): SET NX PX, renewed by its holder.

An overlap when a lease lapses is harmless for both users: what they do depends only on Redis's state.
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
