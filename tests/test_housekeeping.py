"""The router's housekeepers run on a thread of their own: routing's event loop never runs them, each is
stopped when asked, and one that fails is logged at once and raised by ``stop`` while the others go on."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bus.housekeeping import Housekeeping


class Recorder:
    """Notes the thread it ran on and how often, until stopped; then says it finished."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.ticks = 0
        self.finished = False
        self.ticked = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.threads.add(threading.current_thread().name)
            self.ticks += 1
            self.ticked.set()
            await asyncio.sleep(0)
        self.finished = True


class Broken:
    async def run(self, stop: asyncio.Event) -> None:
        raise RuntimeError("a housekeeper's bug")


async def test_housekeepers_run_on_their_own_thread_until_stopped() -> None:
    first, second = Recorder(), Recorder()
    housekeeping = Housekeeping([first, second])
    housekeeping.start()
    await asyncio.to_thread(first.ticked.wait)
    await asyncio.to_thread(second.ticked.wait)
    await housekeeping.stop()
    assert first.threads == second.threads == {"intelbus-housekeeping"}
    assert threading.current_thread().name not in first.threads
    assert first.finished and second.finished and first.ticks and second.ticks


async def test_a_failing_housekeeper_is_logged_and_raised_at_stop_while_the_others_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    survivor = Recorder()
    housekeeping = Housekeeping([Broken(), survivor])
    with caplog.at_level(logging.ERROR, logger="intelbus.router"):
        housekeeping.start()
        await asyncio.to_thread(survivor.ticked.wait)
        survivor.ticked.clear()
        await asyncio.to_thread(survivor.ticked.wait)  # still running after the other failed
        with pytest.raises(RuntimeError, match="a housekeeper's bug"):
            await housekeeping.stop()
    assert survivor.finished
    assert any("Broken stopped" in record.getMessage() for record in caplog.records)


async def test_a_lone_housekeeper_that_fails_is_raised_at_stop_not_a_closed_loop() -> None:
    housekeeping = Housekeeping([Broken()])  # the router's case: retention is its only housekeeper
    housekeeping.start()
    await asyncio.to_thread(housekeeping._thread.join)  # it failed and its loop closed before the stop
    with pytest.raises(RuntimeError, match="a housekeeper's bug"):
        await housekeeping.stop()


async def test_nothing_to_run_starts_no_thread_and_stops_at_once() -> None:
    housekeeping = Housekeeping([])
    housekeeping.start()
    await housekeeping.stop()
    assert not any(t.name == "intelbus-housekeeping" for t in threading.enumerate())
