"""Forms for annotators in the admin. Personal data never goes into a form's
initial values: the inputs start empty and the stored values show masked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from qianbiao.core.validators import normalize_phone, validate_mobile_phone
from qianbiao.enterprises.models import Enterprise

from .models import Annotator, AnnotatorStatus
from .services import annotator_prepare_personal_data

PERSONAL_FIELDS = ("id_card_number", "phone")


def personal_data_check(form: forms.BaseForm, *, id_card_number: str, phone: str) -> Annotator | None:
    """Validate through the hiring service's own check. Returns a scratch
    annotator holding the normalised values and the digest, or None after
    attaching the errors to the form's ``id_card_number`` / ``phone`` fields."""
    scratch = Annotator()
    try:
        annotator_prepare_personal_data(scratch, id_card_number=id_card_number, phone=phone)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            form.add_error(None, exc)
            return None
        form.add_error("id_card_number", exc)
        # The service stops at the first bad value; report the phone too.
        number = normalize_phone(phone)
        if number:
            try:
                validate_mobile_phone(number)
            except ValidationError as phone_exc:
                form.add_error("phone", phone_exc)
        return None
    return scratch


def employer_check(form: forms.BaseForm, field: str, employer: Enterprise | None) -> None:
    if employer is not None and not employer.is_operator:
        form.add_error(
            field,
            _("%(name)s is registered as a client only; annotators are employed by operators.")
            % {"name": employer.name},
        )


def id_card_in_use(digest: str, *, exclude_pk: int | None = None) -> bool:
    return Annotator.objects.filter(id_card_digest=digest).exclude(pk=exclude_pk).exists()


class AnnotatorAddForm(forms.ModelForm):
    """Hiring in the admin: the admin saves it through ``annotator_hire``."""

    id_card_number = forms.CharField(
        label=_("Resident ID-card number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    started_on = forms.DateField(
        label=_("Started on"), help_text=_("First day of employment; it opens the employment history.")
    )

    class Meta:
        model = Annotator
        fields = ("code", "name", "employer", "facility", "skill_level", "is_reviewer")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        employer_check(self, "employer", cleaned.get("employer"))
        if cleaned.get("id_card_number"):
            scratch = personal_data_check(
                self, id_card_number=cleaned["id_card_number"], phone=cleaned.get("phone", "")
            )
            if scratch is not None:
                if id_card_in_use(scratch.id_card_digest):
                    self.add_error("id_card_number", _("An annotator with this ID-card number exists."))
                else:
                    cleaned["id_card_number"] = scratch.id_card_number
                    cleaned["phone"] = scratch.phone
        return cleaned


class AnnotatorChangeForm(forms.ModelForm):
    """Editing an annotator. Employer and facility change only through a
    transfer (services), so that the employment history stays true."""

    id_card_number = forms.CharField(
        label=_("New resident ID-card number"),
        max_length=32,
        required=False,
        help_text=_("Leave empty to keep the current number."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("New mobile phone"),
        max_length=32,
        required=False,
        help_text=_("Leave empty to keep the current number."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Annotator
        fields = ("code", "name", "status", "skill_level", "is_reviewer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            # Leaving closes the employment spell: that is annotator_leave's job.
            self.fields["status"].choices = [
                (value, label)
                for value, label in self.fields["status"].choices
                if value != AnnotatorStatus.LEFT
            ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        new_id = cleaned.get("id_card_number") or ""
        new_phone = cleaned.get("phone") or ""
        if new_id or new_phone:
            scratch = personal_data_check(
                self,
                id_card_number=new_id or self.instance.id_card_number,
                phone=new_phone or self.instance.phone,
            )
            if scratch is not None:
                if new_id and id_card_in_use(scratch.id_card_digest, exclude_pk=self.instance.pk):
                    self.add_error("id_card_number", _("An annotator with this ID-card number exists."))
                cleaned["id_card_number"] = scratch.id_card_number if new_id else ""
                cleaned["phone"] = scratch.phone if new_phone else ""
        return cleaned
