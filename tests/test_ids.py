"""Stream ids as numbers: Redis's order, not text order; bytes and text alike."""

from __future__ import annotations

import pytest

from bus.ids import id_key, id_ms, predecessor, successor


@pytest.mark.parametrize(("entry_id", "key"), [
    ("0-0", (0, 0)), ("5", (5, 0)), (b"1700000000000-12", (1_700_000_000_000, 12)),
    ("18446744073709551615-18446744073709551615", (2**64 - 1, 2**64 - 1)),
])
def test_an_id_as_numbers(entry_id: str | bytes, key: tuple[int, int]) -> None:
    assert id_key(entry_id) == key and id_ms(entry_id) == key[0]


def test_ids_order_as_redis_orders_them_and_the_successor_is_the_next() -> None:
    assert id_key("9-0") < id_key("10-0") and "9-0" > "10-0"  # text order would be wrong
    assert id_key("10-9") < id_key("10-10") < id_key(successor("10-10")) == (10, 11)


@pytest.mark.parametrize(("entry_id", "after"), [
    ("7-18446744073709551615", "8-0"),  # a partner may write the largest sequence: the next id is the next ms
    ("18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551615"),  # none after
])
def test_the_successor_of_the_largest_sequence_is_a_valid_id(entry_id: str, after: str) -> None:
    assert successor(entry_id) == after


@pytest.mark.parametrize(("entry_id", "before"), [
    ("10-5", "10-4"), ("8-0", "7-18446744073709551615"), ("0-0", "0-0"),  # 0-0 has none before: itself
])
def test_the_predecessor_is_the_id_just_before(entry_id: str, before: str) -> None:
    assert predecessor(entry_id) == before
    assert entry_id == "0-0" or successor(before) == entry_id
