"""Creating and changing a dataset project: every rule about a project's
settings, in one place for every caller.

The REST API (for a client enterprise) and the admin (for Qianbiao's staff)
both write projects through ``project_create`` and ``project_update``; the
admin's form runs ``project_errors`` in its ``clean()`` first, so that a refused
setting shows on its field instead of failing the save. The only difference
between the two callers is ``may_complete``: completing a project is
Qianbiao's decision, never a client's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.enterprises.models import Enterprise

from .label_config import label_config_validate
from .models import Assignment, DatasetProject, ProjectStatus

# What a project may start as: "paused" means nothing before it has run.
CREATE_STATUSES = (ProjectStatus.DRAFT, ProjectStatus.ACTIVE)
# What a client may set the status to; "completed" is Qianbiao's to decide.
CLIENT_STATUSES = (ProjectStatus.DRAFT, ProjectStatus.ACTIVE, ProjectStatus.PAUSED)
STAFF_STATUSES = (*CLIENT_STATUSES, ProjectStatus.COMPLETED)
# Settings that the work already done depends on.
LOCKED_ONCE_STARTED = ("task_type", "label_config", "overlap")

Errors = dict[str, list[str]]


def project_changes(*, project: DatasetProject, data: Mapping[str, Any]) -> dict[str, Any]:
    """The values in ``data`` that differ from ``project``'s: only those are checked and saved."""
    return {name: value for name, value in data.items() if getattr(project, name) != value}


def _status_errors(status: str, *, allowed: tuple[str, ...]) -> list[str]:
    if status in allowed:
        return []
    return [_("Choose one of: %(allowed)s.") % {"allowed": ", ".join(allowed)}]


def _label_config_errors(config: str) -> list[str]:
    try:
        label_config_validate(config)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _deadline_errors(deadline) -> list[str]:
    if deadline is not None and deadline < timezone.localdate():
        return [_("The deadline is in the past.")]
    return []


def _not_a_client() -> str:
    # One message (and one catalog entry) for the API's 403 and the admin's field error.
    return _("Only a client enterprise can create dataset projects.")


def _client_errors(enterprise: Enterprise | None) -> list[str]:
    if enterprise is not None and not enterprise.is_client:
        return [_not_a_client()]
    return []


def project_errors(
    *, project: DatasetProject | None, data: Mapping[str, Any], may_complete: bool = False
) -> Errors:
    """Every project rule beyond a field's own validators, as field → messages.

    ``project`` is the stored project, None when creating. On create ``data``
    holds the new project's settings (an absent status means active); on
    update, only the settings that change (``project_changes``). ``client`` in
    ``data`` is the owning enterprise (the admin may set it; the API never does)."""
    errors: Errors = {}

    def add(field: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(field, []).extend(messages)

    creating = project is None
    if creating or "label_config" in data:
        add("label_config", _label_config_errors(data.get("label_config", "")))
    if creating:
        add("status", _status_errors(data.get("status", ProjectStatus.ACTIVE), allowed=CREATE_STATUSES))
    elif "status" in data:
        if project.status == ProjectStatus.COMPLETED:
            add("status", [_("A completed project cannot be reopened.")])
        else:
            allowed = STAFF_STATUSES if may_complete else CLIENT_STATUSES
            add("status", _status_errors(data["status"], allowed=allowed))
    if creating or "deadline" in data:
        add("deadline", _deadline_errors(data.get("deadline")))
    if "client" in data:
        add("client", _client_errors(data["client"]))
    if not creating:
        locked = [name for name in LOCKED_ONCE_STARTED if name in data]
        if locked and Assignment.objects.filter(project=project).exists():
            for name in locked:
                add(name, [_("Cannot be changed once annotators have been assigned work.")])
    return errors


@transaction.atomic
def project_create(*, enterprise: Enterprise, data: dict[str, Any]) -> DatasetProject:
    """A new project owned by ``enterprise``; ``data`` holds its settings (not ``client``)."""
    if not enterprise.is_client:
        raise PermissionDenied(_not_a_client())
    errors = project_errors(project=None, data=data)
    if errors:
        raise ValidationError(errors)
    project = DatasetProject(client=enterprise, **data)
    project.full_clean()
    project.save()
    return project


@transaction.atomic
def project_update(
    *, project: DatasetProject, data: dict[str, Any], may_complete: bool = False
) -> DatasetProject:
    """Change some settings; saves only those that differ from the stored row.

    The row is locked while the rules run, so that two changes at once are
    checked one after the other, each against what the other saved."""
    project = DatasetProject.objects.select_for_update().get(pk=project.pk)
    changed = project_changes(project=project, data=data)
    errors = project_errors(project=project, data=changed, may_complete=may_complete)
    if errors:
        raise ValidationError(errors)
    for name, value in changed.items():
        setattr(project, name, value)
    project.full_clean()
    if changed:
        project.save(update_fields=list(changed))
    return project
