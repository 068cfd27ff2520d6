from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from qianbiao.core.validators import normalize_credit_code, validate_credit_code


class EnterpriseRole(models.TextChoices):
    CLIENT = "client", _("Client (brings dataset projects)")
    OPERATOR = "operator", _("Operator (runs facilities, employs annotators)")
    BOTH = "both", _("Client and operator")


class Enterprise(models.Model):
    """A data enterprise (数商): a client that brings dataset projects, an
    operator that runs facilities and employs annotators, or both."""

    name = models.CharField(_("name"), max_length=200)
    credit_code = models.CharField(
        _("unified social credit code"),
        max_length=18,
        unique=True,
        validators=[validate_credit_code],
        help_text=_("18 characters, GB 32100-2015, with its check character."),
    )
    role = models.CharField(_("role"), max_length=16, choices=EnterpriseRole.choices)
    home_city = models.CharField(_("home city"), max_length=64, blank=True)
    is_sample = models.BooleanField(
        _("sample data"),
        default=False,
        help_text=_("Seeded for demonstration: the credit code has a valid format but is not real."),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("data enterprise")
        verbose_name_plural = _("data enterprises")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.credit_code = normalize_credit_code(self.credit_code)

    @property
    def is_client(self) -> bool:
        return self.role in (EnterpriseRole.CLIENT, EnterpriseRole.BOTH)

    @property
    def is_operator(self) -> bool:
        return self.role in (EnterpriseRole.OPERATOR, EnterpriseRole.BOTH)
