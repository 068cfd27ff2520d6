"""Validators for Chinese identifiers, backed by python-stdnum's check-digit code."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_credit_code(value: str) -> str:
    return uscc.compact(value or "")


def validate_credit_code(value: str) -> None:
    try:
        uscc.validate(value)
    except stdnum_errors.InvalidChecksum as exc:
        raise ValidationError(
            _("Unified social credit code %(value)s has a wrong check character."),
            code="checksum",
            params={"value": value},
        ) from exc
    except stdnum_errors.ValidationError as exc:
        raise ValidationError(
            _("%(value)s is not a valid 18-character unified social credit code."),
            code="invalid",
            params={"value": value},
        ) from exc


def normalize_id_card(value: str) -> str:
    # People type ID numbers in groups ("520102 19900101 1234"): drop all whitespace.
    return ric.compact(re.sub(r"\s+", "", value or ""))


def validate_id_card(value: str) -> None:
    try:
        ric.validate(value)
    except stdnum_errors.InvalidChecksum as exc:
        raise ValidationError(_("Resident ID-card number has a wrong check digit."), code="checksum") from exc
    except stdnum_errors.ValidationError as exc:
        # Never echo the value: it is personal data and error messages get logged.
        raise ValidationError(_("Not a valid 18-digit resident ID-card number."), code="invalid") from exc


def normalize_phone(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value or "")
    return digits[3:] if digits.startswith("+86") else digits


def validate_mobile_phone(value: str) -> None:
    if not MOBILE_RE.match(value or ""):
        raise ValidationError(_("Not a valid mainland mobile number (11 digits)."), code="invalid")
