"""An annotator's own login to Qianbiao.

A model of its own rather than a field on ``Annotator``: the workforce app knows
nothing of sign-in (as it knows nothing of projects), the activation code's state
(hash, expiry, who issued it) has to live somewhere, and annotators never get a
login until a PM activates them, so most of 20,000 rows would be empty columns.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AnnotatorLogin(models.Model):
    """The Django user an annotator signs in as, and their one-time activation code.

    The code is stored only as a keyed hash; it is cleared when used. ``activated_at``
    is set when the annotator chose a password with it (and cleared by a reset)."""

    annotator = models.OneToOneField(
        "workforce.Annotator", verbose_name=_("annotator"), on_delete=models.CASCADE, related_name="login"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="annotator_login",
    )
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_expires_at = models.DateTimeField(_("activation code expires at"), null=True, blank=True)
    code_issued_at = models.DateTimeField(_("activation code issued at"), null=True, blank=True)
    code_issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("activation code issued by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("annotator login")
        verbose_name_plural = _("annotator logins")
        permissions = [("issue_activation_code", _("Can activate annotators and reset their logins"))]

    def __str__(self) -> str:
        return f"login of {self.annotator_id}"
