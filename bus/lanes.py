"""The urgent lane's right of way inside one router process (DESIGN.md decision 5).

While the scout commits a threat to life, the batch loop sends no new routine call (read or commit) to
Redis: the scout's commit then waits only behind calls already there, not behind the next ones too. The
scout's scans do not take the right of way (they run on every partner write; only a found threat does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Lanes:
    def __init__(self) -> None:
        self._urgent = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Hold routine calls back for the duration."""
        self._urgent += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._urgent -= 1
            if self._urgent == 0:
                self._clear.set()

    async def routine(self) -> None:
        """Return once no urgent work is in hand (at once, nearly always)."""
        if not self._clear.is_set():
            await self._clear.wait()
