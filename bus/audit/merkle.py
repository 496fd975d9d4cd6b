"""RFC 6962 / RFC 9162 Merkle tree hashing over a log's records, in log order: pure, no I/O.

A leaf is ``SHA-256(0x00 || record)`` (``record_leaf``: the entry id, fields and values), an inner node
``SHA-256(0x01 || left || right)``. The tree of ``n`` leaves is the RFC's: pair nodes left to right, a
lone last node carried up unchanged. Three shapes of it are used here:

* ``Frontier``: the roots of the perfect subtrees of a growing log (at most log2(n) hashes), enough to add
  leaves and compute the root at every size: what the checkpointer keeps, and what verify replays.
* ``Tree``: every level of a fixed tree, for inclusion proofs (``audit export``, ``audit explain``).
* ``verify_inclusion``: RFC 9162 section 2.1.3.2, what an auditor runs against a signed root.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
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
    """Every level of the tree over ``leaves``: inclusion proofs for any of them."""

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

    def inclusion(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index`` (RFC 9162 2.1.3.1), bottom up."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def proof_length(index: int, size: int, proved: set[tuple[int, int]]) -> int:
    """How much of leaf ``index``'s audit path a verifier holding ``proved`` (the places of nodes already
    proved, as ``verify_inclusion``'s ``known`` keys them) reads: up to the first proved place. Marks the
    places this proof proves. An exporter keeps ``proved`` as its reader will, and ships only that much."""
    fn, sn, level, used = index, size - 1, 0, 0
    places = [(0, fn)]
    while (level, fn) not in proved and sn > 0:
        if not fn & 1 and fn == sn:
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
                level += 1
        fn >>= 1
        sn >>= 1
        level += 1
        used += 1
        places.append((level, fn))
    proved.update(places)
    return used


def verify_inclusion(leaf: bytes, index: int, size: int, path: Iterable[bytes], root: bytes,
                     known: dict[tuple[int, int], bytes] | None = None) -> bool:
    """RFC 9162 section 2.1.3.2: whether ``path`` proves ``leaf`` is leaf ``index`` of the tree ``root``.

    ``known`` (kept by the caller across proofs of one tree): nodes already proved, by (level, position).
    A path that reaches one stops there, so neighbouring records' proofs cost a hash or two, not the
    whole path, and the rest of the path is never read (``path`` may decode lazily); a path that
    reaches a proved place with another hash fails. What a good proof proves joins ``known``."""
    if not 0 <= index < size:
        return False
    known = {} if known is None else known
    fn, sn, node, level = index, size - 1, leaf, 0
    trail = [((0, fn), node)]
    hit = known.get((0, fn))
    for sibling in path:
        if hit is not None:
            break
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = _sha256(b"\x01" + sibling + node).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
                level += 1
        else:
            node = _sha256(b"\x01" + node + sibling).digest()
        fn >>= 1
        sn >>= 1
        level += 1
        place = (level, fn)
        trail.append((place, node))
        hit = known.get(place)
    good = node == hit if hit is not None else sn == 0 and node == root
    if good:
        known.update(trail)
    return good
