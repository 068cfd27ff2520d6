"""Immediate reactions to changes made elsewhere, so work moves within seconds.

These are only accelerators: each sends one message after commit, and the
worker re-checks the database before acting. If a message is lost, or a change
bypasses ``save()`` (a queryset ``update``), the beat sweep finds the same work
within a minute. The workforce app knows nothing of projects: we listen to its
model signals rather than have it call us.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save

from qianbiao.programme.models import Facility, Grade, grade_rank
from qianbiao.workforce.models import Annotator, AnnotatorLanguage, AnnotatorSkill, AnnotatorStatus

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


def annotator_saved(sender, instance: Annotator, created=False, update_fields=None, **kwargs) -> None:
    """An annotator who left or was suspended loses their open work at once, and
    so does one moved to another facility (a transfer saves ``facility``) in the
    projects whose grade the new facility lacks. A save that does not name the
    facility cannot move it unnoticed for long: the sweep checks eligibility."""
    if instance.status != AnnotatorStatus.ACTIVE:
        if not _touched(update_fields, {"status"}):
            return
    elif created or not update_fields or "facility" not in update_fields:
        return
    from workers import enqueue

    enqueue.withdraw_annotator_work(instance.pk)


def qualification_changed(
    sender, instance: AnnotatorSkill | AnnotatorLanguage, created=False, update_fields=None, **kwargs
) -> None:
    """A skill or language lowered, changed or removed may end the annotator's
    eligibility for projects that need it: the worker re-checks each project.
    (A new one can only widen it.)"""
    if created or not _touched(update_fields, {"proficiency", "task_type", "language"}):
        return
    from workers import enqueue

    enqueue.withdraw_annotator_work(instance.annotator_id)


def facility_saving(sender, instance: Facility, update_fields=None, **kwargs) -> None:
    """Notes whether this save lowers the facility's grade (read before it is written)."""
    instance._grade_lowered = False
    if instance.pk is None or instance.grade not in Grade.values or not _touched(update_fields, {"grade"}):
        return
    before = Facility.objects.filter(pk=instance.pk).values_list("grade", flat=True).first()
    instance._grade_lowered = before is not None and grade_rank(instance.grade) < grade_rank(before)


def facility_saved(sender, instance: Facility, created=False, **kwargs) -> None:
    """A facility graded down may seat annotators below some projects' grade: one
    sweep revokes their work there, set-based, rather than a message per annotator."""
    if created or not getattr(instance, "_grade_lowered", False):
        return
    from workers import enqueue

    enqueue.sweep()


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
    for model in (AnnotatorSkill, AnnotatorLanguage):
        label = model._meta.model_name
        post_save.connect(qualification_changed, sender=model, dispatch_uid=f"projects.{label}_saved")
        post_delete.connect(qualification_changed, sender=model, dispatch_uid=f"projects.{label}_deleted")
    pre_save.connect(facility_saving, sender=Facility, dispatch_uid="projects.facility_saving")
    post_save.connect(facility_saved, sender=Facility, dispatch_uid="projects.facility_saved")
