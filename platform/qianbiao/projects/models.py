"""Dataset projects, the items a client imports, and who is assigned to label them.

The database is the source of truth for all work: every invariant that a retried
or duplicated Celery task could break is a constraint here, not a check in Python.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from qianbiao.programme.models import Grade
from qianbiao.workforce.models import LanguageProficiency, SkillProficiency, TaskType

MAX_OVERLAP = 10


class Domain(models.TextChoices):
    AUTONOMOUS_DRIVING = "autonomous_driving", _("Autonomous driving")
    MEDICAL = "medical", _("Medical")
    LEGAL = "legal", _("Legal")
    MINORITY_LANGUAGE = "minority_language", _("Minority languages")
    CULTURAL_HERITAGE = "cultural_heritage", _("Intangible cultural heritage")
    TOURISM = "tourism", _("Tourism")
    AGRICULTURE = "agriculture", _("Agriculture")
    OTHER = "other", _("Other")


class ProjectStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", pgettext_lazy("project status", "Active")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")


class DatasetProject(models.Model):
    client = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("client enterprise"),
        on_delete=models.PROTECT,
        related_name="dataset_projects",
    )
    name = models.CharField(_("name"), max_length=200)
    domain = models.CharField(_("domain"), max_length=32, choices=Domain.choices)
    task_type = models.CharField(_("task type"), max_length=32, choices=TaskType.choices)
    label_config = models.TextField(_("Label Studio label config"))
    overlap = models.PositiveSmallIntegerField(
        _("overlap"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERLAP)],
        help_text=_("Distinct annotators per item."),
    )
    gold_ratio = models.DecimalField(
        _("gold ratio"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("0.5"))],
        help_text=_("Share of each annotator's work that is gold (known-answer) items."),
    )
    agreement_threshold = models.DecimalField(
        _("agreement threshold"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.7"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    min_grade = models.CharField(
        _("minimum facility grade"), max_length=2, choices=Grade.choices, default=Grade.L3
    )
    min_skill_proficiency = models.PositiveSmallIntegerField(
        _("minimum skill proficiency"),
        choices=SkillProficiency.choices,
        default=SkillProficiency.BASIC,
        help_text=_("In the project's task type."),
    )
    required_language = models.ForeignKey(
        "workforce.Language",
        verbose_name=_("required language"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    min_language_proficiency = models.PositiveSmallIntegerField(
        _("minimum language proficiency"),
        choices=LanguageProficiency.choices,
        default=LanguageProficiency.WORKING,
    )
    daily_quota = models.PositiveIntegerField(
        _("daily quota per annotator"), default=500, validators=[MinValueValidator(1)]
    )
    open_cap = models.PositiveIntegerField(
        _("open-work cap per annotator"),
        default=100,
        validators=[MinValueValidator(1)],
        help_text=_("Most unfinished assignments an annotator may hold in this project."),
    )
    assignment_ttl_hours = models.PositiveIntegerField(
        _("assignment lifetime (hours)"), default=24, validators=[MinValueValidator(1)]
    )
    priority = models.SmallIntegerField(_("priority"), default=0, help_text=_("Higher goes first."))
    status = models.CharField(
        _("status"), max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    deadline = models.DateField(_("deadline"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset project")
        verbose_name_plural = _("dataset projects")
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=MAX_OVERLAP), name="project_overlap_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ItemState(models.TextChoices):
    PENDING = "pending", pgettext_lazy("item state", "Pending")
    ASSIGNED = "assigned", _("Assigned")
    ANNOTATED = "annotated", _("Annotated")
    ACCEPTED = "accepted", _("Accepted")
    REVIEW = "review", _("In review")


class Item(models.Model):
    """One thing to label, as the client imported it."""

    project = models.ForeignKey(
        DatasetProject, verbose_name=_("project"), on_delete=models.CASCADE, related_name="items"
    )
    external_id = models.CharField(_("external id"), max_length=200)
    data = models.JSONField(_("data"))
    is_gold = models.BooleanField(_("gold item"), default=False)
    gold_answer = models.JSONField(_("gold answer"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=ItemState.choices, default=ItemState.PENDING)
    # Quality control raises this when annotators disagree: the item then needs
    # overlap + extra_slots annotators, and the distributor fills the new slots.
    # db_default too: the bulk import inserts items with raw SQL.
    extra_slots = models.PositiveSmallIntegerField(_("extra annotators"), default=0, db_default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_external_id_unique"),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_answer__isnull=False), name="gold_item_has_answer"
            ),
            models.CheckConstraint(condition=Q(extra_slots__lt=MAX_OVERLAP), name="item_extra_slots_range"),
        ]
        indexes = [models.Index(fields=["project", "state"])]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.external_id}"


class AssignmentState(models.TextChoices):
    OPEN = "open", _("Open")
    SUBMITTED = "submitted", _("Submitted")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


LIVE_ASSIGNMENT_STATES = (AssignmentState.OPEN, AssignmentState.SUBMITTED)


class DistributionRun(models.Model):
    """One pass of the distributor over a project: the context every assignment
    it made can be explained from."""

    project = models.ForeignKey(DatasetProject, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(auto_now_add=True)
    eligible_annotators = models.PositiveIntegerField(default=0)
    assignments_created = models.PositiveIntegerField(default=0)
    rule = models.CharField(max_length=200, blank=True)
    # Set when the pass ends; empty if its worker died mid-way (the sweep re-runs it).
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("distribution run")
        verbose_name_plural = _("distribution runs")

    def __str__(self) -> str:
        return f"run {self.pk} of project {self.project_id}"


class Assignment(models.Model):
    """An item given to one annotator.

    ``slot`` numbers the live assignments of an ordinary item 0..overlap-1: with
    (item, slot) unique among live rows, a retried or duplicated distribution can
    never put more than ``overlap`` annotators on an item, and with (item,
    annotator) unique it can never give an item twice to one person. Gold
    assignments have no slot: a gold item is shown to as many annotators as need it.
    """

    # No single-column indexes on these three: the composite indexes below lead
    # with them and serve the same lookups, and at millions of rows a day each
    # redundant index is paid on every insert.
    project = models.ForeignKey(
        DatasetProject, verbose_name=_("project"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    item = models.ForeignKey(
        Item, verbose_name=_("item"), on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    annotator = models.ForeignKey(
        "workforce.Annotator",
        verbose_name=_("annotator"),
        on_delete=models.PROTECT,
        related_name="assignments",
        db_index=False,
    )
    slot = models.PositiveSmallIntegerField(_("slot"), null=True, blank=True)
    is_gold = models.BooleanField(_("gold"), default=False)
    state = models.CharField(
        _("state"), max_length=16, choices=AssignmentState.choices, default=AssignmentState.OPEN
    )
    run = models.ForeignKey(
        DistributionRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    load_at_decision = models.PositiveIntegerField(_("annotator's open work when chosen"), default=0)
    assigned_at = models.DateTimeField(_("assigned at"))
    expires_at = models.DateTimeField(_("expires at"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    # An assignment moves once, from open to submitted, expired or revoked: with
    # assigned_at and submitted_at these two fields are its whole state history,
    # which "why did annotator X get item Y" needs to be answerable later.
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=200, blank=True, db_default="")
    ls_task_id = models.BigIntegerField(_("Label Studio task id"), null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item_annotator"),
            models.UniqueConstraint(
                fields=["item", "slot"],
                condition=Q(state__in=["open", "submitted"], slot__isnull=False),
                name="one_live_assignment_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(slot__isnull=True, is_gold=True)
                | Q(slot__isnull=False, is_gold=False, slot__lt=MAX_OVERLAP),
                name="slot_iff_ordinary_item",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "state"]),
            models.Index(fields=["project", "state"]),
            models.Index(fields=["state", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} → {self.annotator_id} ({self.state})"


class AnnotatorStanding(models.Model):
    """An annotator's standing in one project: quality so far and whether quality
    control has paused them there. Absent means a newcomer in good standing."""

    project = models.ForeignKey(DatasetProject, on_delete=models.CASCADE, related_name="standings")
    annotator = models.ForeignKey("workforce.Annotator", on_delete=models.CASCADE, related_name="standings")
    quality_score = models.DecimalField(
        _("quality score"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    paused = models.BooleanField(_("paused for quality"), default=False)
    paused_reason = models.CharField(_("reason for pause"), max_length=300, blank=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)

    class Meta:
        verbose_name = _("annotator standing")
        verbose_name_plural = _("annotator standings")
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="one_standing_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}"
