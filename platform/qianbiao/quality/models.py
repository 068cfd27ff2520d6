"""What quality control decides and what it knows.

Result: the accepted label of each item. QualityPolicy: a project's quality
settings and its current consensus method. AnnotatorQuality: what gold, consensus
and review say about an annotator in a project. GoldJudgement: each answer on a
gold item, marked. EntryExam: a newcomer's exam outcome. Review: an item quality
control could not settle, and a reviewer's decision on it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from qianbiao.projects.models import MAX_OVERLAP


class ResultMethod(models.TextChoices):
    SINGLE = "single", _("Single annotation")
    MAJORITY_VOTE = "majority_vote", _("Majority vote")
    DAWID_SKENE = "dawid_skene", _("Dawid-Skene")
    ONE_COIN_DS = "one_coin_dawid_skene", _("One-coin Dawid-Skene")
    GLAD = "glad", _("GLAD")
    MACE = "mace", _("MACE")
    WAWA = "wawa", _("Wawa (agreement-weighted vote)")
    ZERO_BASED_SKILL = "zero_based_skill", _("Zero-based skill")
    IOU_MATCH = "iou_match", _("Overlap (IoU) matching")
    TEXT_DISTANCE = "text_distance", _("Text distance")
    REVIEW = "review", _("Review")
    GOLD = "gold", _("Gold answer")


class Result(models.Model):
    """The accepted label for one item; ``updated_at`` drives incremental export."""

    item = models.OneToOneField("projects.Item", on_delete=models.CASCADE, related_name="result")
    project = models.ForeignKey("projects.DatasetProject", on_delete=models.CASCADE, related_name="results")
    label = models.JSONField(_("accepted label"))
    method = models.CharField(_("method"), max_length=32, choices=ResultMethod.choices)
    agreement = models.FloatField(
        _("agreement"),
        null=True,
        blank=True,
        help_text=_(
            "Share of annotators who gave the accepted label (classification), their mean IoU with it "
            "(boxes, polygons, spans) or 1 − their mean edit distance to it (transcription)."
        ),
    )
    confidence = models.FloatField(
        _("method confidence"),
        null=True,
        blank=True,
        help_text=_("The consensus method's own probability for the accepted label."),
    )
    # db_default: results are also written by raw SQL (bulk paths, tests of the export).
    rejected = models.BooleanField(
        _("rejected in review"),
        default=False,
        db_default=False,
        help_text=_("A reviewer found the item cannot be labelled."),
    )
    annotations_used = models.PositiveSmallIntegerField(_("annotations used"), default=0)
    decided_at = models.DateTimeField(_("decided at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        indexes = [models.Index(fields=["project", "updated_at", "id"])]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.method}"


CLASSIFICATION_METHOD_CHOICES = [
    (m.value, m.label)
    for m in (
        ResultMethod.MAJORITY_VOTE,
        ResultMethod.WAWA,
        ResultMethod.ONE_COIN_DS,
        ResultMethod.DAWID_SKENE,
        ResultMethod.ZERO_BASED_SKILL,
        ResultMethod.GLAD,
        ResultMethod.MACE,
    )
]


def _fraction(default: str, verbose: str, help_text: str = "") -> models.DecimalField:
    return models.DecimalField(
        verbose,
        max_digits=4,
        decimal_places=3,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=help_text,
    )


class QualityPolicy(models.Model):
    """A project's quality settings, and the consensus method gold has chosen.

    The agreement an item needs is the project's own ``agreement_threshold``."""

    project = models.OneToOneField(
        "projects.DatasetProject",
        verbose_name=_("project"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="quality_policy",
    )
    max_overlap = models.PositiveSmallIntegerField(
        _("most annotators per item"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERLAP)],
        help_text=_("Low agreement adds annotators up to this many; then the item goes to review."),
    )
    extra_per_round = models.PositiveSmallIntegerField(
        _("annotators added per round"), default=2, validators=[MinValueValidator(1)]
    )
    accuracy_threshold = _fraction(
        "0.7",
        _("gold accuracy threshold"),
        _("An annotator whose gold accuracy is confidently below this is paused in the project."),
    )
    min_gold_to_pause = models.PositiveSmallIntegerField(
        _("gold answers before pausing"),
        default=10,
        validators=[MinValueValidator(1)],
        help_text=_("Nobody is paused on fewer gold answers than this, however they went."),
    )
    entry_exam_items = models.PositiveSmallIntegerField(
        _("entry exam items"),
        default=0,
        help_text=_("Gold items a newcomer answers before any ordinary item; 0 for no exam."),
    )
    exam_pass_accuracy = _fraction("0.8", _("entry exam pass mark"))
    iou_threshold = _fraction(
        "0.5", _("IoU threshold"), _("Boxes, polygons and spans overlapping at least this much match.")
    )
    text_tolerance = _fraction(
        "0.1",
        _("transcription tolerance"),
        _("A transcription within this normalised edit distance of the gold answer is correct."),
    )
    pinned_method = models.CharField(
        _("pinned consensus method"),
        max_length=32,
        choices=CLASSIFICATION_METHOD_CHOICES,
        blank=True,
        help_text=_("Set to override the method chosen from gold (classification projects)."),
    )
    chosen_method = models.CharField(
        _("method chosen from gold"), max_length=32, choices=CLASSIFICATION_METHOD_CHOICES, blank=True
    )
    method_checked_at = models.DateTimeField(_("method last checked"), null=True, blank=True)
    method_checked_gold = models.PositiveIntegerField(
        _("gold answers at the last check"), default=0, editable=False
    )
    method_scores = models.JSONField(_("accuracy of each method on gold"), default=list, blank=True)
    # When a re-check was last enqueued or started, successful or not (log-only
    # bookkeeping, so not translated): the sweep waits RECHECK_RETRY_AFTER after it,
    # so a re-check that keeps failing or timing out is not re-run every minute.
    method_recheck_attempted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("quality policy")
        verbose_name_plural = _("quality policies")

    def __str__(self) -> str:
        return f"quality policy of {self.project_id}"

    @property
    def method(self) -> str:
        """The method consensus uses now: pinned, else chosen from gold, else majority vote."""
        return self.pinned_method or self.chosen_method or ResultMethod.MAJORITY_VOTE


