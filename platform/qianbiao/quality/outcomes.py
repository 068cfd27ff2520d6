"""What deciding an item comes to: the ``Decision`` each entry point of
decisions.py returns per item, and the check that an item's state moved with it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


class Outcome:
    WAITING = "waiting"  # not all its annotations are in
    ACCEPTED = "accepted"  # a Result was written
    MORE_ANNOTATORS = "more_annotators"  # agreement too low: extra slots added
    REVIEW = "review"  # agreement too low at the most annotators: sent to review
    GOLD_MARKED = "gold_marked"  # a gold item: new answers marked
    ALREADY_DECIDED = "already_decided"


@dataclass(frozen=True)
class Decision:
    item_id: int
    outcome: str
    method: str = ""
    agreement: float | None = None
    annotations: int = 0
    detail: str = ""


class ItemStateConflict(RuntimeError):
    """An item was not in the state its decision expected."""


def items_moved_check(*, expected: Collection[int], moved: int, to: str) -> None:
    """Raise unless the lifecycle moved every item the decision expected to move.

    The items are locked (or, for a review, only its decision moves them), so a
    refusal means their state changed behind the lock: the caller's transaction
    is rolled back rather than commit a Result or Review their state contradicts."""
    if moved != len(expected):
        raise ItemStateConflict(f"{len(expected) - moved} of items {sorted(expected)} not moved to {to}")
