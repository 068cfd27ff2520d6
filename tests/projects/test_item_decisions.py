"""projects.lifecycle's item decisions (quality control calls them): each moves
only from the state it expects, and says how many items it moved."""

from __future__ import annotations

import pytest

from qianbiao.projects.items import items_import
from qianbiao.projects.lifecycle import (
    item_accept_reviewed,
    items_accept,
    items_send_to_review,
    items_widen,
)
from qianbiao.projects.models import Item, ItemState
from tests.factories import DatasetProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def items():
    """Four items of one project, one in each state a decision may find: pending,
    assigned (all slots live), in review, accepted."""
    project = DatasetProjectFactory(overlap=2)
    items_import(project=project, rows=[{"external_id": f"t{k}", "data": {"k": k}} for k in range(4)])
    found = list(Item.objects.filter(project=project).order_by("pk"))
    states = (ItemState.PENDING, ItemState.ASSIGNED, ItemState.REVIEW, ItemState.ACCEPTED)
    for item, state in zip(found, states, strict=True):
        Item.objects.filter(pk=item.pk).update(state=state)
    return {state.value: item.pk for item, state in zip(found, states, strict=True)}


def _states(ids):
    return dict(Item.objects.filter(pk__in=ids).values_list("pk", "state"))


def _slots(ids):
    return dict(Item.objects.filter(pk__in=ids).values_list("pk", "extra_slots"))


def test_items_accept_moves_undecided_items_only(items):
    before = _states(items.values())

    assert items_accept(item_ids=[items["pending"], items["assigned"]]) == 2
    assert items_accept(item_ids=[items["review"], items["accepted"]]) == 0  # refused: decided already
    assert items_accept(item_ids=[]) == 0

    assert _states(items.values()) == {
        **before,
        items["pending"]: ItemState.ACCEPTED,
        items["assigned"]: ItemState.ACCEPTED,
    }


def test_items_send_to_review_moves_undecided_items_only(items):
    before = _states(items.values())

    assert items_send_to_review(item_ids=[items["assigned"]]) == 1
    assert items_send_to_review(item_ids=[items["accepted"], items["review"]]) == 0

    assert _states(items.values()) == {**before, items["assigned"]: ItemState.REVIEW}


def test_items_widen_adds_slots_and_reopens_undecided_items_only(items):
    before_states, before_slots = _states(items.values()), _slots(items.values())

    assert items_widen(extra_slots={items["assigned"]: 2, items["pending"]: 1}) == 2
    assert items_widen(extra_slots={items["review"]: 2, items["accepted"]: 1}) == 0
    assert items_widen(extra_slots={}) == 0

    assert _states(items.values()) == {**before_states, items["assigned"]: ItemState.PENDING}
    assert _slots(items.values()) == {
        **before_slots,
        items["assigned"]: before_slots[items["assigned"]] + 2,
        items["pending"]: before_slots[items["pending"]] + 1,
    }


def test_item_accept_reviewed_moves_an_item_in_review_only(items):
    before = _states(items.values())

    for state in ("pending", "assigned", "accepted"):
        assert item_accept_reviewed(item_id=items[state]) is False
    assert _states(items.values()) == before

    assert item_accept_reviewed(item_id=items["review"]) is True
    assert _states(items.values()) == {**before, items["review"]: ItemState.ACCEPTED}
    assert item_accept_reviewed(item_id=items["review"]) is False  # twice: nothing more to move
