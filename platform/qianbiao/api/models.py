"""What the REST API keeps: enterprises' API keys, idempotency records of item
imports, and callback endpoints with every delivery made to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qianbiao.core.crypto import EncryptedTextField


class ApiKey(models.Model):
    """A key an enterprise's systems send as ``Authorization: Token <key>``.

    Only a SHA-256 digest of the key is stored (the key has 256 bits of entropy,
    so a fast hash is enough); ``prefix`` is the key's public head, kept to find
    the row and to let people tell their keys apart. The key itself is shown once,
    when it is issued."""

    enterprise = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("data enterprise"),
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the key is for, e.g. “ETL server”."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key digest (SHA-256)"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["enterprise", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "name"],
                condition=Q(revoked_at__isnull=True),
                name="api_key_name_unique_among_live",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The response to a successful request sent with an ``Idempotency-Key``.

    Written in the same transaction as the work it records, so a request either
    did its work and left this record, or did nothing and left nothing."""

    enterprise = models.ForeignKey(
        "enterprises.Enterprise", on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    request_hash = models.CharField(_("request digest"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status code"))
    response_body = models.JSONField(_("response body"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "key"], name="idempotency_key_unique_per_enterprise"
            )
        ]

    def __str__(self) -> str:
        return self.key


class CallbackEvent(models.TextChoices):
    PROJECT_COMPLETED = "project.completed", _("Project completed")
    RESULTS_READY = "results.ready", _("A batch of results is ready")


class CallbackEndpoint(models.Model):
    """A URL an enterprise registered; Qianbiao POSTs signed events to it."""

    enterprise = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("data enterprise"),
        on_delete=models.CASCADE,
        related_name="callback_endpoints",
    )
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("events"), default=list)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Needed in clear to sign each delivery, so encrypted (not hashed) at rest.
    secret = EncryptedTextField(_("signing secret"), editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("callback endpoint")
        verbose_name_plural = _("callback endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class CallbackDelivery(models.Model):
    """One event for one endpoint, with its attempts so far. The row is the state
    of the work: a lost Celery message is found again by the periodic sweep."""

    endpoint = models.ForeignKey(CallbackEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=32, choices=CallbackEvent.choices)
    project = models.ForeignKey(
        "projects.DatasetProject", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # One delivery per endpoint and happening: a re-run of the scan adds nothing.
    dedupe_key = models.CharField(max_length=200)
    payload = models.JSONField(_("payload"))
    window_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("callback delivery")
        verbose_name_plural = _("callback deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "dedupe_key"], name="one_delivery_per_happening")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "event", "project"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
