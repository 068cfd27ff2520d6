"""Property tests of the distributor's invariants.

The planner (a pure function) is checked against its specification on random
candidates and items; the whole distributor is checked on random workforces in
PostgreSQL, with eligibility recomputed here from the generated facts rather
than by the selector under test.

Fairness bound (what the tests assert):
  two candidates a, b that start with the same open load and never run out of
  room end with planned counts |c_a - c_b| <= 1 + k_ab, where k_ab is the number
  of items that exactly one of them was barred from (already held it). On fresh
  items (k_ab = 0) that is max - min <= 1. Proof sketch: when a is chosen for an
  item and b is not, either b was barred, or b's key (load, -quality, id) came
  after a's, so c_b >= c_a before the step and c_a - c_b <= 1 after it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qianbiao.programme.models import Grade, grade_rank
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import (
    LIVE_ASSIGNMENT_STATES,
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    Item,
    ItemState,
)
from qianbiao.projects.planner import Candidate, ItemNeed, plan_gold, plan_ordinary
from qianbiao.workforce.models import Annotator, AnnotatorStatus
from qianbiao.workforce.services import LanguageSpec, SkillSpec
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory, LanguageFactory

QUALITIES = (0.3, 0.5, 0.5, 0.9)


@st.composite
def scenarios(draw, *, fresh: bool = False, equal_load: bool = False):
    ids = draw(st.lists(st.integers(1, 400), min_size=1, max_size=25, unique=True))
    start_load = draw(st.integers(0, 5))
    candidates = [
        Candidate(
            annotator_id=i,
            load=start_load if equal_load else draw(st.integers(0, 12)),
            room=draw(st.integers(0, 15)),
            quality=draw(st.sampled_from(QUALITIES)),
        )
        for i in ids
    ]
    overlap = draw(st.integers(1, 5))
    n_items = draw(st.integers(0, 40))
    items = []
    for item_id in range(1, n_items + 1):
        if fresh:
            free, taken = tuple(range(overlap)), frozenset()
        else:
            # Bit masks draw much faster than sets: any subset of the slots, and
            # any subset of a window of up to 6 candidates (plus a stranger).
            free_mask = draw(st.integers(0, 2**overlap - 1))
            free = tuple(s for s in range(overlap) if free_mask >> s & 1)
            window = min(len(ids), 6)
            taken_mask, offset = (
                draw(st.integers(0, 2 ** (window + 1) - 1)),
                draw(st.integers(0, len(ids) - 1)),
            )
            taken = frozenset(
                ids[(offset + b) % len(ids)] if b < window else 9999
                for b in range(window + 1)
                if taken_mask >> b & 1
            )
        items.append(ItemNeed(item_id, free, taken))
    return candidates, items


def _snapshot(candidates):
    return {c.annotator_id: (c.load, c.room, c.quality) for c in candidates}


@given(scenarios())
def test_plan_respects_slots_exclusions_and_room(scenario):
    candidates, items = scenario
    start = _snapshot(candidates)
    planned = plan_ordinary(items, candidates)

    pairs = [(p.item_id, p.annotator_id) for p in planned]
    assert len(pairs) == len(set(pairs)), "an (item, annotator) pair planned twice"
    by_item = {i.item_id: i for i in items}
    slots = Counter((p.item_id, p.slot) for p in planned)
    assert max(slots.values(), default=1) == 1, "a slot filled twice"
    for p in planned:
        assert p.annotator_id not in by_item[p.item_id].taken_by
        assert p.slot in by_item[p.item_id].free_slots
    counts = Counter(p.annotator_id for p in planned)
    for c in candidates:
        load0, room0, _ = start[c.annotator_id]
        assert counts[c.annotator_id] <= room0, "an annotator went past their room"
        assert c.room == room0 - counts[c.annotator_id] >= 0
        assert c.load == load0 + counts[c.annotator_id]


@given(scenarios())
def test_plan_is_least_loaded_first_and_work_conserving(scenario):
    """Replays the plan: each item's chosen annotators come before every
    unchosen one who could have taken it (by open load, then higher quality,
    then lower id), and an item left with a free slot means nobody who could
    take it had room left."""
    candidates, items = scenario
    start = _snapshot(candidates)
    planned = plan_ordinary(items, candidates)
    load = {i: v[0] for i, v in start.items()}
    room = {i: v[1] for i, v in start.items()}
    quality = {i: v[2] for i, v in start.items()}
    per_item = defaultdict(list)
    for p in planned:
        per_item[p.item_id].append(p)
    for item in items:
        chosen = per_item[item.item_id]
        chosen_ids = {p.annotator_id for p in chosen}
        for p in chosen:
            assert p.load_at_decision == load[p.annotator_id]
        could = [i for i in load if room[i] > 0 and i not in item.taken_by and i not in chosen_ids]
        if chosen:
            worst_chosen = max((load[i], -quality[i], i) for i in chosen_ids)
            for other in could:
                assert (load[other], -quality[other], other) > worst_chosen
        if len(chosen) < len(item.free_slots):
            assert could == [], "an item kept a free slot while someone able to take it had room"
        for i in chosen_ids:
            load[i] += 1
            room[i] -= 1
    # And at the end: every item short of its free slots has no able candidate with room.
    for item in items:
        if len(per_item[item.item_id]) < len(item.free_slots):
            on_it = item.taken_by | {p.annotator_id for p in per_item[item.item_id]}
            assert all(c.room == 0 for c in candidates if c.annotator_id not in on_it)


@given(scenarios(fresh=True, equal_load=True))
def test_fair_within_one_on_fresh_items(scenario):
    """Equal starting load, ample room, fresh items: max - min planned <= 1."""
    candidates, items = scenario
    total_slots = sum(len(i.free_slots) for i in items)
    for c in candidates:
        c.room = total_slots + 1  # ample: nobody runs out
    planned = plan_ordinary(items, candidates)
    counts = Counter(p.annotator_id for p in planned)
    per = [counts[c.annotator_id] for c in candidates]
    assert max(per) - min(per) <= 1


@given(scenarios(equal_load=True))
def test_fair_within_the_stated_bound_when_some_already_held_items(scenario):
    candidates, items = scenario
    total_slots = sum(len(i.free_slots) for i in items)
    for c in candidates:
        c.room = total_slots + 1
    planned = plan_ordinary(items, candidates)
    counts = Counter(p.annotator_id for p in planned)
    ids = [c.annotator_id for c in candidates]
    for a in ids:
        for b in ids:
            barred = sum(1 for i in items if (a in i.taken_by) != (b in i.taken_by))
            assert abs(counts[a] - counts[b]) <= 1 + barred


@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=10),
    st.lists(st.integers(1, 500), max_size=12, unique=True),
    st.sampled_from([0.0, 0.05, 0.2, 0.5]),
)
def test_gold_never_repeats_and_stays_within_room(ordinary_totals, gold_ids, ratio):
    candidates = [
        Candidate(annotator_id=k + 1, load=0, room=(k * 7) % 11, ordinary_total=n)
        for k, n in enumerate(ordinary_totals)
    ]
    rooms = {c.annotator_id: c.room for c in candidates}
    planned = plan_gold(candidates, gold_ids, ratio)
    pairs = [(p.item_id, p.annotator_id) for p in planned]
    assert len(pairs) == len(set(pairs))
    assert all(p.slot is None and p.item_id in gold_ids for p in planned)
    counts = Counter(p.annotator_id for p in planned)
    for c in candidates:
        assert counts[c.annotator_id] <= rooms[c.annotator_id]
        if 0 < ratio < 1:
            owed = int(c.ordinary_total * ratio / (1 - ratio) + 0.5)
            assert counts[c.annotator_id] == min(owed, rooms[c.annotator_id], len(gold_ids))


# --- The whole distributor on PostgreSQL -------------------------------------

GRADES = [Grade.L1, Grade.L2, Grade.L3, Grade.L4, Grade.L5]

people = st.fixed_dictionaries(
    {
        "grade": st.sampled_from(GRADES),
        "skill": st.sampled_from([None, 1, 2, 3]),
        "language": st.sampled_from([None, 1, 2, 3]),
        "status": st.sampled_from([AnnotatorStatus.ACTIVE] * 4 + [AnnotatorStatus.SUSPENDED]),
        "paused": st.booleans(),
    }
)


@pytest.mark.django_db
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    workforce=st.lists(people, min_size=1, max_size=9),
    overlap=st.integers(1, 3),
    open_cap=st.integers(1, 6),
    daily_quota=st.integers(1, 8),
    n_items=st.integers(1, 14),
    needs_language=st.booleans(),
)
def test_distributor_never_breaks_eligibility_caps_or_overlap(
    workforce, overlap, open_cap, daily_quota, n_items, needs_language
):
    with transaction.atomic():
        _check_distribution(workforce, overlap, open_cap, daily_quota, n_items, needs_language)
        transaction.set_rollback(True)  # each example starts from an empty database


def _check_distribution(workforce, overlap, open_cap, daily_quota, n_items, needs_language):
    miao = LanguageFactory(code="hmn")
    facilities = {g: FacilityFactory(grade=g, physical_security=grade_rank(g) >= 3) for g in GRADES}
    project = DatasetProjectFactory(
        overlap=overlap,
        open_cap=open_cap,
        daily_quota=daily_quota,
        required_language=miao if needs_language else None,
        min_grade=Grade.L3,
        min_skill_proficiency=2,
        min_language_proficiency=2,
    )
    eligible = set()
    for person in workforce:
        annotator = AnnotatorFactory(
            facility=facilities[person["grade"]],
            skills=(SkillSpec("bounding_box", person["skill"]),) if person["skill"] else (),
            languages=(LanguageSpec("hmn", person["language"]),) if person["language"] else (),
        )
        if person["status"] != AnnotatorStatus.ACTIVE:
            Annotator.objects.filter(pk=annotator.pk).update(status=person["status"])
        if person["paused"]:
            AnnotatorStanding.objects.create(project=project, annotator=annotator, paused=True)
        if (
            person["status"] == AnnotatorStatus.ACTIVE
            and grade_rank(person["grade"]) >= grade_rank(Grade.L3)
            and (person["skill"] or 0) >= 2
            and (not needs_language or (person["language"] or 0) >= 2)
            and not person["paused"]
        ):
            eligible.add(annotator.pk)
    items_import(project=project, rows=[{"external_id": f"x{k}", "data": {"k": k}} for k in range(n_items)])

    project_distribute(project_id=project.pk, chunk_items=5)
    project_distribute(project_id=project.pk, chunk_items=5)  # a second run finds nothing more to do

    live = list(
        Assignment.objects.filter(project=project, state__in=LIVE_ASSIGNMENT_STATES).values_list(
            "item_id", "annotator_id", "slot"
        )
    )
    assert {a for _, a, _ in live} <= eligible, "work went to an ineligible annotator"
    per_item = Counter(i for i, _, _ in live)
    assert max(per_item.values(), default=0) <= overlap
    assert len({(i, a) for i, a, _ in live}) == len(live)
    assert len({(i, s) for i, _, s in live}) == len(live)
    load = Counter(a for _, a, _ in live)
    cap = min(open_cap, daily_quota)
    assert max(load.values(), default=0) <= cap
    on_item = defaultdict(set)
    for i, a, _ in live:
        on_item[i].add(a)
    for item_id in Item.objects.filter(project=project).values_list("pk", flat=True):
        if per_item[item_id] < overlap:  # work-conserving: everyone else able is full
            assert all(load[a] == cap for a in eligible - on_item[item_id])
    counts = [load[a] for a in eligible]
    assert not counts or max(counts) - min(counts) <= 1
    full = {i for i, n in per_item.items() if n == overlap}
    states = dict(Item.objects.filter(project=project).values_list("pk", "state"))
    assert {i for i, s in states.items() if s == ItemState.ASSIGNED} == full
    assert not Assignment.objects.filter(project=project).exclude(state=AssignmentState.OPEN).exists()
