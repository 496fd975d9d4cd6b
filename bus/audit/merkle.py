"""RFC 6962 / RFC 9162 Merkle tree hashing over a log's records, in log order: pure, no I/O.

A leaf is ``SHA-256(0x00 || record)`` (``record_leaf``: the entry id, fields and values), an inner node
``SHA-256(0x01 || left || right)``. The tree of ``n`` leaves is the RFC's: pair nodes left to right, a
lone last node carried up unchanged. Three shapes of it are used here:

* ``Frontier``: the roots of the perfect subtrees of a growing log (at most log2(n) hashes), enough to add
  leaves and compute the root at every size: what the checkpointer keeps, and what verify replays.
* ``Tree``: every level of a fixed tree, for range proofs (``audit export``).
* ``range_root``: what an auditor runs against a signed root: a run of neighbouring leaves and the
  subtrees beside it give the root (one leaf is a run of one; RFC 9162's inclusion proof is that case).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

_sha256 = hashlib.sha256
_LEN = struct.Struct(">I")


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def record_leaf(entry_id: bytes, flat: Sequence[bytes]) -> bytes:
    """A stream entry's leaf: SHA-256 of 0x00, then its id and each field and value (``[field, value, ...]``
    as XRANGE gives them), each length-prefixed, in order. The id is covered, so a record moved to another
    id, or an id given another record's content, hashes differently."""
    if len(flat) == 2:  # every audit record has one field: the fast path verify's speed rests on
        name, value = flat
        return _sha256(b"".join((b"\x00", _LEN.pack(len(entry_id)), entry_id, _LEN.pack(len(name)), name,
                                 _LEN.pack(len(value)), value))).digest()
    parts = [b"\x00", _LEN.pack(len(entry_id)), entry_id]
    for part in flat:
        parts += (_LEN.pack(len(part)), part)
    return _sha256(b"".join(parts)).digest()


@dataclass(slots=True)
class Frontier:
    """The compact form of a log of ``size`` leaves: its perfect subtrees' roots, largest first."""

    size: int = 0
    roots: list[bytes] = field(default_factory=list)

    def add(self, leaf: bytes) -> None:
        size = self.size
        self.size = size + 1
        roots = self.roots
        while size & 1:  # carry, as in binary addition: each trailing one merges two subtrees of its height
            leaf = _sha256(b"\x01" + roots.pop() + leaf).digest()
            size >>= 1
        roots.append(leaf)

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves added so far (the hash of nothing for none)."""
        if not self.roots:
            return _sha256(b"").digest()
        node = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.roots))

    @classmethod
    def of(cls, leaves: Iterable[bytes]) -> Frontier:
        frontier = cls()
        for leaf in leaves:
            frontier.add(leaf)
        return frontier


class Tree:
    """Every level of the tree over ``leaves``: range proofs for any run of them."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        level = self.levels[0]
        while len(level) > 1:
            pairs = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) & 1:
                pairs.append(level[-1])  # the lone last node is carried up unchanged
            self.levels.append(pairs)
            level = pairs

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else _sha256(b"").digest()

    def node(self, lo: int, hi: int) -> bytes:
        """The root of the subtree over leaves ``lo..hi-1``: one the RFC's split reaches (``lo`` a multiple of
        its height's width; ``hi`` that width on, or the tree's end)."""
        return self.levels[(hi - lo - 1).bit_length()][lo >> (hi - lo - 1).bit_length()]

    def range_proof(self, start: int, end: int) -> list[bytes]:
        """What proves leaves ``start..end-1`` against the root: the subtrees beside the range, in the order
        ``range_root`` reads them (left to right). At most about 2 log2(n) hashes, whatever the range's length."""
        if not 0 <= start < end <= self.size:
            raise IndexError(f"leaves {start}..{end - 1} are not in a tree of {self.size}")
        proof: list[bytes] = []
        _walk(0, self.size, start, end, lambda lo, hi: proof.append(self.node(lo, hi)))
        return proof


def _walk(lo: int, hi: int, start: int, end: int, beside: Callable[[int, int], None]) -> None:
    """Visit, left to right, the largest subtrees of ``lo..hi-1`` (split as RFC 6962 splits) that lie wholly
    outside ``start..end-1``."""
    if hi <= start or lo >= end:
        beside(lo, hi)
    elif not (start <= lo and hi <= end):
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        _walk(lo, lo + k, start, end, beside)
        _walk(lo + k, hi, start, end, beside)


def range_root(start: int, leaves: Sequence[bytes], size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root of a tree of ``size`` leaves whose leaves ``start..start+len(leaves)-1`` are ``leaves``, with
    ``proof`` (``Tree.range_proof``) for the rest: compare it with a signed root. ``None`` when the proof
    does not fit the range (too few or too many hashes, or a range outside the tree).

    One hash per leaf and per inner node of the range, plus about 2 log2(size) for its edges: a run of
    neighbouring records costs little more than hashing their leaves (RFC 9162 proves one leaf at a time;
    this is the same tree's compact-range form)."""
    end = start + len(leaves)
    if not 0 <= start < end <= size:
        return None
    given = iter(proof)

    def mth(lo: int, hi: int) -> bytes | None:
        if hi <= start or lo >= end:
            return next(given, None)
        if start <= lo and hi <= end:
            return Frontier.of(leaves[lo - start:hi - start]).root()
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        left, right = mth(lo, lo + k), mth(lo + k, hi)
        return None if left is None or right is None else node_hash(left, right)

    root = mth(0, size)
    return root if next(given, None) is None else None