class AnnotatorQuality(models.Model):
    """What quality control knows of one annotator in one project.

    Gold: answers on gold items and how many were right, with a 95% Wilson
    interval. Consensus: how closely their answers matched accepted results.
    Review: how closely they matched what reviewers decided. ``score`` combines
    the three and is copied to the project's AnnotatorStanding for the distributor.
    """

    project = models.ForeignKey(
        "projects.DatasetProject", on_delete=models.CASCADE, related_name="annotator_quality"
    )
    annotator = models.ForeignKey("workforce.Annotator", on_delete=models.CASCADE, related_name="quality")
    task_type = models.CharField(_("task type"), max_length=32)
    gold_answered = models.PositiveIntegerField(_("gold answered"), default=0)
    gold_correct = models.PositiveIntegerField(_("gold correct"), default=0)
    gold_score_sum = models.FloatField(_("sum of gold scores"), default=0)
    # xgettext:no-python-format
    gold_low = models.FloatField(_("gold accuracy, 95% low"), null=True, blank=True)
    # xgettext:no-python-format
    gold_high = models.FloatField(_("gold accuracy, 95% high"), null=True, blank=True)
    consensus_answered = models.PositiveIntegerField(_("answers on accepted items"), default=0)
    consensus_agreement_sum = models.FloatField(_("sum of agreement with results"), default=0)
    reviewed = models.PositiveIntegerField(_("answers on reviewed items"), default=0)
    review_agreement_sum = models.FloatField(_("sum of agreement with reviews"), default=0)
    score = models.FloatField(_("quality score"), null=True, blank=True)
    gold_grace_until = models.PositiveIntegerField(
        _("no accuracy pause before this many gold answers"),
        default=0,
        help_text=_("Set when a manager un-pauses: a fresh chance before the accuracy check looks again."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("annotator quality")
        verbose_name_plural = _("annotator quality")
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="one_quality_row_per_project"),
        ]
        indexes = [models.Index(fields=["annotator", "task_type"])]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


