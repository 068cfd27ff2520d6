"""Qianbiao's own types for what the Label Studio adapter hands back.

Nothing here refers to label_studio_sdk: callers never see an SDK object, only these
frozen dataclasses (and the exceptions in :mod:`annotation.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Keys of a Label Studio task's ``data`` that belong to Qianbiao, not to the item.
ASSIGNMENT_KEY = "assignment_id"
ROUTE_KEY = "route_to"
ITEM_KEY = "item_id"
RESERVED_DATA_KEYS = frozenset({ASSIGNMENT_KEY, ROUTE_KEY, ITEM_KEY})


@dataclass(frozen=True)
class LabelConfig:
    """A label config built from parameters: the XML and what a task's data must carry."""

    kind: str
    xml: str
    data_keys: tuple[str, ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    label_config: str
    maximum_annotations: int
    task_count: int = 0


@dataclass(frozen=True)
class AccountSpec:
    """An account to have in Label Studio. Use a pseudonymous email: it is the lookup key."""

    email: str
    username: str = ""
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    username: str = ""
    created: bool = False  # created by this call (False: it was already there)


@dataclass(frozen=True)
class AnnotatorLogin:
    """A Label Studio account that can act as itself: its own API token."""

    user_id: int
    email: str
    token: str = field(repr=False)
    created: bool = False


@dataclass(frozen=True)
class QueueView:
    """A saved Data Manager view holding one annotator's queue in one project."""

    id: int
    project_id: int
    route_key: str
    title: str
    created: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """One assignment to push: the item's data, whom it is for, and our assignment id."""

    assignment_id: int | str
    route_key: str
    data: dict[str, Any]
    item_id: int | str | None = None

    def task_data(self) -> dict[str, Any]:
        clash = RESERVED_DATA_KEYS & self.data.keys()
        if clash:
            raise ValueError(f"item data uses reserved keys {sorted(clash)}")
        data = dict(self.data)
        data[ASSIGNMENT_KEY] = self.assignment_id
        data[ROUTE_KEY] = str(self.route_key)  # queue views match it as a string
        if self.item_id is not None:
            data[ITEM_KEY] = self.item_id
        return data


@dataclass(frozen=True)
class PushedTask:
    assignment_id: int | str
    task_id: int
    created: bool  # False: Label Studio already had a task for this assignment


@dataclass(frozen=True)
class Task:
    id: int
    project_id: int
    data: dict[str, Any]

    @property
    def assignment_id(self) -> Any:
        return self.data.get(ASSIGNMENT_KEY)

    @property
    def route_key(self) -> Any:
        return self.data.get(ROUTE_KEY)


@dataclass(frozen=True)
class LabelStudioAnnotation:
    """One annotation as Label Studio holds it, with the assignment its task's data names."""

    id: int
    task_id: int
    project_id: int | None
    completed_by: int | None
    result: list[dict[str, Any]]
    lead_time: float | None
    was_cancelled: bool
    created_at: datetime | None
    updated_at: datetime | None
    assignment_id: Any = None  # what the task's data claims: a consistency check, never the key
    # Who Label Studio's server saw make the last change (``updated_by``): unlike
    # ``completed_by``, a client cannot set it in the request body.
    updated_by: int | None = None


@dataclass(frozen=True)
class Webhook:
    id: int
    project_id: int | None
    url: str
    actions: tuple[str, ...]
    is_active: bool


@dataclass(frozen=True)
class WebhookEvent:
    """What a delivered webhook says, without the raw payload (which carries the project token)."""

    action: str
    project_id: int | None
    annotations: tuple[LabelStudioAnnotation, ...] = ()
    deleted_annotation_ids: tuple[int, ...] = ()
    task_ids: tuple[int, ...] = ()
