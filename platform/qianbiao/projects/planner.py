"""Who gets which item: a pure function, so its invariants can be property-tested
without a database.

Water-filling: every candidate sits in a heap keyed by (open load, -quality, id).
Each slot goes to the least-loaded eligible candidate not already on that item,
so loads even out, ties go to higher quality, and nobody passes their room (the
lesser of the open-work cap and what is left of the daily quota) while anyone
eligible still has some.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass
class Candidate:
    annotator_id: int
    load: int  # open assignments in the project now
    room: int  # how many more this annotator may take now
    quality: float = 0.5
    ordinary_total: int = 0  # ordinary assignments ever given in the project
    gold_total: int = 0  # gold assignments ever given in the project
    gold_seen: set[int] = field(default_factory=set)
    # Set while the annotator sits the project's entry exam (quality control
    # decides who does): they get only gold, this many more, and no ordinary item.
    exam_due: int | None = None


@dataclass(frozen=True)
class ItemNeed:
    item_id: int
    free_slots: tuple[int, ...]
    taken_by: frozenset[int] = frozenset()


class Planned(NamedTuple):
    """One decision. A named tuple, not a frozen dataclass: a million-item
    project makes three million of these, and a tuple is built several times
    faster."""

    item_id: int
    annotator_id: int
    slot: int | None  # None for a gold assignment
    load_at_decision: int


def plan_ordinary(items: Iterable[ItemNeed], candidates: Sequence[Candidate]) -> list[Planned]:
    """Assign free slots of ``items`` in order; mutates candidates' load/room."""
    by_id = {c.annotator_id: c for c in candidates}
    heap = [(c.load, -c.quality, c.annotator_id) for c in candidates if c.room > 0 and c.exam_due is None]
    heapq.heapify(heap)
    planned: list[Planned] = []
    for item in items:
        if not heap:
            break
        skipped = []
        chosen: list[Candidate] = []
        while len(chosen) < len(item.free_slots) and heap:
            entry = heapq.heappop(heap)
            if entry[2] in item.taken_by:
                skipped.append(entry)
                continue
            chosen.append(by_id[entry[2]])
        for slot, candidate in zip(item.free_slots, chosen, strict=False):
            planned.append(Planned(item.item_id, candidate.annotator_id, slot, candidate.load))
            candidate.load += 1
            candidate.room -= 1
            candidate.ordinary_total += 1
            if candidate.room > 0:
                heapq.heappush(heap, (candidate.load, -candidate.quality, candidate.annotator_id))
        for entry in skipped:
            heapq.heappush(heap, entry)
    return planned


def gold_due(candidate: Candidate, gold_ratio: float) -> int:
    """Gold assignments owed so that gold is ``gold_ratio`` of all the annotator's work."""
    if gold_ratio <= 0 or gold_ratio >= 1:
        return 0
    target = int(candidate.ordinary_total * gold_ratio / (1 - gold_ratio) + 0.5)
    return max(0, target - candidate.gold_total)


def plan_gold(
    candidates: Sequence[Candidate], gold_item_ids: Sequence[int], gold_ratio: float
) -> list[Planned]:
    """Mix gold items in: each candidate gets the gold it is owed (within its
    room), choosing gold items it has not seen, rotated so that different
    annotators start at different gold items."""
    planned: list[Planned] = []
    if not gold_item_ids:
        return planned
    n = len(gold_item_ids)
    for candidate in candidates:
        owed = gold_due(candidate, gold_ratio) if candidate.exam_due is None else candidate.exam_due
        due = min(owed, candidate.room)
        if due <= 0:
            continue
        start = candidate.annotator_id % n
        for offset in range(n):
            if due == 0:
                break
            item_id = gold_item_ids[(start + offset) % n]
            if item_id in candidate.gold_seen:
                continue
            planned.append(Planned(item_id, candidate.annotator_id, None, candidate.load))
            candidate.gold_seen.add(item_id)
            candidate.gold_total += 1
            candidate.load += 1
            candidate.room -= 1
            if candidate.exam_due is not None:
                candidate.exam_due -= 1
            due -= 1
    return planned
