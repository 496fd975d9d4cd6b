"""Chaos's router processes: started, SIGKILLed mid-batch and replaced, restarted when they exit by themselves,
stopped at the end (``bench/chaos.py``)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.asyncio as aioredis
from chaos_oracle import KEYS, decoded
from router_proc import start_router

from bus.keys import ROUTER_GROUP


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class RouterSlot:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    name: str = ""
    started: float = 0.0
    generation: int = 0


@dataclass
class Fleet:
    """The router subprocesses: start, SIGKILL, replace, and restart any that exit on their own."""

    url: str
    log_dir: Path
    claim_idle_ms: int
    size: int
    slots: list[RouterSlot] = field(default_factory=list)
    kills: int = 0
    crashed_running: list[str] = field(default_factory=list)  # exited after it had started routing
    failed_start: list[str] = field(default_factory=list)  # exited before (Redis away while it started)

    def start_all(self) -> None:
        self.slots = [RouterSlot(i) for i in range(self.size)]
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: RouterSlot) -> None:
        slot.generation += 1
        slot.name = f"chaos-r{slot.index}-g{slot.generation}"
        slot.proc = start_router(self.url, self.log_dir / f"{slot.name}.log", slot.name,
                                 INTELBUS_CLAIM_IDLE_MS=str(self.claim_idle_ms), INTELBUS_BATCH_SIZE="100",
                                 INTELBUS_BLOCK_MS="100", INTELBUS_PREFIX=KEYS.prefix)
        slot.started = time.monotonic()

    async def kill_random(self, rng: random.Random, aim: float = 2.0) -> str:
        """SIGKILL a router, preferably while it holds fetched, uncommitted entries (mid-batch): for up to
        ``aim`` seconds, poll the group's pending summary and take a router that has some; else any."""
        holding = await self._pending_by_consumer(aim)
        busy = [s for s in self.slots if holding.get(s.name, 0) > 0]
        slot = rng.choice(busy or self.slots)
        assert slot.proc is not None
        uptime = time.monotonic() - slot.started
        slot.proc.send_signal(signal.SIGKILL)
        slot.proc.wait(timeout=10)
        self.kills += 1
        killed = slot.name
        self._start(slot)
        return (f"SIGKILLed router {killed} (up {uptime:.1f} s, holding {holding.get(killed, 0)} pending entries); "
                f"started {slot.name}")

    async def _pending_by_consumer(self, aim: float) -> dict[str, int]:
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1.0, socket_timeout=2.0)
        names = {s.name for s in self.slots}
        deadline = time.monotonic() + aim
        holding: dict[str, int] = {}
        try:
            streams = [decoded(k) async for k in client.scan_iter(f"{KEYS.prefix}:ingress:*", count=1000)]
            while time.monotonic() < deadline:
                pipe = client.pipeline(transaction=False)
                for stream in streams:
                    pipe.xpending(stream, ROUTER_GROUP)
                holding = Counter()
                for summary in await pipe.execute(raise_on_error=False):
                    for consumer in summary.get("consumers", []) if isinstance(summary, dict) else []:
                        holding[decoded(consumer["name"])] += int(consumer["pending"])
                if any(holding.get(name, 0) for name in names):
                    break
                await asyncio.sleep(0.002)
        except (redis.RedisError, OSError):
            pass  # Redis away: kill blind
        finally:
            await client.aclose()
        return holding

    def revive(self) -> None:
        """A router that exited by itself (e.g. it could not reach Redis at start-up) is started again."""
        for slot in self.slots:
            if slot.proc is not None and (code := slot.proc.poll()) is not None:
                log = self.log_dir / f"{slot.name}.log"
                running = f"router {slot.name} reading" in log.read_text(errors="replace")
                when = "while running" if running else "during start-up"
                (self.crashed_running if running else self.failed_start).append(f"{slot.name} (code {code})")
                say(f"  ! router {slot.name} exited by itself {when} (code {code}); see {log}")
                self._start(slot)

    def stop_all(self) -> None:
        live = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        for proc in live:
            proc.terminate()
        for proc in live:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
