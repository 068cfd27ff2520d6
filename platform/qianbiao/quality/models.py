"""What quality control decides: the accepted label of each item."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ResultMethod(models.TextChoices):
    SINGLE = "single", _("Single annotation")
    MAJORITY_VOTE = "majority_vote", _("Majority vote")
    DAWID_SKENE = "dawid_skene", _("Dawid-Skene")
    ONE_COIN_DS = "one_coin_dawid_skene", _("One-coin Dawid-Skene")
    GLAD = "glad", _("GLAD")
    MACE = "mace", _("MACE")
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
    agreement = models.FloatField(_("agreement"), null=True, blank=True)
    annotations_used = models.PositiveSmallIntegerField(_("annotations used"), default=0)
    decided_at = models.DateTimeField(_("decided at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        indexes = [models.Index(fields=["project", "updated_at", "id"])]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.method}"
