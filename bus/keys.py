"""Every Redis key and group name intelbus uses, built in one place (prefix configurable, default ``intel``).

A region (``INTELBUS_REGION``, e.g. ``ne``) puts its hash tag in the prefix: ``intel:{ne}:ingress:hmrc``, and
so every key of the region hashes to one Redis Cluster slot (:func:`hash_slot`), which is what lets each of
the bus's atomic operations (one script call over many keys) run on a cluster. Without a region the keys are
what they always were (``intel:ingress:hmrc``).

=================================  ======  ===================================================
key                                type    written by / read by
=================================  ======  ===================================================
``intel:ingress:<partner>``        stream  partner (XADD ``payload``) / router group ``router``, scout
``intel:feed:<team>``              stream  router / team group ``team`` (routine and high)
``intel:feed:<team>:immediate``    stream  router / team group ``team`` (read first)
``intel:decisions``                stream  router (field ``decision``) / operators, auditors
``intel:quarantine``               stream  router (``reason``, the entry's fields…) / operators
``intel:receipt:<partner>``        stream  router (one per decided entry: ``entry_id``, ``outcome``…) / that partner
``intel:audit``                    stream  router (field ``event``: trimming, deletions) / auditors
``intel:consult:<team>``           stream  that team's clients (field ``consultation``: reads, acks) / auditors
``intel:checkpoints``              stream  router's checkpointer (``checkpoint``, ``leaves``) / auditors
``intel:checkpointer``             string  the router holding the checkpointer's lease (SET NX PX)
``intel:retainer``                 string  the router holding retention's lease (SET NX PX)
``intel:retention``                hash    that router: its last retention run (at, by, removed, records, error)
``intel:archive``                  hash    retention: stream -> "<records archived> <last id>", with each segment
``intel:trimmed``                  hash    retention: stream -> entries removed from it (XTRIM), ever
``intel:seen:<partner>``           hash    router: normalised submission_id -> "decision_id stream entry_id"
``intel:scout``                    hash    router's scout: ingress stream -> id scanned up to (+ |from|down|top)
``intel:scouted``                  hash    scout: "stream entry_id" -> decision id, until the group acks it
``intel:failures``                 hash    router: "stream entry_id" -> last processing error, until decided
=================================  ======  ===================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUTER_GROUP = "router"
TEAM_GROUP = "team"
IMMEDIATE = "immediate"
REGION = re.compile(r"^[A-Za-z0-9_-]+$")  # a region id: its keys' hash tag, and an AsyncAPI parameter name


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "intel"  # the whole of what every key starts with, a region's hash tag included

    @classmethod
    def of(cls, prefix: str = "intel", region: str | None = None) -> Keys:
        """The keys of ``region`` (``None``: no region) under ``prefix``: ``<prefix>:{<region>}:...``."""
        if region is not None and not REGION.match(region):
            raise ValueError(f"region {region!r}: letters, digits, '_' and '-' only, at least one")
        return cls(prefix if region is None else f"{prefix}:{{{region}}}")

    @property
    def region(self) -> str | None:
        """The region's id: the prefix's hash tag (``intel:{ne}`` -> ``ne``); None without one."""
        tag = _tag(self.prefix.encode())
        return None if tag is None else tag.decode()

    @property
    def slot(self) -> int | None:
        """The Redis Cluster hash slot every key of a region is in; None when the prefix holds no hash tag (each
        key then hashes on its whole name)."""
        return hash_slot(self.prefix) if _tag(self.prefix.encode()) is not None else None

    def ingress(self, partner: str) -> str:
        return f"{self.prefix}:ingress:{partner}"

    def partner_of(self, ingress_key: str) -> str:
        head = self.ingress_prefix
        if not ingress_key.startswith(head):
            raise ValueError(f"{ingress_key!r} is not an ingress stream")
        return ingress_key[len(head):]

    def feed(self, team: str, priority: str = "routine") -> str:
        base = f"{self.prefix}:feed:{team}"
        return f"{base}:{IMMEDIATE}" if priority == IMMEDIATE else base

    def feeds(self, team: str) -> tuple[str, str]:
        """(immediate, routine): the order a team reads them in."""
        return self.feed(team, IMMEDIATE), self.feed(team)

    @property
    def decisions(self) -> str:
        return f"{self.prefix}:decisions"

    @property
    def quarantine(self) -> str:
        return f"{self.prefix}:quarantine"

    def receipts(self, partner: str) -> str:
        """What became of each of ``partner``'s submissions (bus.receipts), readable by that partner only."""
        return f"{self.prefix}:receipt:{partner}"

    def seen(self, partner: str) -> str:
        return f"{self.prefix}:seen:{partner}"

    @property
    def scout(self) -> str:
        return f"{self.prefix}:scout"

    @property
    def scouted(self) -> str:
        return f"{self.prefix}:scouted"

    @property
    def failures(self) -> str:
        return f"{self.prefix}:failures"

    @property
    def audit(self) -> str:
        return f"{self.prefix}:audit"

    def consultations(self, team: str) -> str:
        return f"{self.prefix}:consult:{team}"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}:checkpoints"

    @property
    def checkpointer(self) -> str:
        return f"{self.prefix}:checkpointer"

    @property
    def retainer(self) -> str:
        return f"{self.prefix}:retainer"

    @property
    def retention(self) -> str:
        return f"{self.prefix}:retention"

    @property
    def archive(self) -> str:
        return f"{self.prefix}:archive"

    @property
    def trimmed(self) -> str:
        return f"{self.prefix}:trimmed"

    @property
    def ingress_prefix(self) -> str:
        return f"{self.prefix}:ingress:"


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM, the checksum Redis Cluster hashes keys with (its specification, appendix A)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tag(data: bytes) -> bytes | None:
    """The hash tag of a key: the text between its first ``{`` and the next ``}``, when not empty."""
    start = data.find(b"{")
    end = data.find(b"}", start + 1) if start >= 0 else -1
    return data[start + 1:end] if end > start + 1 else None


def hash_slot(key: str | bytes) -> int:
    """The Redis Cluster slot of ``key``: of its hash tag, else of the whole key."""
    data = key.encode() if isinstance(key, str) else key
    return _crc16(_tag(data) or data) % 16384
