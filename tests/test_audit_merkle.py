"""The RFC 6962 tree, its compact frontier and range proofs, against the RFC's recursive definition;
the signed checkpoint format: tampering with a body, an unknown key, and key rotation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bus.audit.checkpoint import LogHead, from_json, leaves_from_json, parse_body, sign, to_json
from bus.audit.merkle import Frontier, Tree, leaf_hash, node_hash, range_root, record_leaf
from bus.audit.signing import key_id, load_public_keys, new_key_file, public_pem, router_signer
from bus.errors import AuditError


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, as written: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


LEAVES = [leaf_hash(str(i).encode()) for i in range(70)]


@pytest.mark.parametrize("n", range(0, 70))
def test_frontier_and_tree_give_the_rfc_root_at_every_size(n: int) -> None:
    expected = mth(LEAVES[:n])
    assert Frontier.of(LEAVES[:n]).root() == expected
    assert Tree(LEAVES[:n]).root() == expected
    assert len(Frontier.of(LEAVES[:n]).roots) == bin(n).count("1")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31, 33])
def test_every_range_proof_verifies_and_no_wrong_one_does(n: int) -> None:
    tree = Tree(LEAVES[:n])
    root = tree.root()
    for start in range(n):
        for end in range(start + 1, n + 1):
            run, proof = LEAVES[start:end], tree.range_proof(start, end)
            assert range_root(start, run, n, proof) == root
            assert len(proof) <= 2 * n.bit_length()
            for i in range(len(run)):  # any one leaf of the run forged
                assert range_root(start, [*run[:i], leaf_hash(b"forged"), *run[i + 1:]], n, proof) != root
            if proof:
                assert range_root(start, run, n, proof[:-1]) is None  # a hash short
                forged = [node_hash(proof[0], proof[0]), *proof[1:]]
                assert range_root(start, run, n, forged) != root
            assert range_root(start, run, n, [*proof, root]) is None  # a hash too many
            if start + 1 < n and end < n:
                assert range_root(start + 1, run, n, proof) != root  # the same run claimed one place on


def test_a_single_leafs_range_proof_is_its_rfc_9162_inclusion_path() -> None:
    """RFC 9162 2.1.3.1's audit path, computed here from its recursive definition: the same hashes (the RFC
    lists them bottom up, a range proof left to right)."""
    def path(m: int, leaves: list[bytes]) -> list[bytes]:
        if len(leaves) <= 1:
            return []
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return [*path(m, leaves[:k]), mth(leaves[k:])] if m < k else [*path(m - k, leaves[k:]), mth(leaves[:k])]
    for n in (1, 6, 13, 69):
        tree = Tree(LEAVES[:n])
        for m in range(n):
            assert sorted(tree.range_proof(m, m + 1)) == sorted(path(m, LEAVES[:n]))


def test_a_range_outside_the_tree_is_refused() -> None:
    tree = Tree(LEAVES[:5])
    for start, end in ((0, 6), (3, 3), (-1, 2)):
        with pytest.raises(IndexError):
            tree.range_proof(start, end)
    assert range_root(5, LEAVES[:1], 5, []) is None and range_root(0, [], 5, []) is None


def test_a_leaf_covers_the_id_and_every_field_in_order() -> None:
    base = record_leaf(b"1-0", [b"decision", b"{}"])
    assert record_leaf(b"1-1", [b"decision", b"{}"]) != base
    assert record_leaf(b"1-0", [b"decision", b"{ }"]) != base
    assert record_leaf(b"1-0", [b"decision", b"{}", b"extra", b""]) != base
    assert record_leaf(b"1-0", [b"decisio", b"n{}"]) != base  # lengths are framed
    assert record_leaf(b"1-0", [b"a", b"1", b"b", b"2"]) != record_leaf(b"1-0", [b"b", b"2", b"a", b"1"])


def _heads() -> tuple[LogHead, ...]:
    return (LogHead("intel:decisions", 3, mth(LEAVES[:3]), "5-0"), LogHead("intel:audit", 0, mth([]), "-"))


def test_a_checkpoint_round_trips_and_any_edit_to_its_body_breaks_the_signature(tmp_path: Path) -> None:
    signer = new_key_file(tmp_path / "k.pem")
    keys = {signer.key_id: signer.public}
    checkpoint = sign("intelbus/intel", "2026-12-02T19:00:00.000Z", _heads(), signer)
    doc = to_json(checkpoint, {"intel:decisions": (0, [(b"1-0", LEAVES[0]), (b"2-5", LEAVES[1])])})
    again = from_json(doc)
    assert again == checkpoint and again.signed_by(keys) is None
    assert leaves_from_json(doc) == {"intel:decisions": (0, [(b"1-0", LEAVES[0]), (b"2-5", LEAVES[1])])}
    edited = doc | {"body": doc["body"].replace(" 3 ", " 2 ")}
    assert "bad signature" in str(from_json(edited).signed_by(keys))
    other = new_key_file(tmp_path / "other.pem")
    forged = sign("intelbus/intel", checkpoint.time, _heads(), other)
    assert "not a trusted public key" in str(forged.signed_by(keys))
    with pytest.raises(AuditError, match="expected 'log"):
        parse_body(doc["body"].replace("log intel:audit 0", "log intel:audit"))


def test_rotating_the_key_keeps_older_checkpoints_verifiable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = router_signer(None, data)  # made in the data folder on first use
    assert (data / "audit" / "signing.key").stat().st_mode & 0o777 == 0o600
    old = sign("intelbus/intel", "2026-12-01T00:00:00.000Z", _heads(), first)
    rotated = new_key_file(tmp_path / "new.pem")
    second = router_signer(tmp_path / "new.pem", data)
    assert second.key_id == rotated.key_id != first.key_id
    new = sign("intelbus/intel", "2026-12-02T00:00:00.000Z", _heads(), second)
    keyring = load_public_keys([data / "audit" / "keys"])
    assert set(keyring) == {first.key_id, second.key_id}
    assert old.signed_by(keyring) is None and new.signed_by(keyring) is None
    only_new = {key_id(second.public): second.public}
    assert old.signed_by(only_new) is not None
    (tmp_path / "pub.pem").write_bytes(public_pem(first.public))
    assert set(load_public_keys([tmp_path / "pub.pem"])) == {first.key_id}


def test_key_files_that_cannot_be_used_are_named(tmp_path: Path) -> None:
    new_key_file(tmp_path / "k.pem")
    with pytest.raises(AuditError, match="refusing to overwrite"):
        new_key_file(tmp_path / "k.pem")
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(AuditError, match="not an unencrypted PEM private key"):
        router_signer(tmp_path / "junk.pem", tmp_path / "data")
    with pytest.raises(AuditError, match="not a PEM public key"):
        load_public_keys([tmp_path / "junk.pem"])
    with pytest.raises(AuditError, match="cannot read"):
        router_signer(tmp_path / "missing.pem", tmp_path / "data")


