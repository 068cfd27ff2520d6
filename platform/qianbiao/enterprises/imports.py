"""Import of data enterprises from CSV or Excel."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qianbiao.core.tabular import TabularImporter, UniqueKey, one_of
from qianbiao.core.validators import normalize_credit_code

from .models import Enterprise, EnterpriseRole


class EnterpriseRowForm(forms.ModelForm):
    class Meta:
        model = Enterprise
        fields = ("name", "credit_code", "role", "home_city")

    def clean_credit_code(self) -> str:
        return normalize_credit_code(self.cleaned_data["credit_code"])

    def validate_unique(self) -> None:
        # The importer checks uniqueness for the whole file in one query.
        pass


class EnterpriseImporter(TabularImporter):
    name = "enterprises"
    model = Enterprise
    columns = ("name", "credit_code", "role", "home_city")
    required_columns = ("name", "credit_code", "role")
    unique_keys = (UniqueKey(column="credit_code", cleaned_key="credit_code", model_field="credit_code"),)
    column_help = {
        "credit_code": _("Unified social credit code: 18 characters with a valid check character."),
        "role": one_of(EnterpriseRole.values),
    }

    def form(self, data: dict[str, str]) -> EnterpriseRowForm:
        return EnterpriseRowForm(data=data)

    def record(self, form: forms.BaseForm) -> Enterprise:
        assert isinstance(form, EnterpriseRowForm)
        return form.instance

    def create(self, records: list[Any]) -> int:
        return len(Enterprise.objects.bulk_create(records, batch_size=1000))
