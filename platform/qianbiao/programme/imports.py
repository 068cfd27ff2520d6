"""Import of annotation facilities from CSV or Excel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from qianbiao.core.tabular import SheetBooleanField, SheetRow, TabularImporter, UniqueKey, one_of
from qianbiao.core.validators import normalize_credit_code, validate_credit_code
from qianbiao.enterprises.models import Enterprise

from .models import Facility, Grade, Park, Region


class FacilityRowForm(forms.ModelForm):
    """One facility row. The model's own ``clean()`` runs, so a grade the
    facility does not meet by its GradeRubric is refused on ``grade``."""

    region_code = forms.CharField(label=_("prefecture code"), max_length=6, required=False)
    park_code = forms.CharField(label=_("park code"), max_length=32, required=False)
    operator_credit_code = forms.CharField(label=_("operator credit code"), max_length=32, required=False)
    physical_security = SheetBooleanField(label=_("physical security"))
    network_isolated = SheetBooleanField(label=_("network isolation"))

    # Model errors on relations belong to the columns that name them.
    column_of = {"region": "region_code", "park": "park_code", "operator": "operator_credit_code"}

    class Meta:
        model = Facility
        fields = (
            "code",
            "name",
            "grade",
            "seats",
            "physical_security",
            "network_isolated",
            "security_certification",
        )

    def __init__(
        self,
        *args: Any,
        regions: dict[str, Region],
        parks: dict[str, Park],
        operators: dict[str, Enterprise],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.regions, self.parks, self.operators = regions, parks, operators

    def clean_region_code(self) -> Region | None:
        code = self.cleaned_data["region_code"]
        if not code:
            return None
        if code not in self.regions:
            raise ValidationError(_("No prefecture has this code."), code="unknown")
        return self.regions[code]

    def clean_park_code(self) -> Park | None:
        code = self.cleaned_data["park_code"]
        if not code:
            return None
        if code not in self.parks:
            raise ValidationError(_("No park has this code."), code="unknown")
        return self.parks[code]

    def clean_operator_credit_code(self) -> Enterprise | None:
        code = normalize_credit_code(self.cleaned_data["operator_credit_code"])
        if not code:
            return None
        validate_credit_code(code)
        operator = self.operators.get(code)
        if operator is None:
            raise ValidationError(_("No data enterprise has this credit code."), code="unknown")
        if not operator.is_operator:
            raise ValidationError(
                _("%(name)s is registered as a client only, not as an operator."),
                code="not_operator",
                params={"name": operator.name},
            )
        return operator

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        region, park = cleaned.get("region_code"), cleaned.get("park_code")
        if region is None and park is not None and "region_code" not in self.errors:
            region = park.region
        if region is None and "region_code" not in self.errors and "park_code" not in self.errors:
            self.add_error("region_code", _("Give the prefecture code, or a park code to take it from."))
        # Set before the model's clean() runs in _post_clean.
        self.instance.region = region
        self.instance.park = park
        self.instance.operator = cleaned.get("operator_credit_code")
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            errors = ValidationError(
                {self.column_of.get(name, name): messages for name, messages in errors.error_dict.items()}
            )
        super()._update_errors(errors)

    def validate_unique(self) -> None:
        # The importer checks uniqueness for the whole file in one query.
        pass


class FacilityImporter(TabularImporter):
    name = "facilities"
    model = Facility
    columns = (
        "code",
        "name",
        "region_code",
        "park_code",
        "operator_credit_code",
        "grade",
        "seats",
        "physical_security",
        "network_isolated",
        "security_certification",
    )
    required_columns = ("code", "name", "grade", "seats")
    unique_keys = (UniqueKey(column="code", cleaned_key="code", model_field="code"),)
    column_help = {
        "code": _("Letters, digits, hyphens and underscores."),
        "region_code": _("Six-digit prefecture code; may be left empty when park_code is given."),
        "grade": one_of(Grade.values),
        "physical_security": _("yes or no (1 or 0)"),
        "network_isolated": _("yes or no (1 or 0)"),
    }

    def prepare(self, rows: Sequence[SheetRow]) -> None:
        self.regions = {region.code: region for region in Region.objects.all()}
        self.parks = {park.code: park for park in Park.objects.all()}
        codes = {normalize_credit_code(row.values.get("operator_credit_code", "")) for row in rows}
        self.operators = {
            enterprise.credit_code: enterprise
            for enterprise in Enterprise.objects.filter(credit_code__in=codes - {""})
        }

    def form(self, data: dict[str, str]) -> FacilityRowForm:
        return FacilityRowForm(data=data, regions=self.regions, parks=self.parks, operators=self.operators)

    def record(self, form: forms.BaseForm) -> Facility:
        assert isinstance(form, FacilityRowForm)
        return form.instance

    def create(self, records: list[Any]) -> int:
        return len(Facility.objects.bulk_create(records, batch_size=1000))
