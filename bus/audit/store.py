"""Where signed checkpoints are kept: the stream ``<prefix>:checkpoints`` (field ``checkpoint``) and an
append-only JSON-lines file outside Redis (``<data folder>/audit/checkpoints.jsonl``), one line each,
the same line in both. Reading either gives (where, JSON document) pairs; parsing and trust are the
caller's (``bus.audit.checkpoint``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import pages
from bus.archive.store import Archive
from bus.audit.log import raw_reader
from bus.audit.signing import audit_dir
from bus.errors import AuditError
from bus.keys import Keys
from bus.transport import translate_errors

Found = tuple[str, Any]  # (where it was read: "redis <id>" or "<file>:<line>", the JSON document)


def checkpoint_file(data_dir: Path) -> Path:
    return audit_dir(data_dir) / "checkpoints.jsonl"


class CheckpointFile:
    """Append-only: each line is written whole, flushed and fsynced before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> Iterator[Found]:
        """Every line as (where, document); a line that is not JSON is given as its text."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AuditError(f"cannot read the checkpoint file {self.path}: {exc.strerror}") from None
        with handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield f"{self.path}:{number}", _json(line)

    def last(self) -> Found | None:
        found = None
        for found in self.read():  # noqa: B007 - the file's last line is wanted; files stay small per day
            pass
        return found


async def redis_checkpoints(client: aioredis.Redis, keys: Keys, archive: Archive | None = None) -> AsyncIterator[Found]:
    """The checkpoints of the stream, its archived ones first (a checkpoint is its one field's value)."""
    async for page in pages(raw_reader(client), archive, keys.checkpoints):
        for entry_id, flat in page:
            yield f"{keys.checkpoints} {entry_id.decode()}", _json(flat[1] if len(flat) > 1 else b"")


async def every_checkpoint(client: aioredis.Redis, keys: Keys, path: Path,
                           archive: Archive | None = None) -> list[Found]:
    """What verify weighs: the file's checkpoints (kept outside Redis), then the stream's (archive, Redis)."""
    return [*CheckpointFile(path).read(), *[item async for item in redis_checkpoints(client, keys, archive)]]


async def add_to_redis(client: aioredis.Redis, keys: Keys, line: bytes) -> None:
    async with translate_errors(f"writing {keys.checkpoints}"):
        await client.xadd(keys.checkpoints, {"checkpoint": line})


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")
