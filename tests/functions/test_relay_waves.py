"""The relay's pure decisions on an ordered outbox, without a database: which of a claim's
events go in which wave, which wait with a failed head, which keys a record finishes, and
which claimed rows are held behind an event outside the claim."""

from __future__ import annotations

from datetime import datetime

from functions.relay.delivery import finished_keys, followers, next_wave
from functions.relay.outbox import OutboxRow, held_rows

K1, K2 = b"1" * 16, b"2" * 16


def row(sequence: int, key: bytes | None, target: str = "arn:a") -> OutboxRow:
    return OutboxRow(sequence, f"e{sequence}", target, 10, 0, key)


# 1: K1, 2: K2, 3: K1, 4: unkeyed, 5: K1 of another target, 6: K2, 7: K1
CLAIM = [row(1, K1), row(2, K2), row(3, K1), row(4, None), row(5, K1, "arn:b"), row(6, K2)]
CLAIM.append(row(7, K1))


def sequences(rows: list[OutboxRow]) -> list[int]:
    return [r.sequence for r in rows]


def test_waves_take_one_event_per_key_and_target_after_the_one_before_it_settled():
    assert sequences(next_wave(CLAIM, set(), set())) == [1, 2, 4, 5]
    # Wave 0 delivered: each key's next event; nothing of a key before its row settles.
    assert sequences(next_wave(CLAIM, {1, 2, 4, 5}, {1, 2, 4, 5})) == [3, 6]
    assert sequences(next_wave(CLAIM, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6})) == [7]
    assert next_wave(CLAIM, set(range(1, 8)), set(range(1, 8))) == []


def test_a_key_whose_event_was_not_settled_goes_no_further():
    # 1 to be retried (handled, not settled): K1 of arn:a stops; K2 goes on.
    assert sequences(next_wave(CLAIM, {2, 4, 5}, {1, 2, 4, 5})) == [6]
    # A key's event sent but not yet recorded blocks its next one as well.
    assert sequences(next_wave(CLAIM, set(), {1})) == [2, 4, 5]


def test_a_failed_heads_followers_are_its_keys_later_unhandled_rows():
    assert followers(CLAIM, [1], {1}) == [3, 7]
    assert followers(CLAIM, [1, 2], {1, 2}) == [3, 6, 7]
    assert followers(CLAIM, [3], {1, 3}) == [7]
    assert followers(CLAIM, [4], {4}) == []  # unkeyed: nothing waits for it


def test_a_key_is_finished_once_every_claimed_row_of_it_is_handled():
    # 1 recorded, 3 and 7 not yet: K1 is not finished; K1 of arn:b (5) is.
    assert finished_keys(CLAIM, [1, 5], {1, 5}) == {"arn:b": {K1: 5}}
    assert finished_keys(CLAIM, [7], {1, 3, 7}) == {"arn:a": {K1: 7}}
    assert finished_keys(CLAIM, [2, 4, 6], {2, 4, 6}) == {"arn:a": {K2: 6}}


def test_a_held_row_holds_every_later_claimed_row_of_its_key_until_the_same_time():
    until = datetime(2026, 1, 1, 12, 0, 0)
    assert held_rows(CLAIM, {3: until}) == {3: until, 7: until}
    assert held_rows(CLAIM, {1: until}) == {1: until, 3: until, 7: until}
    assert held_rows(CLAIM, {}) == {}
    # Another target's rows of the same key are not held by it.
    assert 5 not in held_rows(CLAIM, {1: until})
