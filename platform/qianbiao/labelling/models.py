"""What Qianbiao knows of Label Studio: where each project's tasks live, each
annotator's account and queues, and every annotation that came back."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class LabelStudioProject(models.Model):
    """One Label Studio project holding part of a dataset project's tasks: large
    projects are sharded so that no Label Studio project grows past ~100k tasks."""

    project = models.ForeignKey(
        "projects.DatasetProject", on_delete=models.CASCADE, related_name="ls_projects"
    )
    shard = models.PositiveSmallIntegerField(_("shard"))
    ls_project_id = models.BigIntegerField(_("Label Studio project id"), unique=True)
    task_count = models.PositiveIntegerField(_("tasks"), default=0)
    webhook_id = models.BigIntegerField(null=True, blank=True)
    # Every assignment id that may have been sent to this shard is <= this mark, which
    # is committed *before* each import: a push retried after a crash looks up (in
    # Label Studio) only assignments at or below it, and sends newer ones unchecked.
    pushed_through_assignment_id = models.BigIntegerField(default=0)
    # When the mark was last raised, and when a push last ended with every import it sent
    # answered. A push that died after raising the mark may have left an import that Label
    # Studio is still working on: until that has settled, a lookup could miss its tasks.
    pushed_through_at = models.DateTimeField(null=True, blank=True)
    push_settled_at = models.DateTimeField(null=True, blank=True)
    # Label Studio task ids grow across the server, and a shard takes tasks only while
    # it is the newest: these bounds say which shard a task lives in.
    min_ls_task_id = models.BigIntegerField(null=True, blank=True)
    max_ls_task_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Label Studio project")
        verbose_name_plural = _("Label Studio projects")
        constraints = [models.UniqueConstraint(fields=["project", "shard"], name="one_ls_project_per_shard")]

    def __str__(self) -> str:
        return f"LS#{self.ls_project_id} ({self.project_id}/{self.shard})"


class LabelStudioAccount(models.Model):
    """An annotator's Label Studio user. ``routing_key`` is what task data carries
    so that the annotator's saved view shows only the tasks routed to them."""

    annotator = models.OneToOneField(
        "workforce.Annotator", on_delete=models.CASCADE, related_name="ls_account"
    )
    ls_user_id = models.BigIntegerField(_("Label Studio user id"), unique=True)
    email = models.CharField(_("login"), max_length=254, unique=True)
    routing_key = models.CharField(_("routing key"), max_length=64, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Label Studio account")
        verbose_name_plural = _("Label Studio accounts")

    def __str__(self) -> str:
        return self.email


class LabelStudioQueue(models.Model):
    """The saved Data Manager view that is an annotator's queue in one LS project."""

    account = models.ForeignKey(LabelStudioAccount, on_delete=models.CASCADE, related_name="queues")
    ls_project = models.ForeignKey(LabelStudioProject, on_delete=models.CASCADE, related_name="queues")
    ls_view_id = models.BigIntegerField(_("Label Studio view id"))

    class Meta:
        verbose_name = _("annotator queue")
        verbose_name_plural = _("annotator queues")
        constraints = [
            models.UniqueConstraint(fields=["account", "ls_project"], name="one_queue_per_account_project")
        ]

    def __str__(self) -> str:
        return f"view {self.ls_view_id}"


class Annotation(models.Model):
    """An annotation as it came back from Label Studio (webhook or reconciliation).

    Only an annotation by the assignee counts; anyone else's is kept, flagged."""

    ls_annotation_id = models.BigIntegerField(_("Label Studio annotation id"), unique=True)
    ls_task_id = models.BigIntegerField(_("Label Studio task id"), db_index=True)
    assignment = models.ForeignKey(
        "projects.Assignment",
        on_delete=models.PROTECT,
        related_name="annotations",
        null=True,
        blank=True,
    )
    project = models.ForeignKey(
        "projects.DatasetProject", on_delete=models.CASCADE, related_name="annotations"
    )
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        "workforce.Annotator",
        on_delete=models.PROTECT,
        related_name="annotations",
        null=True,
        blank=True,
        help_text=_("Who Label Studio says made it; empty if the LS user is unknown to us."),
    )
    ls_user_id = models.BigIntegerField(_("Label Studio user id"), null=True, blank=True)
    result = models.JSONField(_("result"), default=list)
    lead_time_s = models.FloatField(_("lead time (s)"), null=True, blank=True)
    was_cancelled = models.BooleanField(_("skipped"), default=False)
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.CharField(_("flag reason"), max_length=200, blank=True)
    ls_created_at = models.DateTimeField(null=True, blank=True)
    ls_updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted in Label Studio"), null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    received_via = models.CharField(max_length=16, default="webhook")

    class Meta:
        verbose_name = _("annotation")
        verbose_name_plural = _("annotations")
        constraints = [
            # One counted annotation per assignment; flagged ones do not count.
            models.UniqueConstraint(
                fields=["assignment"],
                condition=Q(flagged=False, deleted_at__isnull=True, assignment__isnull=False),
                name="one_counted_annotation_per_assignment",
            ),
        ]
        indexes = [models.Index(fields=["project", "received_at"]), models.Index(fields=["item"])]

    def __str__(self) -> str:
        return f"LS annotation {self.ls_annotation_id}"

    @property
    def counts(self) -> bool:
        return not self.flagged and self.deleted_at is None and not self.was_cancelled


class LabelStudioEvent(models.Model):
    """A webhook delivery as parsed (never the raw payload, which carries the
    project's token): recorded by the view, ingested by a worker. ``processed_at``
    empty means still to do; the sweep re-enqueues such rows if a message is lost."""

    action = models.CharField(max_length=40)
    ls_project_id = models.BigIntegerField(null=True, blank=True)
    annotations = models.JSONField(default=list)  # our parsed fields, see ingest.py
    deleted_annotation_ids = models.JSONField(default=list)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Label Studio event")
        verbose_name_plural = _("Label Studio events")
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(processed_at__isnull=True), name="ls_event_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk}"
