"""Immediate reactions to changes made elsewhere, so work moves within seconds.

These are only accelerators: each sends one message after commit, and the
worker re-checks the database before acting. If a message is lost, or a change
bypasses ``save()`` (a queryset ``update``), the beat sweep finds the same work
within a minute. The workforce app knows nothing of projects: we listen to its
model signals rather than have it call us.
"""

from __future__ import annotations

from django.db.models.signals import post_save

from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .models import AnnotatorStanding, DatasetProject, ProjectStatus

# Changes to a project that can make distribution due: resuming it, raising
# its priority, or loosening what it asks of annotators.
_PROJECT_FIELDS_THAT_MATTER = frozenset(
    {
        "status",
        "priority",
        "overlap",
        "open_cap",
        "daily_quota",
        "min_grade",
        "min_skill_proficiency",
        "required_language",
        "min_language_proficiency",
    }
)


def _touched(update_fields, fields) -> bool:
    return update_fields is None or bool(set(update_fields) & set(fields))


def annotator_saved(sender, instance: Annotator, update_fields=None, **kwargs) -> None:
    """An annotator who left or was suspended loses their open work at once."""
    if instance.status == AnnotatorStatus.ACTIVE or not _touched(update_fields, {"status"}):
        return
    from workers import enqueue

    enqueue.withdraw_annotator_work(instance.pk)


def standing_saved(sender, instance: AnnotatorStanding, update_fields=None, **kwargs) -> None:
    """An annotator paused for quality in a project loses their open work there."""
    if not instance.paused or not _touched(update_fields, {"paused"}):
        return
    from workers import enqueue

    enqueue.withdraw_annotator_work(instance.annotator_id, instance.project_id)


def project_saved(sender, instance: DatasetProject, update_fields=None, **kwargs) -> None:
    """A project resumed, reprioritised or loosened is distributed at once."""
    if instance.status != ProjectStatus.ACTIVE or not _touched(update_fields, _PROJECT_FIELDS_THAT_MATTER):
        return
    from workers import enqueue

    enqueue.distribute_project(instance.pk)


def connect() -> None:
    post_save.connect(annotator_saved, sender=Annotator, dispatch_uid="projects.annotator_saved")
    post_save.connect(standing_saved, sender=AnnotatorStanding, dispatch_uid="projects.standing_saved")
    post_save.connect(project_saved, sender=DatasetProject, dispatch_uid="projects.project_saved")