class GoldJudgement(models.Model):
    """One counted answer on a gold item, marked against the gold answer."""

    annotation = models.OneToOneField(
        "labelling.Annotation", on_delete=models.CASCADE, related_name="gold_judgement"
    )
    project = models.ForeignKey("projects.DatasetProject", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey("workforce.Annotator", on_delete=models.CASCADE, related_name="+")
    correct = models.BooleanField(_("correct"))
    score = models.FloatField(_("score"), help_text=_("1 is the gold answer exactly; 0 nothing like it."))
    judged_at = models.DateTimeField(_("judged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("gold judgement")
        verbose_name_plural = _("gold judgements")
        indexes = [models.Index(fields=["project", "annotator"])]

    def __str__(self) -> str:
        return f"{self.annotation_id}: {'right' if self.correct else 'wrong'}"


class ExamStatus(models.TextChoices):
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")
    WAIVED = "waived", _("Waived")


class EntryExam(models.Model):
    """A newcomer's entry exam in a project. No row: not yet decided (or no exam)."""

    project = models.ForeignKey("projects.DatasetProject", on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey("workforce.Annotator", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=8, choices=ExamStatus.choices)
    answered = models.PositiveSmallIntegerField(_("answered"), default=0)
    correct = models.PositiveSmallIntegerField(pgettext_lazy("count", "correct"), default=0)
    decided_at = models.DateTimeField(_("decided at"), auto_now=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("entry exam")
        verbose_name_plural = _("entry exams")
        constraints = [models.UniqueConstraint(fields=["project", "annotator"], name="one_exam_per_project")]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}: {self.status}"


class ReviewOutcome(models.TextChoices):
    ACCEPT = "accept", _("Accept the proposed label")
    CORRECT = "correct", _("Correct it")
    REJECT = "reject", _("Reject the item")


class Review(models.Model):
    """An item quality control could not settle: opened with the best consensus
    as the proposal, closed by a reviewer's decision, which becomes the result."""

    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="reviews")
    project = models.ForeignKey("projects.DatasetProject", on_delete=models.CASCADE, related_name="reviews")
    reason = models.CharField(_("why reviewed"), max_length=300)
    proposed_label = models.JSONField(_("proposed label"), default=list, blank=True)
    proposed_method = models.CharField(_("proposed by"), max_length=32, choices=ResultMethod.choices)
    proposed_agreement = models.FloatField(_("agreement of the proposal"), null=True, blank=True)
    annotations_used = models.PositiveSmallIntegerField(_("annotations"), default=0)
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    reviewer = models.ForeignKey(
        "workforce.Annotator",
        verbose_name=_("reviewer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviews_done",
    )
    outcome = models.CharField(_("outcome"), max_length=8, choices=ReviewOutcome.choices, blank=True)
    label = models.JSONField(_("decided label"), null=True, blank=True)
    note = models.TextField(_("reviewer's note"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(decided_at__isnull=True), name="one_open_review_per_item"
            ),
            models.CheckConstraint(
                condition=Q(decided_at__isnull=True, outcome="", reviewer__isnull=True)
                | Q(decided_at__isnull=False, reviewer__isnull=False) & ~Q(outcome=""),
                name="review_decided_iff_outcome",
            ),
        ]
        indexes = [models.Index(fields=["project", "decided_at"])]

    def __str__(self) -> str:
        return f"review of {self.item_id}: {self.outcome or 'open'}"

    def clean(self) -> None:
        if self.reviewer_id and not self.reviewer.is_reviewer:
            raise ValidationError({"reviewer": _("Only annotators with the reviewer role review.")})
