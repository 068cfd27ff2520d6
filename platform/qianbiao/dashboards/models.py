"""Daily snapshots the dashboards read instead of raw rows (docs/ARCHITECTURE.md, "Scale").

A snapshot row is derived data: it can always be recomputed from the employment
history and the annotations (``backfill_snapshots``), so rows are replaced, never
edited by hand, and nothing else points at them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SnapshotScope(models.TextChoices):
    """The units and breakdowns headcount is counted for. The first four match
    ``programme.TargetScope`` so that targets join on (scope, code)."""

    PROVINCE = "province", _("Province")
    REGION = "region", _("Prefecture")
    PARK = "park", _("Park")
    FACILITY = "facility", _("Facility")
    GRADE = "grade", _("Facility grade")
    SKILL = "skill", _("Skill")
    LANGUAGE = "language", _("Language")
    ENTERPRISE = "enterprise", _("Employer")


class HeadcountSnapshot(models.Model):
    """Headcount of one unit (or breakdown value) at the end of one day.

    ``code`` is the unit's natural key: the region, park or facility code, the
    grade (``L3``), the task type, the ISO 639-3 code, or the employer's unified
    social credit code. For skills and languages an annotator counts once per
    skill or language held, so those rows add up to more than the headcount."""

    day = models.DateField(_("day"))
    scope = models.CharField(_("scope"), max_length=16, choices=SnapshotScope.choices)
    code = models.CharField(_("code"), max_length=32)
    headcount = models.PositiveIntegerField(_("headcount"))
    taken_at = models.DateTimeField(_("taken at"), auto_now=True)

    class Meta:
        verbose_name = _("headcount snapshot")
        verbose_name_plural = _("headcount snapshots")
        constraints = [
            # Leads with (scope, code): a unit's trend is one index range scan.
            models.UniqueConstraint(fields=["scope", "code", "day"], name="one_headcount_snapshot"),
        ]
        # "Every unit of a scope on day D": the query behind each dashboard table.
        indexes = [models.Index(fields=["scope", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.scope}:{self.code} = {self.headcount}"


class WorkSnapshot(models.Model):
    """Work done on one day in one dataset project, by the annotators of one
    facility (``facility`` set) or in the whole project (``facility`` empty).

    The project row carries what cannot be summed from facility rows: the
    median lead time over all of the project's annotations, and the results
    decided that day with their mean agreement (a result belongs to an item,
    not to a facility)."""

    day = models.DateField(_("day"))
    project = models.ForeignKey(
        "projects.DatasetProject", verbose_name=_("project"), on_delete=models.CASCADE, related_name="+"
    )
    facility = models.ForeignKey(
        "programme.Facility",
        verbose_name=_("facility"),
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        blank=True,
    )
    annotations = models.PositiveIntegerField(_("items annotated"), default=0)
    annotators = models.PositiveIntegerField(_("annotators at work"), default=0)
    lead_time_median_s = models.FloatField(_("median lead time (s)"), null=True, blank=True)
    gold_checked = models.PositiveIntegerField(_("gold answers checked"), default=0)
    gold_correct = models.PositiveIntegerField(_("gold answers correct"), default=0)
    results = models.PositiveIntegerField(_("results decided"), default=0)
    agreement_mean = models.FloatField(_("mean agreement"), null=True, blank=True)
    taken_at = models.DateTimeField(_("taken at"), auto_now=True)

    class Meta:
        verbose_name = _("work snapshot")
        verbose_name_plural = _("work snapshots")
        constraints = [
            # Two partial constraints: a NULL facility (the project's total) would
            # otherwise never count as a duplicate (NULLs are distinct in UNIQUE).
            models.UniqueConstraint(
                fields=["day", "project", "facility"],
                condition=Q(facility__isnull=False),
                name="one_work_snapshot_per_facility",
            ),
            models.UniqueConstraint(
                fields=["day", "project"],
                condition=Q(facility__isnull=True),
                name="one_work_snapshot_per_project",
            ),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.day} project {self.project_id} facility {self.facility_id or '*'}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_checked if self.gold_checked else None
